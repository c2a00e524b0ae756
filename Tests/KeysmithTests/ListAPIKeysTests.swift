import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// Seed 002: `page`, `limit` (max 100, default 20), `search`, `{data, meta}`.
@Suite struct ListAPIKeysTests {
    @Test(arguments: Backend.available)
    func listIsPaginatedNewestFirstWithTotals(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            for index in 1...24 { _ = try await client.createKey(ws.adminToken, #"{"name": "key \#(index)"}"#) }
            let (status, first, _) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(status == .ok)
            #expect(first["meta"]["page"].int == 1 && first["meta"]["limit"].int == 20 && first["meta"]["total"].int == 25)
            #expect(first["data"].array.count == 20)
            #expect(first["data"][0]["name"].string == "key 24")

            let (_, second, _) = try await client.call(.get, "/v1/api-keys?page=2&limit=20", token: ws.adminToken)
            let names = second["data"].array.compactMap { $0["name"].string }
            #expect(names == ["key 4", "key 3", "key 2", "key 1", "admin"])

            // Pages never overlap and together hold every key once.
            var seen: [String] = []
            for page in 1...9 {
                let (_, json, _) = try await client.call(.get, "/v1/api-keys?page=\(page)&limit=3", token: ws.adminToken)
                seen += json["data"].array.compactMap { $0["id"].string }
            }
            #expect(seen.count == 25 && Set(seen).count == 25)

            let (_, beyond, _) = try await client.call(.get, "/v1/api-keys?page=50", token: ws.adminToken)
            #expect(beyond["data"].array.isEmpty && beyond["meta"]["total"].int == 25)
        }
    }

    @Test(arguments: Backend.available)
    func searchIsCaseInsensitivePartialAndTakesWildcardsLiterally(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            for name in ["Production Server", "production worker", "Staging", "100% done", "100 percent", "snake_case", "snakeXcase", #"back\slash"#] {
                _ = try await client.createKey(ws.adminToken, "{\"name\": \(JSONWriter.quote(name))}")
            }
            func search(_ term: String) async throws -> [String] {
                let encoded = term.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let (_, json, _) = try await client.call(.get, "/v1/api-keys?search=\(encoded)", token: ws.adminToken)
                return json["data"].array.compactMap { $0["name"].string }.sorted()
            }
            #expect(try await search("PRODUCTION") == ["Production Server", "production worker"])
            #expect(try await search("uctio") == ["Production Server", "production worker"])
            #expect(try await search("%") == ["100% done"])
            #expect(try await search("_") == ["snake_case"])
            #expect(try await search(#"\"#) == [#"back\slash"#])
            #expect(try await search("nothing like it") == [])
        }
    }

    @Test(arguments: Backend.available)
    func queryStringsAreFormDecodedSoPlusIsASpace(_ backend: Backend) async throws {
        // Python's requests, URLSearchParams and every HTML form send a space as `+`.
        try await withApp(backend) { client, ws in
            for name in ["Production Server", "Production Backup", "C++ worker", "a+b"] {
                _ = try await client.createKey(ws.adminToken, "{\"name\": \(JSONWriter.quote(name))}")
            }
            func search(_ query: String) async throws -> [String] {
                let (status, json, _) = try await client.call(.get, "/v1/api-keys?\(query)", token: ws.adminToken)
                #expect(status == .ok)
                return json["data"].array.compactMap { $0["name"].string }.sorted()
            }
            #expect(try await search("search=Production+Server") == ["Production Server"])
            #expect(try await search("search=Production%20Server") == ["Production Server"])
            #expect(try await search("search=C%2B%2B") == ["C++ worker"])
            #expect(try await search("search=a%2Bb") == ["a+b"])
            #expect(try await search("search=a+b") == [], "`+` is a space, never a plus")
            #expect(try await search("page=1&limit=2&search=Production") == ["Production Backup", "Production Server"])
        }
    }

    @Test(arguments: Backend.available)
    func revokedKeysAreListedOnlyOnRequest(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (json, _) = try await client.createKey(ws.adminToken, #"{"name": "old"}"#)
            let id = try #require(json["id"].string)
            _ = try await client.call(.delete, "/v1/api-keys/\(id)", token: ws.adminToken)
            let (_, active, _) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(!active["data"].array.contains { $0["id"].string == id })
            #expect(active["meta"]["total"].int == 1)
            let (_, all, _) = try await client.call(.get, "/v1/api-keys?include_revoked=true", token: ws.adminToken)
            let revoked = try #require(all["data"].array.first { $0["id"].string == id })
            #expect(revoked["revoked_at"].string != nil)
            #expect(all["meta"]["total"].int == 2)
        }
    }

    @Test(arguments: Backend.available)
    func dormantFilterShowsKeysNeverUsed(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (json, _) = try await client.createKey(ws.adminToken, #"{"name": "never used"}"#)
            try await ws.store.recordUsage([ws.adminKeyID: KeyUsage(at: .now(), ip: nil, userAgent: nil)])
            let (_, dormant, _) = try await client.call(.get, "/v1/api-keys?dormant=true", token: ws.adminToken)
            #expect(dormant["data"].array.compactMap { $0["id"].string } == [json["id"].string])
        }
    }

    @Test(arguments: Backend.available)
    func aWorkspaceNeverSeesAnotherWorkspacesKeys(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (other, _, otherToken) = try await KeyIssuer(store: ws.store).createWorkspace(named: "other-\(UUID().uuidString.prefix(8))")
            let (theirs, _) = try await client.createKey(otherToken.bearer, #"{"name": "theirs"}"#)
            let id = try #require(theirs["id"].string)
            let (_, mine, _) = try await client.call(.get, "/v1/api-keys?search=theirs", token: ws.adminToken)
            #expect(mine["data"].array.isEmpty)
            for (method, body) in [(HTTPRequest.Method.get, nil), (.patch, #"{"name": "mine now"}"#), (.delete, nil)] as [(HTTPRequest.Method, String?)] {
                let (status, json, _) = try await client.call(method, "/v1/api-keys/\(id)", token: ws.adminToken, body: body)
                #expect(status == .notFound, "\(method)")
                expectErrorShape(json, status: .notFound)
            }
            let stored = try #require(try await ws.store.key(id: id))
            #expect(stored.name == "theirs" && stored.revokedAt == nil && stored.workspaceID == other.id)
        }
    }
}
