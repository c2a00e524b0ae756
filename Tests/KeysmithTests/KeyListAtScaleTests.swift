import Foundation
import Logging
import Testing

@testable import Keysmith

/// The list's fast paths (workspace counters for `total`, page jumps by the workspace's key numbers,
/// skipping from the nearer end, the trigram search index) give the same answers as counting and
/// scanning would, on both backends.
@Suite struct KeyListAtScaleTests {
    @Test(arguments: Backend.available)
    func everyPageIsExactWithAndWithoutRevokedKeys(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            var newestFirst = ["admin"]
            for index in 1...30 {
                _ = try await client.createKey(ws.adminToken, #"{"name": "key \#(index)"}"#)
                newestFirst.insert("key \(index)", at: 0)
            }
            func pages(limit: Int, query: String = "") async throws -> (names: [String], totals: Set<Int>) {
                var names: [String] = []
                var totals = Set<Int>()
                for page in 1...(40 / limit + 2) {
                    let (_, json, _) = try await client.call(.get, "/v1/api-keys?page=\(page)&limit=\(limit)\(query)", token: ws.adminToken)
                    names += json["data"].array.compactMap { $0["name"].string }
                    totals.insert(json["meta"]["total"].int ?? -1)
                }
                return (names, totals)
            }
            // No key revoked: pages are ranges of the workspace's key numbers.
            for limit in [1, 4, 7] {
                let listed = try await pages(limit: limit)
                #expect(listed.names == newestFirst, "limit \(limit)")
                #expect(listed.totals == [31])
            }

            // Revoked keys at the start, the middle and the end of the order.
            let (_, all, _) = try await client.call(.get, "/v1/api-keys?limit=100", token: ws.adminToken)
            let ids = Dictionary(uniqueKeysWithValues: all["data"].array.compactMap { key in key["name"].string.map { ($0, key["id"].string ?? "") } })
            let revoked = ["key 30", "key 29", "key 16", "key 15", "key 2", "key 1"]
            for name in revoked {
                let (status, _, _) = try await client.call(.delete, "/v1/api-keys/\(ids[name] ?? "")", token: ws.adminToken)
                #expect(status == .ok)
            }
            let active = newestFirst.filter { !revoked.contains($0) }
            for limit in [1, 4, 7] {
                let listed = try await pages(limit: limit)
                #expect(listed.names == active, "limit \(limit): pages skipped from both ends")
                #expect(listed.totals == [25])
                let everything = try await pages(limit: limit, query: "&include_revoked=true")
                #expect(everything.names == newestFirst, "limit \(limit), revoked included")
                #expect(everything.totals == [31])
            }
        }
    }

