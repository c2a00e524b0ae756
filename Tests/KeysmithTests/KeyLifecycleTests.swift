import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// Roll with grace, disable, metadata, the key prefix and expiry warnings, through the real application on
/// both backends.
@Suite struct KeyLifecycleTests {
    static let requestID = HTTPField.Name("X-Request-Id")!

    @Test(arguments: Backend.available)
    func aRollCopiesTheKeyAndGivesTheOldOneItsGrace(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (old, oldToken) = try await client.createKey(ws.adminToken, """
                {"name": "billing worker", "description": "eu", "scope": "read", "service_account_id": "svc_billing",
                 "permissions": ["calls.read"], "rate_limit": {"limit": 100, "window_seconds": 60},
                 "allowed_ips": ["127.0.0.0/8", "::1/128"], "metadata": {"team": "billing", "tier": 2}}
                """)
            let oldID = try #require(old["id"].string)
            let before = Timestamp.now()
            let (status, new, response) = try await client.call(.post, "/v1/api-keys/\(oldID)/roll", token: ws.adminToken,
                                                                body: #"{"grace_seconds": 3600}"#)
            #expect(status == .created, "\(String(buffer: response.body))")
            #expect(response.headers[.cacheControl] == "no-store")
            let newToken = try #require(new["secret"].string)
            #expect(newToken != oldToken && new["id"].string != oldID)
            #expect(new["rolled_from"].string == oldID)
            for field in ["name", "description", "scope", "service_account_id"] { #expect(new[field].string == old[field].string, "\(field)") }
            #expect(new["permissions"].array.compactMap(\.string) == ["calls.read"])
            #expect(new["rate_limit"]["limit"].int == 100 && new["rate_limit"]["window_seconds"].int == 60)
            #expect(new["allowed_ips"].array.compactMap(\.string) == ["127.0.0.0/8", "::1/128"])
            #expect(new["metadata"]["team"].string == "billing" && new["metadata"]["tier"].int == 2)

            // The old key expires at the end of its grace.
            let (_, shown, _) = try await client.call(.get, "/v1/api-keys/\(oldID)", token: ws.adminToken)
            let expiry = try #require(shown["expires_at"].string.flatMap { Timestamp(iso8601: $0) })
            #expect(abs(expiry.milliseconds - before.adding(milliseconds: 3_600_000).milliseconds) < 10_000)
            _ = (oldToken, newToken)

            // Through the grace both keys work (a key without address rules: the test client has no address).
            let (plain, plainToken) = try await client.createKey(ws.adminToken, #"{"name": "plain"}"#)
            let (_, rolled, _) = try await client.call(.post, "/v1/api-keys/\(try #require(plain["id"].string))/roll", token: ws.adminToken)
            #expect(try await client.call(.get, "/v1/auth/whoami", token: plainToken).status == .ok)
            #expect(try await client.call(.get, "/v1/auth/whoami", token: try #require(rolled["secret"].string)).status == .ok)

            // A second roll never lengthens the old key's life.
            let (_, again, _) = try await client.call(.post, "/v1/api-keys/\(oldID)/roll", token: ws.adminToken, body: #"{"grace_seconds": 86400}"#)
            #expect(again["rolled_from"].string == oldID)
            let (_, still, _) = try await client.call(.get, "/v1/api-keys/\(oldID)", token: ws.adminToken)
            #expect(still["expires_at"].string == shown["expires_at"].string)
        }
    }

    @Test(arguments: Backend.available)
    func aRollWithNoGraceRevokesAndBadRollsChangeNothing(_ backend: Backend) async throws {
        let clock = TestClock()
        try await withApp(backend, configure: { $0.clock = clock.now }) { client, ws in
            let (old, oldToken) = try await client.createKey(ws.adminToken, #"{"name": "at once"}"#)
            let oldID = try #require(old["id"].string)
            let (status, new, _) = try await client.call(.post, "/v1/api-keys/\(oldID)/roll", token: ws.adminToken, body: #"{"grace_seconds": 0}"#)
            #expect(status == .created)
            let (refused, _, body) = try await client.call(.get, "/v1/auth/whoami", token: oldToken)
            #expect(refused == .unauthorized && String(buffer: body.body) == unauthorizedBody)
            #expect(try await client.call(.get, "/v1/auth/whoami", token: try #require(new["secret"].string)).status == .ok)

            // Revoked: 404. Bad grace: 400. Expired: 409. Nothing is created by any of them.
            let (_, before, _) = try await client.call(.get, "/v1/api-keys?include_revoked=true", token: ws.adminToken)
            let total = before["meta"]["total"].int
            #expect(try await client.call(.post, "/v1/api-keys/\(oldID)/roll", token: ws.adminToken).status == .notFound)
            for body in [#"{"grace_seconds": -1}"#, #"{"grace_seconds": 604801}"#, #"{"grace_seconds": "1h"}"#, #"{"grace": 5}"#, "[]"] {
                let (code, json, _) = try await client.call(.post, "/v1/api-keys/\(try #require(new["id"].string))/roll", token: ws.adminToken, body: body)
                #expect(code == .badRequest, "\(body)")
                expectErrorShape(json, status: .badRequest)
            }
            let expiry = clock.read().adding(milliseconds: 60_000).description
            let (short, _) = try await client.createKey(ws.adminToken, #"{"name": "short", "expires_at": "\#(expiry)"}"#)
            clock.advance(seconds: 61)
            let (code, json, _) = try await client.call(.post, "/v1/api-keys/\(try #require(short["id"].string))/roll", token: ws.adminToken)
            #expect(code == .conflict)
            expectErrorShape(json, status: .conflict)
            let (_, after, _) = try await client.call(.get, "/v1/api-keys?include_revoked=true", token: ws.adminToken)
            #expect(after["meta"]["total"].int == (total ?? 0) + 1, "only the short key was added")
        }
    }

    @Test(arguments: Backend.available)
    func aDisabledKeyIsRefusedUntilEnabledAgain(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "pausable", "scope": "read"}"#)
            let id = try #require(created["id"].string)
            #expect(created["enabled"].bool == true)
            let (status, disabled, _) = try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: #"{"enabled": false}"#)
            #expect(status == .ok && disabled["enabled"].bool == false)
            let (refused, _, response) = try await client.call(.get, "/v1/auth/whoami", token: token)
            #expect(refused == .unauthorized && String(buffer: response.body) == unauthorizedBody)
            let (_, listed, _) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(listed["data"].array.first { $0["id"].string == id }?["enabled"].bool == false)
            _ = try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: #"{"enabled": true}"#)
            #expect(try await client.call(.get, "/v1/auth/whoami", token: token).status == .ok)

            // The workspace's last admin key cannot be disabled; a wrong type is a 400.
            let (last, json, _) = try await client.call(.patch, "/v1/api-keys/\(ws.adminKeyID)", token: ws.adminToken, body: #"{"enabled": false}"#)
            #expect(last == .conflict)
            expectErrorShape(json, status: .conflict)
            #expect(try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: #"{"enabled": "no"}"#).status == .badRequest)
            #expect(try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken).status == .ok)
        }
    }

    @Test(arguments: Backend.available)
    func metadataIsAnObjectOfAtMostFourKiBReturnedEverywhere(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (created, token) = try await client.createKey(ws.adminToken,
                #"{"name": "tagged", "metadata": {"customer": "acme", "plan": {"seats": 12, "trial": false}, "tags": ["a", "b"]}}"#)
            #expect(created["metadata"]["customer"].string == "acme")
            #expect(created["metadata"]["plan"]["seats"].int == 12 && created["metadata"]["plan"]["trial"].bool == false)
            let (_, whoami, _) = try await client.call(.get, "/v1/auth/whoami", token: token)
            #expect(whoami["key"]["metadata"]["tags"].array.compactMap(\.string) == ["a", "b"])
            let id = try #require(created["id"].string)

            let big = String(repeating: "x", count: 4100)
            for body in [#"{"metadata": "text"}"#, #"{"metadata": [1]}"#, #"{"metadata": {"big": "\#(big)"}}"#,
                         #"{"metadata": {"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}}}"#] {
                let (status, json, _) = try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: body)
                #expect(status == .badRequest, "\(body.prefix(60))")
                expectErrorShape(json, status: .badRequest)
            }
            let (_, unchanged, _) = try await client.call(.get, "/v1/api-keys/\(id)", token: ws.adminToken)
            #expect(unchanged["metadata"]["customer"].string == "acme")
            let (_, cleared, _) = try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: #"{"metadata": null}"#)
            #expect(cleared["metadata"].isNull)
        }
    }

    @Test(arguments: Backend.available)
    func theKeyPrefixIsTheSecretsFirstCharactersAndNothingMore(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "deployed"}"#)
            let secret = try #require(token.split(separator: ":").last.map(String.init))
            let prefix = try #require(created["key_prefix"].string)
            #expect(prefix.count == 7 && prefix.hasPrefix("ks_") && secret.hasPrefix(prefix))
            let (_, listed, _) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(listed["data"].array.first { $0["id"].string == created["id"].string }?["key_prefix"].string == prefix)
        }
    }

    @Test(arguments: Backend.available)
    func anExpiringKeyIsAnnouncedOnceBeforeItExpires(_ backend: Backend) async throws {
        let inbox = WebhookInbox()
        try await withWebhookReceiver(inbox) { url in
            try await withApp(backend, configure: { WebhookTests.fastWebhooks(&$0); $0.expiryWarning = .seconds(3600) }) { client, ws in
                _ = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)", "events": ["api_key.expiring"]}"#)
                let soon = Timestamp.now().adding(milliseconds: 1_800_000).description
                let later = Timestamp.now().adding(milliseconds: 86_400_000).description
                let (expiring, _) = try await client.createKey(ws.adminToken, #"{"name": "soon", "expires_at": "\#(soon)"}"#)
                _ = try await client.createKey(ws.adminToken, #"{"name": "later", "expires_at": "\#(later)"}"#)
                let got = try await inbox.wait(for: 1, type: "api_key.expiring")
                #expect(got.first?.json["data"]["id"].string == expiring["id"].string)
                try await Task.sleep(for: .milliseconds(800))  // several more checks
                let all = await inbox.deliveries
                #expect(all.filter { $0.json["type"].string == "api_key.expiring" }.count == 1)
            }
        }
    }
}
