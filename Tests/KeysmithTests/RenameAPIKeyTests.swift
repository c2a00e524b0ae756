import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// Seed 003: PATCH changes labels only; 404 for missing or revoked; 400 for an empty name.
@Suite struct RenameAPIKeyTests {
    @Test(arguments: Backend.available)
    func renameChangesOnlyTheLabel(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (created, secret) = try await client.createKey(ws.adminToken, #"{"name": "Production Server", "scope": "read"}"#)
            let id = try #require(created["id"].string)
            _ = try await client.call(.get, "/v1/auth/whoami", token: secret)
            // Let the usage flush reach the store; no use of the key follows, so the stored value stays.
            try await eventually { try await ws.store.key(id: id)?.lastUsed != nil }
            let before = try #require(try await ws.store.key(id: id))

            let (status, renamed, _) = try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: #"{"name": "Staging Environment"}"#)
            #expect(status == .ok)
            #expect(renamed["id"].string == id && renamed["name"].string == "Staging Environment")
            #expect(renamed["scope"].string == "read")
            #expect(renamed["last_used_at"].string == before.lastUsed?.at.description)
            #expect(renamed["secret"].isNull)

            let after = try #require(try await ws.store.key(id: id))
            #expect(after.secretHash == before.secretHash && after.scope == before.scope && after.lastUsed == before.lastUsed)
            let (stillWorks, _, _) = try await client.call(.get, "/v1/auth/whoami", token: secret)
            #expect(stillWorks == .ok, "the key remains active throughout the rename")
        }
    }

    @Test(arguments: Backend.available)
    func descriptionCanBeSetAndCleared(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (created, _) = try await client.createKey(ws.adminToken, #"{"name": "CRM", "description": "old"}"#)
            let id = try #require(created["id"].string)
            let (_, changed, _) = try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: #"{"description": "Acme CRM"}"#)
            #expect(changed["description"].string == "Acme CRM" && changed["name"].string == "CRM")
            let (_, cleared, _) = try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: #"{"description": null}"#)
            #expect(cleared["description"].isNull)
        }
    }

    @Test(arguments: Backend.available)
    func renamedNameIsFoundBySearch(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (created, _) = try await client.createKey(ws.adminToken, #"{"name": "temp"}"#)
            let id = try #require(created["id"].string)
            _ = try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: #"{"name": "Billing Worker"}"#)
            let (_, found, _) = try await client.call(.get, "/v1/api-keys?search=billing", token: ws.adminToken)
            #expect(found["data"].array.compactMap { $0["id"].string } == [id])
        }
    }

    @Test(arguments: Backend.available)
    func renamingAMissingOrRevokedKeyIs404(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (created, _) = try await client.createKey(ws.adminToken, #"{"name": "gone"}"#)
            let id = try #require(created["id"].string)
            _ = try await client.call(.delete, "/v1/api-keys/\(id)", token: ws.adminToken)
            for target in [id, "abcgvvzzlrbnqy"] {
                let (status, json, _) = try await client.call(.patch, "/v1/api-keys/\(target)", token: ws.adminToken, body: #"{"name": "new"}"#)
                #expect(status == .notFound)
                expectErrorShape(json, status: .notFound)
            }
            #expect(try await ws.store.key(id: id)?.name == "gone")
        }
    }

    @Test(arguments: Backend.available, [
        #"{"name": ""}"#, #"{"name": "   "}"#, #"{"name": null}"#, #"{}"#, #"{"name": 5}"#, #"{"nmae": "typo"}"#, "[]", "name=x",
    ])
    func badRenamesAre400AndChangeNothing(_ backend: Backend, body: String) async throws {
        try await withApp(backend) { client, ws in
            let (created, _) = try await client.createKey(ws.adminToken, #"{"name": "keep me"}"#)
            let id = try #require(created["id"].string)
            let (status, json, _) = try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: body)
            #expect(status == .badRequest)
            expectErrorShape(json, status: .badRequest)
            #expect(try await ws.store.key(id: id)?.name == "keep me")
        }
    }
}
