import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith
@testable import KeysmithCore

/// The audit log (`GET /v1/audit-events`) and usage counts (`GET /v1/api-keys/{id}/usage`), through the real
/// application on both backends.
@Suite struct AuditAndUsageTests {
    static let requestID = HTTPField.Name("X-Request-Id")!

    @Test(arguments: Backend.available)
    func everyManagementActionIsRecordedWithItsActorRequestAndChanges(_ backend: Backend) async throws {
        try await withApp(backend, configure: WebhookTests.fastWebhooks) { client, ws in
            let (status, created, response) = try await client.call(.post, "/v1/api-keys", token: ws.adminToken,
                                                                    body: #"{"name": "audited", "permissions": ["calls.*"]}"#)
            #expect(status == .created)
            let createRequest = response.headers[Self.requestID]
            let id = try #require(created["id"].string)
            let secret = try #require(created["secret"].string)
            _ = try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: #"{"name": "audited twice", "permissions": ["calls.read"]}"#)
            _ = try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: #"{"enabled": false}"#)
            _ = try await client.call(.post, "/v1/api-keys/\(id)/roll", token: ws.adminToken, body: #"{"grace_seconds": 60}"#)
            _ = try await client.call(.delete, "/v1/api-keys/\(id)", token: ws.adminToken)
            let (_, hook, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "http://127.0.0.1:9/a"}"#)
            _ = try await client.call(.delete, "/v1/webhooks/\(try #require(hook["id"].string))", token: ws.adminToken)

            let (listed, log, body) = try await client.call(.get, "/v1/audit-events?limit=100", token: ws.adminToken)
            #expect(listed == .ok)
            let actions = log["data"].array.compactMap { $0["action"].string }
            #expect(Array(actions.prefix(9)) == [
                "webhook.deleted", "webhook.created", "api_key.revoked", "api_key.rolled", "api_key.created", "api_key.disabled",
                "api_key.permissions_changed", "api_key.renamed", "api_key.created",
            ], "newest first: \(actions)")
            #expect(log["meta"]["total"].int == actions.count)
            let entries = log["data"].array
            #expect(entries.filter { $0["target_id"].string != ws.adminKeyID }.allSatisfy { $0["actor"].string == ws.adminKeyID })
            #expect(entries.last?["target_id"].string == ws.adminKeyID && entries.last?["actor"].string == "cli", "the workspace's first key")
            let renamed = try #require(entries.first { $0["action"].string == "api_key.renamed" })
            #expect(renamed["target_id"].string == id && renamed["target_type"].string == "api_key")
            #expect(renamed["changes"]["name"]["from"].string == "audited" && renamed["changes"]["name"]["to"].string == "audited twice")
            let permissions = try #require(entries.first { $0["action"].string == "api_key.permissions_changed" })
            #expect(permissions["changes"]["permissions"]["to"].array.compactMap(\.string) == ["calls.read"])
            let firstCreate = try #require(entries.last { $0["action"].string == "api_key.created" && $0["target_id"].string == id })
            #expect(createRequest != nil && firstCreate["request_id"].string == createRequest)
            #expect(!String(buffer: body.body).contains(secret.split(separator: ":").last.map(String.init) ?? secret), "no secret in the log")

            // Rules changed on another key: from and to, objects and lists alike.
            let (ruled, _) = try await client.createKey(ws.adminToken, #"{"name": "ruled"}"#)
            let ruledID = try #require(ruled["id"].string)
            _ = try await client.call(.patch, "/v1/api-keys/\(ruledID)", token: ws.adminToken,
                                      body: #"{"rate_limit": {"limit": 5, "window_seconds": 60}, "allowed_ips": ["10.0.0.0/8"]}"#)
            let (_, rules, _) = try await client.call(.get, "/v1/audit-events?target_id=\(ruledID)", token: ws.adminToken)
            let limit = try #require(rules["data"].array.first { $0["action"].string == "api_key.rate_limit_changed" })
            #expect(limit["changes"]["rate_limit"]["from"].isNull && limit["changes"]["rate_limit"]["to"]["limit"].int == 5)
            let ips = try #require(rules["data"].array.first { $0["action"].string == "api_key.allowed_ips_changed" })
            #expect(ips["changes"]["allowed_ips"]["from"].isNull && ips["changes"]["allowed_ips"]["to"].array.compactMap(\.string) == ["10.0.0.0/8"])

            // Filters, and the log's own rules.
            let (_, onlyRevoked, _) = try await client.call(.get, "/v1/audit-events?action=api_key.revoked", token: ws.adminToken)
            #expect(onlyRevoked["data"].array.compactMap { $0["target_id"].string } == [id])
            let (_, onlyKey, _) = try await client.call(.get, "/v1/audit-events?target_id=\(id)&limit=2&page=2", token: ws.adminToken)
            #expect(onlyKey["data"].array.count == 2 && onlyKey["meta"]["total"].int == 6)
            let (bad, json, _) = try await client.call(.get, "/v1/audit-events?action=api_key.exploded", token: ws.adminToken)
            #expect(bad == .badRequest)
            expectErrorShape(json, status: .badRequest)
            let (_, readToken) = try await client.createKey(ws.adminToken, #"{"name": "reader", "scope": "read"}"#)
            #expect(try await client.call(.get, "/v1/audit-events", token: readToken).status == .forbidden)

            // Another workspace sees none of it.
            let other = try await KeyIssuer(store: ws.store).createWorkspace(named: "other-\(UUID().uuidString.prefix(8))", createdBy: "cli")
            let (_, foreign, _) = try await client.call(.get, "/v1/audit-events", token: other.token.bearer)
            #expect(foreign["data"].array.allSatisfy { $0["target_id"].string == other.key.id })
            #expect(foreign["data"].array.first?["actor"].string == "cli")
        }
    }

    @Test(arguments: Backend.available)
    func usageIsCountedPerHourByOutcome(_ backend: Backend) async throws {
        try await withApp(backend, framework: .live) { client, ws in
            let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "busy", "scope": "read"}"#)
            let id = try #require(created["id"].string)
            for _ in 0..<5 { #expect(try await client.call(.get, "/v1/auth/whoami", token: token).status == .ok) }
            // A well-formed token for this key id (its checksum valid) with another secret.
            let body = "ks_" + SecureRandom.string(32, from: Base62.alphabetBytes)
            let wrong = id + ":" + body + Base62.encode(CRC32.checksum(Array((id + ":" + body).utf8)), width: 6)
            #expect(APIKeyToken(bearer: Substring(wrong)) != nil)
            for _ in 0..<2 { #expect(try await client.call(.get, "/v1/auth/whoami", token: wrong).status == .unauthorized) }
            #expect(try await client.call(.get, "/v1/api-keys", token: token).status == .forbidden)  // read scope on an admin route

            let counted = try await eventually {
                let (_, usage, _) = try await client.call(.get, "/v1/api-keys/\(id)/usage?granularity=hour", token: ws.adminToken)
                let last = usage["data"].array.last
                return last?["success"].int == 5 && last?["wrong_secret"].int == 2 && last?["forbidden"].int == 1
            }
            #expect(counted, "5 served, 2 wrong secrets and 1 forbidden in the current hour")
            let (_, daily, _) = try await client.call(.get, "/v1/api-keys/\(id)/usage", token: ws.adminToken)
            #expect(daily["granularity"].string == "day" && daily["data"].array.count == 30 || daily["data"].array.count == 31)
            #expect(daily["data"].array.reduce(0) { $0 + ($1["success"].int ?? 0) } == 5)

            for query in ["granularity=week", "from=yesterday", "from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z",
                          "granularity=hour&from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z"] {
                let (status, json, _) = try await client.call(.get, "/v1/api-keys/\(id)/usage?\(query)", token: ws.adminToken)
                #expect(status == .badRequest, "\(query)")
                expectErrorShape(json, status: .badRequest)
            }
            let other = try await KeyIssuer(store: ws.store).createWorkspace(named: "other-\(UUID().uuidString.prefix(8))")
            #expect(try await client.call(.get, "/v1/api-keys/\(id)/usage", token: other.token.bearer).status == .notFound)
        }
    }
}
