import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// No key climbs above the key that made it: a key manages only keys it could have created, a roll's
/// successor keeps the old key's state and outlives neither key, and restrictions are inherited like
/// permissions and expiry. Through the real application on both backends.
@Suite struct KeyAuthorityTests {
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    @Test(arguments: Backend.available)
    func aNarrowKeyCannotRollUpdateDisableOrRevokeAWiderKey(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (_, narrow) = try await client.createKey(ws.adminToken, #"{"name": "narrow", "permissions": ["calls.read"]}"#)
            let root = ws.adminKeyID
            let attempts: [(HTTPRequest.Method, String, String?)] = [
                (.post, "/v1/api-keys/\(root)/roll", #"{"grace_seconds": 0}"#),
                (.post, "/v1/api-keys/\(root)/roll", nil),
                (.patch, "/v1/api-keys/\(root)", #"{"name": "taken"}"#),
                (.patch, "/v1/api-keys/\(root)", #"{"enabled": false}"#),
                (.patch, "/v1/api-keys/\(root)", #"{"permissions": ["calls.read"]}"#),
                (.delete, "/v1/api-keys/\(root)", nil),
                (.delete, "/v1/api-keys/\(root)?force=true", nil),
            ]
            for (method, uri, body) in attempts {
                let (status, json, _) = try await client.call(method, uri, token: narrow, body: body)
                #expect(status == .forbidden, "\(method) \(uri)")
                expectErrorShape(json, status: .forbidden)
                #expect(json["message"].string?.contains("'*'") == true, "\(json["message"].string ?? "")")
            }
            // Nothing changed: the root key is as it was, works, and has no successor.
            let (_, shown, _) = try await client.call(.get, "/v1/api-keys/\(root)", token: ws.adminToken)
            #expect(shown["name"].string == "admin" && shown["enabled"].bool == true && shown["revoked_at"].isNull && shown["expires_at"].isNull)
            #expect(shown["permissions"].array.compactMap(\.string) == ["*"])
            let (_, list, _) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(list["meta"]["total"].int == 2)
            #expect(try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken).status == .ok)

            // Within its own authority the narrow key manages keys as before.
            let (child, _) = try await client.createKey(narrow, #"{"name": "child"}"#)
            let childID = try #require(child["id"].string)
            let (rolled, json, _) = try await client.call(.post, "/v1/api-keys/\(childID)/roll", token: narrow, body: #"{"grace_seconds": 0}"#)
            #expect(rolled == .created && json["permissions"].array.compactMap(\.string) == ["calls.read"])
        }
    }

    @Test(arguments: Backend.available)
    func aRollsSuccessorKeepsTheOldKeysStateAndOutlivesNeitherKey(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let tomorrow = Timestamp.now().adding(milliseconds: 86_400_000)
            // A disabled key that expires tomorrow, rolled by a key that never expires.
            let (disabled, _) = try await client.createKey(ws.adminToken, #"{"name": "paused", "expires_at": "\#(tomorrow)"}"#)
            let disabledID = try #require(disabled["id"].string)
            #expect(try await client.call(.patch, "/v1/api-keys/\(disabledID)", token: ws.adminToken, body: #"{"enabled": false}"#).status == .ok)
            let (status, successor, _) = try await client.call(.post, "/v1/api-keys/\(disabledID)/roll", token: ws.adminToken, body: #"{"grace_seconds": 0}"#)
            #expect(status == .created)
            #expect(successor["enabled"].bool == false)
            #expect(successor["expires_at"].string == disabled["expires_at"].string)
            #expect(try await client.call(.get, "/v1/auth/whoami", token: try #require(successor["secret"].string)).status == .unauthorized)

            // A key that never expires, rolled by a key that expires in two hours, gets the caller's expiry.
            let soon = Timestamp.now().adding(milliseconds: 7_200_000)
            let (_, expiring) = try await client.createKey(ws.adminToken, #"{"name": "temporary admin", "expires_at": "\#(soon)"}"#)
            let (lasting, _) = try await client.createKey(ws.adminToken, #"{"name": "lasting", "permissions": ["calls.read"]}"#)
            let (rolled, next, _) = try await client.call(.post, "/v1/api-keys/\(try #require(lasting["id"].string))/roll", token: expiring)
            #expect(rolled == .created)
            #expect(next["enabled"].bool == true)
            #expect(next["expires_at"].string.flatMap { Timestamp(iso8601: $0) } == Timestamp(iso8601: soon.description))
        }
    }

    /// The caller's own address comes from `X-Forwarded-For`: the test client is the trusted proxy.
    @Test(arguments: Backend.available)
    func restrictionsAreInheritedAndOnlyAWiderKeyLoosensThem(_ backend: Backend) async throws {
        let configure: (inout ServerOptions) -> Void = { $0.trustedProxies = TrustedProxies([IPRange("127.0.0.0/8")!]) }
        try await withApp(backend, framework: .live, configure: configure) { client, ws in
            let office: HTTPFields = [Self.forwardedFor: "10.1.2.3"]
            let (restricted, restrictedToken) = try await client.createKey(ws.adminToken, """
                {"name": "office admin", "allowed_ips": ["10.1.0.0/16"], "rate_limit": {"limit": 1000, "window_seconds": 60}}
                """)
            let restrictedID = try #require(restricted["id"].string)
            func create(_ body: String) async throws -> (HTTPResponse.Status, JSON) {
                let (status, json, _) = try await client.call(.post, "/v1/api-keys", token: restrictedToken, body: body, headers: office)
                return (status, json)
            }

            // By default a child gets its creator's restrictions.
            let (status, child) = try await create(#"{"name": "child"}"#)
            #expect(status == .created)
            #expect(child["allowed_ips"].array.compactMap(\.string) == ["10.1.0.0/16"])
            #expect(child["rate_limit"]["limit"].int == 1000 && child["rate_limit"]["window_seconds"].int == 60)
            // Narrower ones are fine.
            let (narrower, _) = try await create(#"{"name": "narrower", "allowed_ips": ["10.1.5.0/24"], "rate_limit": {"limit": 10, "window_seconds": 1}}"#)
            #expect(narrower == .created)
            // Wider ones are refused, and create nothing.
            let (_, before, _) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            for body in [#"{"name": "x", "allowed_ips": null}"#, #"{"name": "x", "allowed_ips": ["10.0.0.0/8"]}"#,
                         #"{"name": "x", "allowed_ips": ["10.1.0.0/16", "192.0.2.1"]}"#, #"{"name": "x", "rate_limit": null}"#,
                         #"{"name": "x", "rate_limit": {"limit": 1000, "window_seconds": 30}}"#,
                         #"{"name": "x", "rate_limit": {"limit": 17, "window_seconds": 1}}"#] {
                let (status, json) = try await create(body)
                #expect(status == .forbidden, "\(body)")
                expectErrorShape(json, status: .forbidden)
            }
            let (batch, batchJSON, _) = try await client.call(.post, "/v1/api-keys/batch", token: restrictedToken,
                                                              body: #"{"keys": [{"name": "a"}, {"name": "b", "allowed_ips": null}]}"#, headers: office)
            #expect(batch == .forbidden && batchJSON["message"].string?.hasPrefix("keys[1]") == true)
            let (_, after, _) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(after["meta"]["total"].int == before["meta"]["total"].int)

            // It cannot loosen itself; tightening is fine; a wider key loosens it.
            let (loosen, loosenJSON, _) = try await client.call(.patch, "/v1/api-keys/\(restrictedID)", token: restrictedToken,
                                                                body: #"{"allowed_ips": null, "rate_limit": null}"#, headers: office)
            #expect(loosen == .forbidden)
            expectErrorShape(loosenJSON, status: .forbidden)
            for body in [#"{"allowed_ips": ["10.0.0.0/8"]}"#, #"{"rate_limit": {"limit": 2000, "window_seconds": 60}}"#] {
                let (status, _, _) = try await client.call(.patch, "/v1/api-keys/\(restrictedID)", token: restrictedToken, body: body, headers: office)
                #expect(status == .forbidden, "\(body)")
            }
            let (_, unchanged, _) = try await client.call(.get, "/v1/api-keys/\(restrictedID)", token: ws.adminToken)
            #expect(unchanged["allowed_ips"].array.compactMap(\.string) == ["10.1.0.0/16"] && unchanged["rate_limit"]["limit"].int == 1000)
            let (tighten, tightened, _) = try await client.call(.patch, "/v1/api-keys/\(restrictedID)", token: restrictedToken,
                                                                body: #"{"allowed_ips": ["10.1.2.0/24"]}"#, headers: office)
            #expect(tighten == .ok && tightened["allowed_ips"].array.compactMap(\.string) == ["10.1.2.0/24"])
            let (widen, widened, _) = try await client.call(.patch, "/v1/api-keys/\(restrictedID)", token: ws.adminToken,
                                                            body: #"{"allowed_ips": null, "rate_limit": null}"#)
            #expect(widen == .ok && widened["allowed_ips"].isNull && widened["rate_limit"].isNull)

            // A restricted key manages no key less restricted than itself: here, its own creator.
            let (_, other) = try await client.createKey(ws.adminToken, #"{"name": "office only", "allowed_ips": ["10.1.0.0/16"]}"#)
            let (refused, _, _) = try await client.call(.delete, "/v1/api-keys/\(ws.adminKeyID)", token: other, headers: office)
            #expect(refused == .forbidden)
        }
    }

    @Test func blocksAndRatesAreComparedByWhatTheyAllow() throws {
        let block = IPRange("10.1.0.0/16")!
        #expect(block.contains(IPRange("10.1.5.0/24")!) && block.contains(IPRange("10.1.0.0/16")!) && block.contains(IPRange("10.1.2.3")!))
        #expect(!block.contains(IPRange("10.0.0.0/8")!) && !block.contains(IPRange("10.2.0.0/24")!) && !block.contains(IPRange("2001:db8::/32")!))
        #expect(IPRange("2001:db8::/32")!.contains(IPRange("2001:db8:1::/48")!))
        #expect(block.contains(IPRange("::ffff:10.1.2.3")!))

        var key = APIKey(id: "k", workspaceID: "w", name: "n", description: nil, scope: .admin, secretHash: SecretHash(secret: "s"),
                         serviceAccountID: nil, createdAt: .now(), createdBy: "cli", expiresAt: nil)
        key.rateLimit = RateLimit(limit: 60, windowSeconds: 60)
        let authority = KeyAuthority(of: key)
        #expect(throws: Never.self) { try authority.requireCovers(rateLimit: RateLimit(limit: 1, windowSeconds: 1)) }
        #expect(throws: Never.self) { try authority.requireCovers(rateLimit: RateLimit(limit: 3600, windowSeconds: 3600)) }
        #expect(throws: KeyAuthority.Refusal.self) { try authority.requireCovers(rateLimit: RateLimit(limit: 2, windowSeconds: 1)) }
        #expect(throws: KeyAuthority.Refusal.self) { try authority.requireCovers(rateLimit: nil) }
        #expect(throws: Never.self) { try KeyAuthority(of: APIKey(id: "r", workspaceID: "w", name: "n", description: nil, scope: .admin,
                                                                  secretHash: SecretHash(secret: "s"), serviceAccountID: nil, createdAt: .now(),
                                                                  createdBy: "cli", expiresAt: nil)).requireCovers(rateLimit: nil) }
    }
}
