import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import Keysmith

/// Seed 001: `Authorization: Bearer <key_id>:<secret>`, and one 401 for every way a key can be wrong.
@Suite struct AuthenticationTests {
    @Test(arguments: Backend.available)
    func everyBadCredentialGetsTheSameExact401(_ backend: Backend) async throws {
        let clock = TestClock()
        try await withApp(backend, configure: { $0.clock = clock.now }) { client, ws in
            let (expiring, expiringToken) = try await client.createKey(ws.adminToken, """
                {"name": "short-lived", "expires_at": "\(clock.read().adding(milliseconds: 60_000).description)"}
                """)
            #expect(expiring["is_expired"].bool == false)
            let (revoked, revokedToken) = try await client.createKey(ws.adminToken, #"{"name": "revoked"}"#)
            _ = try await client.call(.delete, "/v1/api-keys/\(try #require(revoked["id"].string))", token: ws.adminToken)
            clock.advance(seconds: 61)  // the short-lived key expires

            let keyID = ws.adminToken.split(separator: ":")[0]
            let wrongSecret = APIKeyToken.generate(prefix: "ks_").secret
            let unknown = APIKeyToken.generate(prefix: "ks_").bearer
            var wrongChecksum = ws.adminToken
            wrongChecksum.removeLast()
            wrongChecksum.append(ws.adminToken.last == "A" ? "B" : "A")
            let headers: [String?] = [
                nil, "", "Bearer", "Bearer ", "Basic \(ws.adminToken)", "Bearer abcdefghijklmn:123456a1b1234b",
                "Bearer \(keyID)", "Bearer \(keyID):\(wrongSecret)", "Bearer \(unknown)", "Bearer \(wrongChecksum)",
                "Bearer \(revokedToken)", "Bearer \(expiringToken)", "Bearer \(ws.adminToken) extra",
            ]
            for header in headers {
                let fields: HTTPFields = header.map { [.authorization: $0] } ?? [:]
                try await client.execute(uri: "/v1/auth/whoami", method: .get, headers: fields) { response in
                    #expect(response.status == .unauthorized, "\(header ?? "no header")")
                    #expect(String(buffer: response.body) == unauthorizedBody)
                    #expect(response.headers[.wwwAuthenticate] == "Bearer")
                }
            }
            // Two Authorization headers, even two good ones, are ambiguous: refused the same way.
            var twice = HTTPFields()
            twice.append(HTTPField(name: .authorization, value: "Bearer \(ws.adminToken)"))
            twice.append(HTTPField(name: .authorization, value: "Bearer \(ws.adminToken)"))
            try await client.execute(uri: "/v1/auth/whoami", method: .get, headers: twice) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body) == unauthorizedBody)
            }
            // The expired key is listed as expired.
            let (_, listed, _) = try await client.call(.get, "/v1/api-keys/\(try #require(expiring["id"].string))", token: ws.adminToken)
            #expect(listed["is_expired"].bool == true)
        }
    }

    @Test(arguments: Backend.available)
    func bearerSchemeIsCaseInsensitive(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            for scheme in ["bearer", "BEARER", "BeArEr"] {
                try await client.execute(uri: "/v1/auth/whoami", method: .get, headers: [.authorization: "\(scheme) \(ws.adminToken)"]) { response in
                    #expect(response.status == .ok, "\(scheme)")
                }
            }
        }
    }

    @Test(arguments: Backend.available)
    func whoamiReturnsTheCallersKeyAndWorkspaceForAnyScope(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let expiry = Timestamp.now().adding(milliseconds: 3_600_000).description
            let (created, readToken) = try await client.createKey(ws.adminToken, """
                {"name": "reader \\"one\\"", "scope": "read", "description": "<ci>", "service_account_id": "svc-1", "expires_at": "\(expiry)"}
                """)
            let (status, json, _) = try await client.call(.get, "/v1/auth/whoami", token: readToken, headers: [.userAgent: "keysmith-test/1.0"])
            #expect(status == .ok)
            #expect(json.keys == ["key", "workspace"])
            // The same key object as every other endpoint's (its labels are written once, when cached).
            let (_, shown, _) = try await client.call(.get, "/v1/api-keys/\(try #require(created["id"].string))", token: ws.adminToken)
            #expect(json["key"].keys == shown.keys)
            for field in ["id", "name", "description", "scope", "workspace_id", "service_account_id", "created_at", "created_by", "expires_at"] {
                #expect(json["key"][field].string == shown[field].string && shown[field].string != nil, "\(field)")
            }
            #expect(json["key"]["is_expired"].bool == false)
            #expect(json["key"]["revoked_at"].isNull)
            #expect(json["key"]["id"].string == created["id"].string)
            #expect(json["key"]["scope"].string == "read")
            #expect(json["key"]["last_used_user_agent"].string == "keysmith-test/1.0")
            #expect(json["key"]["last_used_at"].string != nil)
            #expect(json["key"]["secret"].isNull)
            #expect(json["workspace"]["id"].string == ws.workspace.id)
            #expect(json["workspace"]["name"].string == ws.workspace.name)
        }
    }

    @Test(arguments: Backend.available, [Scope.read, .readWrite])
    func managingKeysNeedsAdminScope(_ backend: Backend, scope: Scope) async throws {
        try await withApp(backend) { client, ws in
            let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "limited", "scope": "\#(scope.rawValue)"}"#)
            let id = try #require(created["id"].string)
            let attempts: [(HTTPRequest.Method, String, String?)] = [
                (.get, "/v1/api-keys", nil), (.post, "/v1/api-keys", #"{"name": "x"}"#), (.get, "/v1/api-keys/\(id)", nil),
                (.patch, "/v1/api-keys/\(id)", #"{"name": "x"}"#), (.delete, "/v1/api-keys/\(id)", nil),
                (.post, "/v1/api-keys/batch", #"{"keys": [{"name": "x"}]}"#),
                (.get, "/v1/webhooks", nil), (.post, "/v1/webhooks", #"{"url": "https://example.com/hook"}"#),
                (.get, "/v1/webhooks/wh_nope", nil),
            ]
            for (method, uri, body) in attempts {
                let (status, json, _) = try await client.call(method, uri, token: token, body: body)
                #expect(status == .forbidden, "\(method) \(uri)")
                expectErrorShape(json, status: .forbidden)
            }
            let stored = try #require(try await ws.store.key(id: id))
            #expect(stored.name == "limited" && stored.revokedAt == nil)
            #expect(try await ws.store.listKeys(.init(workspaceID: ws.workspace.id)).total == 2)
        }
    }
}

/// Revoke (seed 001): from that moment every request with the key is 401.
@Suite struct RevokeAPIKeyTests {
    @Test(arguments: Backend.available)
    func revokedKeyIsRejectedOnItsNextRequest(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "to revoke", "scope": "read"}"#)
            let id = try #require(created["id"].string)
            let (before, _, _) = try await client.call(.get, "/v1/auth/whoami", token: token)
            #expect(before == .ok)  // now cached in memory

            let (status, revoked, _) = try await client.call(.delete, "/v1/api-keys/\(id)", token: ws.adminToken)
            #expect(status == .ok)
            #expect(revoked["id"].string == id && revoked["revoked_at"].string != nil)

            let (after, json, _) = try await client.call(.get, "/v1/auth/whoami", token: token)
            #expect(after == .unauthorized)
            expectErrorShape(json, status: .unauthorized)

            let (again, againJSON, _) = try await client.call(.delete, "/v1/api-keys/\(id)", token: ws.adminToken)
            #expect(again == .notFound)
            expectErrorShape(againJSON, status: .notFound)
        }
    }

    @Test(arguments: Backend.available)
    func aKeyThatRevokesItselfIsRefusedAfterwards(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            // It is the workspace's last admin key, so revoking it needs `force`.
            let (status, json, _) = try await client.call(.delete, "/v1/api-keys/\(ws.adminKeyID)?force=true", token: ws.adminToken)
            #expect(status == .ok && json["revoked_at"].string != nil)
            let (after, _, _) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(after == .unauthorized)
        }
    }

    @Test(arguments: Backend.available)
    func revocationByAnotherProcessIsSeenWithinTheBound(_ backend: Backend) async throws {
        // The same database revoked through a second store, as `keysmith keys revoke` does.
        let location = backend.freshLocation()
        try await withApp(backend, location: location) { client, ws in
            let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "cli revokes me"}"#)
            let (cached, _, _) = try await client.call(.get, "/v1/auth/whoami", token: token)
            #expect(cached == .ok)
            try await location.withStore(logger: .init(label: "other-process")) { other in
                _ = try await other.revokeKey(id: try #require(created["id"].string), workspaceID: ws.workspace.id, at: .now(), allowingLastAdmin: false)
            }
            let revokedAt = ContinuousClock.now
            while true {
                let (status, _, _) = try await client.call(.get, "/v1/auth/whoami", token: token)
                if status == .unauthorized { break }
                #expect(ContinuousClock.now - revokedAt < .seconds(1), "revocation not seen within 1 s")
                if ContinuousClock.now - revokedAt > .seconds(2) { return }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
    }
}