    /// Where a page of active keys starts, computed from the revoked keys' numbers, against counting.
    @Test func aPageStartFromTheRevokedNumbersIsWhereCountingPutsIt() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let count = Int64.random(in: 1...300, using: &generator)
            let revoked = (1...count).filter { _ in Int.random(in: 0..<4, using: &generator) == 0 }
            let activeNewestFirst = (1...count).reversed().filter { !revoked.contains($0) }
            for (offset, expected) in activeNewestFirst.enumerated() {
                let computed = SQLKeyStore.activeNumber(after: offset, of: count, revoked: revoked)
                guard computed == expected else {
                    Issue.record("count \(count), revoked \(revoked), offset \(offset): \(computed) instead of \(expected)")
                    return
                }
            }
        }
    }

    @Test(arguments: Backend.available)
    func searchFollowsRenamesAndHandlesShortTermsQuotesAndUnicode(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (old, _) = try await client.createKey(ws.adminToken, #"{"name": "edge gateway eu-west"}"#)
            for name in ["Überwachung Süd", #"say "hi" there"#, "ab", "edge router"] {
                _ = try await client.createKey(ws.adminToken, "{\"name\": \(JSONWriter.quote(name))}")
            }
            func search(_ term: String) async throws -> (names: [String], total: Int?) {
                let encoded = term.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let (_, json, _) = try await client.call(.get, "/v1/api-keys?search=\(encoded)", token: ws.adminToken)
                return (json["data"].array.compactMap { $0["name"].string }.sorted(), json["meta"]["total"].int)
            }
            #expect(try await search("edge").names == ["edge gateway eu-west", "edge router"])
            #expect(try await search("edge").total == 2)
            #expect(try await search("gateway eu").names == ["edge gateway eu-west"])
            #expect(try await search("ab").names == ["ab"], "two characters: below what a trigram index can look up")
            #expect(try await search("b").names.contains("ab"))
            #expect(try await search(#""hi""#).names == [#"say "hi" there"#])
            #expect(try await search("überwachung").names == ["Überwachung Süd"])
            #expect(try await search("SÜD").names == ["Überwachung Süd"])

            let id = try #require(old["id"].string)
            let (status, _, _) = try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: #"{"name": "core proxy"}"#)
            #expect(status == .ok)
            #expect(try await search("gateway").names == [])
            #expect(try await search("core prox").names == ["core proxy"])
            #expect(try await search("edge").total == 1)
        }
    }

    /// A database written by the schema before the counters (versions 1 and 2) is numbered and counted
    /// by the migration, and lists as it did.
    @Test(arguments: Backend.available)
    func migratingAnOlderDatabaseNumbersAndCountsItsKeys(_ backend: Backend) async throws {
        let logger = Logger(label: "keysmith-test")
        let location = backend.freshLocation()
        let store: SQLKeyStore
        var pool: Task<Void, any Error>?
        switch location {
        case .sqlite(let path):
            store = try await SQLKeyStore.sqlite(path: path, logger: logger)
        case .postgres(let url):
            let (opened, service) = try await SQLKeyStore.postgres(url: url, logger: logger)
            store = opened
            pool = Task { try await service.run() }
        }
        defer { pool?.cancel() }
        do {
            let old = SQLSchema.keyMigrations(store.dialect).prefix(2)
            try await store.database.transaction { db in
                _ = try await db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at \(raw: db.dialect.bigint) NOT NULL)")
                for (index, statements) in old.enumerated() {
                    for statement in statements { _ = try await db.execute(SQLStatement(stringLiteral: statement)) }
                    _ = try await db.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (\(index + 1), 0)")
                }
                _ = try await db.execute("INSERT INTO workspaces (id, name, created_at) VALUES ('ws_old', 'old', 1)")
                for index in 1...5 {
                    _ = try await db.execute("""
                        INSERT INTO api_keys (id, workspace_id, name, name_folded, scope, secret_hash, created_at, created_by, revoked_at)
                        VALUES (\("key\(index)"), 'ws_old', \("Old Key \(index)"), \("old key \(index)"), 'read', \(SQLValue.blob([1, 2, 3])),
                                \(1000 + index), 'cli', \(index == 2 ? Int64(5000) : nil))
                        """)
                }
            }
            try await store.migrate()
            try await store.migrateWebhooks()
            let page = try await store.listKeys(KeyListQuery(workspaceID: "ws_old", page: 1, limit: 10))
            #expect(page.total == 4)
            #expect(page.keys.map(\.id) == ["key5", "key4", "key3", "key1"])
            #expect(page.keys.allSatisfy { $0.permissions == ["*"] && $0.rateLimit == nil && $0.allowedIPs == nil })
            let all = try await store.listKeys(KeyListQuery(workspaceID: "ws_old", page: 2, limit: 2, includeRevoked: true))
            #expect(all.total == 5)
            #expect(all.keys.map(\.id) == ["key3", "key2"])
            let found = try await store.listKeys(KeyListQuery(workspaceID: "ws_old", search: "key 3"))
            #expect(found.keys.map(\.id) == ["key3"], "the search index is built from the rows already there")
            // New keys continue the numbering.
            let issued = try await KeyIssuer(store: store).issue(.init(workspaceID: "ws_old", name: "new", scope: .read, createdBy: "cli"))
            #expect(try await store.listKeys(KeyListQuery(workspaceID: "ws_old", limit: 1)).keys.map(\.id) == [issued.key.id])
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    }

    /// Rules of the gatekeeper are stored and read back as they were given, on both backends.
    @Test(arguments: Backend.available)
    func permissionsRateLimitsAndAddressRangesRoundTrip(_ backend: Backend) async throws {
        try await backend.freshLocation().withStore(logger: Logger(label: "keysmith-test")) { store in
            let (workspace, admin, _) = try await KeyIssuer(store: store).createWorkspace(named: "rules")
            var key = admin
            key.id = APIKeyToken.newKeyID()
            key.permissions = ["calls.read", "agents.*"]
            key.rateLimit = RateLimit(limit: 100, windowSeconds: 60)
            key.allowedIPs = [IPRange("203.0.113.0/24")!, IPRange("2001:db8::/32")!]
            try await store.insertKey(key)
            let read = try #require(try await store.key(id: key.id))
            #expect(read.permissions == key.permissions && read.rateLimit == key.rateLimit && read.allowedIPs == key.allowedIPs)

            let none = try #require(try await store.relabelKey(id: key.id, workspaceID: workspace.id,
                                                                change: KeyLabelChange(permissions: [], rateLimit: .some(nil), allowedIPs: .some([]))))
            #expect(none.permissions == [] && none.rateLimit == nil && none.allowedIPs == [])
            let any = try #require(try await store.relabelKey(id: key.id, workspaceID: workspace.id, change: KeyLabelChange(allowedIPs: .some(nil))))
            #expect(any.allowedIPs == nil && any.name == admin.name)
        }
    }
}
