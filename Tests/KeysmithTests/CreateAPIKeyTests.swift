import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// Seed 000 (Create API Key), seed 001 (the create example) and seed 004 (the second system's fields).
@Suite struct CreateAPIKeyTests {
    static let keyFields: Set<String> = [
        "id", "name", "description", "scope", "workspace_id", "service_account_id", "created_at", "created_by",
        "expires_at", "permissions", "rate_limit", "allowed_ips", "enabled", "key_prefix", "rolled_from", "metadata",
        "is_expired", "last_used_at", "last_used_ip", "last_used_user_agent", "revoked_at",
    ]

    @Test(arguments: Backend.available)
    func createReturnsTheSecretOnceAndTheKeyObject(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (json, secret) = try await client.createKey(ws.adminToken, #"{"name": "Production Server"}"#)
            #expect(json.keys == Self.keyFields.union(["secret"]))
            #expect(json["name"].string == "Production Server")
            #expect(json["workspace_id"].string == ws.workspace.id)
            #expect(json["created_by"].string == ws.adminKeyID)
            #expect(json["scope"].string == "admin", "defaults to the caller's scope")
            #expect(json["is_expired"].bool == false)
            #expect(json["last_used_at"].isNull && json["revoked_at"].isNull && json["expires_at"].isNull)
            #expect(secret.hasPrefix(try #require(json["id"].string) + ":ks_"))
            #expect(try Regex(#"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#).wholeMatch(in: json["created_at"].string ?? "") != nil)

            // The new key works at once, and no later response carries the secret.
            let (status, me, _) = try await client.call(.get, "/v1/auth/whoami", token: secret)
            #expect(status == .ok)
            #expect(me["key"]["id"].string == json["id"].string)
            let id = try #require(json["id"].string)
            for uri in ["/v1/api-keys", "/v1/api-keys/\(id)"] {
                let (_, _, response) = try await client.call(.get, uri, token: ws.adminToken)
                let text = String(buffer: response.body)
                #expect(!text.contains("secret") && !text.contains(secret.split(separator: ":")[1]))
            }
        }
    }

    @Test(arguments: Backend.available)
    func createAcceptsEveryOptionalFieldInBothSpellings(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (snake, _) = try await client.createKey(ws.adminToken, """
                {"name": "CRM", "description": "Acme CRM integration", "scope": "read", "expires_at": "2099-01-01T00:00:00Z", "service_account_id": "svc-crm"}
                """)
            #expect(snake["description"].string == "Acme CRM integration")
            #expect(snake["scope"].string == "read")
            #expect(snake["expires_at"].string == "2099-01-01T00:00:00.000Z")
            #expect(snake["service_account_id"].string == "svc-crm")

            let (camel, _) = try await client.createKey(ws.adminToken, """
                {"name": "Worker", "scope": "read-write", "expiresAt": "2099-06-01T12:30:00.250+02:00", "serviceAccountId": "svc.worker"}
                """)
            #expect(camel["expires_at"].string == "2099-06-01T10:30:00.250Z")
            #expect(camel["service_account_id"].string == "svc.worker")
            #expect(camel["scope"].string == "read-write")
        }
    }

    @Test(arguments: Backend.available)
    func nameIsTrimmedAndStoredAsText(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (json, _) = try await client.createKey(ws.adminToken, #"{"name": "  <img src=x onerror=alert(1)> ✓ "}"#)
            #expect(json["name"].string == "<img src=x onerror=alert(1)> ✓")
        }
    }

    @Test(arguments: Backend.available)
    func labelsComeBackExactlyAndEscapedInTheRawJSON(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let name = #"quote " backslash \ <b>&amp; naïve 🔑"#
            let description = "line one\nline\ttwo \"quoted\" </script>"
            let body = #"{"name": \#(JSONWriter.quote(name)), "description": \#(JSONWriter.quote(description))}"#
            let (status, json, response) = try await client.call(.post, "/v1/api-keys", token: ws.adminToken, body: body)
            #expect(status == .created)
            #expect(json["name"].string == name)
            #expect(json["description"].string == description)
            let raw = String(buffer: response.body)
            #expect(raw.contains(#""name":"quote \" backslash \\ \u003cb\u003e\u0026amp; naïve 🔑""#))
            #expect(raw.contains(#""description":"line one\nline\ttwo \"quoted\" \u003c/script\u003e""#))

            let (_, listed, _) = try await client.call(.get, "/v1/api-keys?search=backslash", token: ws.adminToken)
            #expect(listed["data"][0]["name"].string == name)
            #expect(listed["data"][0]["description"].string == description)
        }
    }

    @Test(arguments: Backend.available)
    func aKeyCannotCreateAWiderScopeThanItsOwn(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (_, readWrite) = try await client.createKey(ws.adminToken, #"{"name": "rw", "scope": "read-write"}"#)
            // A read-write key cannot manage keys at all: 403 before any scope comparison.
            let (status, json, _) = try await client.call(.post, "/v1/api-keys", token: readWrite, body: #"{"name": "x", "scope": "read"}"#)
            #expect(status == .forbidden)
            expectErrorShape(json, status: .forbidden)
            let page = try await ws.store.listKeys(.init(workspaceID: ws.workspace.id))
            #expect(page.total == 2, "nothing written on a refused create")
        }
    }

    /// Creates in one workspace take turns on its counters; 24 at once, three times the test pool's
    /// connections, so that most of them queue for a connection as well as for the counters.
    static let concurrentCreates = 24

    /// Bounded in time: a request that never came back (a pool that stopped handing out connections)
    /// fails this test instead of holding up the run.
    @Test(.timeLimit(.minutes(3)), arguments: Backend.available)
    func concurrentCreatesLoseNothingAndNeverRepeatAnID(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<Self.concurrentCreates {
                    group.addTask {
                        let (json, _) = try await client.createKey(ws.adminToken, #"{"name": "key \#(index)"}"#)
                        return try #require(json["id"].string)
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(Set(ids).count == Self.concurrentCreates)
            let page = try await ws.store.listKeys(.init(workspaceID: ws.workspace.id, limit: 100))
            #expect(page.total == Self.concurrentCreates + 1)
            #expect(Set(page.keys.map(\.id)).isSuperset(of: ids))
        }
    }
}
