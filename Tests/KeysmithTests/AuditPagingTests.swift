import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import Keysmith
@testable import KeysmithCore

/// Pages of `GET /v1/audit-events` are ranges of the workspace's audit numbers (no rows skipped); they must
/// be exactly the slices of the whole log, before and after retention deletes its oldest entries.
@Suite struct AuditPagingTests {
    /// Every page, of every size, matches the same page of the action-filtered log (read by counting and
    /// skipping, as before) and the order the keys were created in, newest first.
    @Test(arguments: Backend.available)
    func everyPageIsTheSliceOfTheWholeLogBeforeAndAfterRetention(_ backend: Backend) async throws {
        let clock = TestClock(frozen: true)
        try await withApp(backend, configure: { $0.clock = clock.now }) { client, ws in
            let issuer = KeyIssuer(store: ws.store, clock: clock.now)
            let audit = AuditContext(actor: ws.adminKeyID)
            func issue(_ count: Int, in workspaceID: String) async throws -> [String] {
                try await issuer.issue((0..<count).map { .init(workspaceID: workspaceID, name: "k\($0)", scope: .read, createdBy: ws.adminKeyID) },
                                       audit: audit).map(\.key.id)
            }
            let old = try await issue(40, in: ws.workspace.id)
            // Another workspace's entries in between: each workspace numbers its own.
            let (other, _, _) = try await KeyIssuer(store: ws.store, clock: clock.now).createWorkspace(named: "other-\(UUID().uuidString.prefix(8))")
            _ = try await issue(9, in: other.id)
            clock.advance(seconds: 3600)
            var recent: [String] = []
            for _ in 0..<3 { recent += try await issue(25, in: ws.workspace.id) }

            func ids(_ query: String) async throws -> (ids: [String], total: Int?) {
                let (status, json, _) = try await client.call(.get, "/v1/audit-events?\(query)", token: ws.adminToken)
                #expect(status == .ok, "\(query)")
                return (json["data"].array.compactMap { $0["target_id"].string }, json["meta"]["total"].int)
            }
            func expectPages(_ expected: [String]) async throws {
                for limit in [1, 7, 100] {
                    for page in 1...(expected.count / limit + 2) {
                        let (listed, total) = try await ids("page=\(page)&limit=\(limit)")
                        let (filtered, filteredTotal) = try await ids("page=\(page)&limit=\(limit)&action=api_key.created")
                        let start = min(expected.count, (page - 1) * limit)
                        #expect(listed == Array(expected[start..<min(expected.count, start + limit)]), "page \(page) of \(limit)")
                        #expect(listed == filtered && total == expected.count && filteredTotal == total, "page \(page) of \(limit)")
                    }
                }
                let (deep, total) = try await ids("page=1000000&limit=100")
                #expect(deep.isEmpty && total == expected.count)
            }
            // The workspace's first key, then the old keys, then the recent ones: newest first.
            try await expectPages((([ws.adminKeyID] + old + recent)).reversed())

            let deleted = try await ws.store.pruneAuditEvents(before: clock.read().adding(milliseconds: -1_800_000))
            #expect(deleted == 1 + 40 + 9 + 1, "the old entries of both workspaces (and the other's first key)")
            try await expectPages(recent.reversed())
            // New entries continue the numbering above what retention left.
            let newest = try await issue(3, in: ws.workspace.id)
            try await expectPages((recent + newest).reversed())
        }
    }

    /// A database written before the audit log was numbered (schema versions 1 to 5) is numbered by the
    /// migration, per workspace in the order the entries were written, and lists as it did.
    @Test(arguments: Backend.available)
    func migratingAnOlderDatabaseNumbersItsAuditLog(_ backend: Backend) async throws {
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
            let old = SQLSchema.keyMigrations(store.dialect).prefix(5)
            try await store.database.transaction { db in
                _ = try await db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at \(raw: db.dialect.bigint) NOT NULL)")
                for (index, statements) in old.enumerated() {
                    for statement in statements { _ = try await db.execute(SQLStatement(stringLiteral: statement)) }
                    _ = try await db.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (\(index + 1), 0)")
                }
                for workspace in ["ws_a", "ws_b"] {
                    _ = try await db.execute("INSERT INTO workspaces (id, name, created_at) VALUES (\(workspace), \(workspace), 1)")
                }
                for index in 1...7 {
                    // Interleaved: a, b, a, b, …
                    _ = try await db.execute("""
                        INSERT INTO audit_events (id, workspace_id, at, actor, action, target_type, target_id, changes)
                        VALUES (\("ev\(index)"), \(index % 2 == 1 ? "ws_a" : "ws_b"), \(Int64(1000 + index)), 'cli', 'api_key.created',
                                'api_key', \("key\(index)"), '{}')
                        """)
                }
            }
            try await store.migrate()
            try await store.migrateWebhooks()
            let a = try await store.auditEvents(AuditQuery(workspaceID: "ws_a", page: 1, limit: 10))
            #expect(a.total == 4 && a.events.map(\.targetID) == ["key7", "key5", "key3", "key1"])
            let b = try await store.auditEvents(AuditQuery(workspaceID: "ws_b", page: 2, limit: 2))
            #expect(b.total == 3 && b.events.map(\.targetID) == ["key2"])
            // New entries continue each workspace's numbering.
            let issued = try await KeyIssuer(store: store).issue(.init(workspaceID: "ws_b", name: "new", scope: .read, createdBy: "cli"),
                                                                 audit: AuditContext(actor: "cli"))
            let after = try await store.auditEvents(AuditQuery(workspaceID: "ws_b", page: 1, limit: 2))
            #expect(after.total == 4 && after.events.map(\.targetID) == [issued.key.id, "key6"])
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    }
}
