import Logging
import ServiceLifecycle

/// The key store, written once over `SQLDatabase`: every operation's SQL and row mapping exist one time,
/// and run on SQLite (`SQLiteFile`, embedded) or PostgreSQL (`PostgresPool`, many instances).
/// What the dialects disagree on is in `SQLDialect`.
///
/// Every method is one transaction, or one statement. Values are always bound, never spliced.
public final class SQLKeyStore: KeyStore {
    let database: any SQLDatabase
    var dialect: SQLDialect { database.dialect }

    init(database: any SQLDatabase) {
        self.database = database
    }

    /// The embedded store in one SQLite file.
    public static func sqlite(path: String, logger: Logger) async throws -> SQLKeyStore {
        SQLKeyStore(database: try await SQLiteFile.open(path: path, logger: logger))
    }

    /// The shared store on PostgreSQL, and the connection pool's service, which must run for it to work.
    public static func postgres(url: String, logger: Logger) async throws -> (store: SQLKeyStore, service: any Service) {
        try await PostgresPool.checkConnection(url: url, logger: logger)
        let database = try PostgresPool(url: url, logger: logger)
        return (SQLKeyStore(database: database), database)
    }

    public func close() async throws { try await database.close() }

    public var operationsInFlight: Int { database.operationsInFlight }

    // MARK: Migrations

    public func migrate() async throws {
        try await migrate(SQLSchema.keyMigrations(dialect), recordedIn: "schema_migrations", lock: 7305643216849)
    }

    public func migrateWebhooks() async throws {
        try await migrate(SQLSchema.webhookMigrations(dialect), recordedIn: "webhook_schema_migrations", lock: 7305643216850)
    }

    /// Applies the versions not yet recorded; one instance at a time, the others wait and find nothing to do.
    private func migrate(_ versions: [[String]], recordedIn table: String, lock: Int64) async throws {
        try await database.transaction { db in
            if let lock = db.dialect.advisoryLock(lock) { _ = try await db.execute(lock) }
            _ = try await db.execute("CREATE TABLE IF NOT EXISTS \(raw: table) (version INTEGER PRIMARY KEY, applied_at \(raw: db.dialect.bigint) NOT NULL)")
            let applied = Set(try await db.execute("SELECT version FROM \(raw: table)").compactMap { $0.int("version") })
            for (index, statements) in versions.enumerated() where !applied.contains(index + 1) {
                for statement in statements { _ = try await db.execute(SQLStatement(stringLiteral: statement)) }
                _ = try await db.execute("INSERT INTO \(raw: table) (version, applied_at) VALUES (\(index + 1), \(raw: db.dialect.now))")
            }
        }
    }

    // MARK: Workspaces

    public func createWorkspace(_ workspace: Workspace) async throws {
        do {
            _ = try await database.transaction { db in
                try await db.execute("INSERT INTO workspaces (id, name, created_at) VALUES (\(workspace.id), \(workspace.name), \(workspace.createdAt))")
            }
        } catch where database.isUniqueViolation(error) {
            throw KeyStoreError.duplicateWorkspaceName
        }
    }

    public func workspace(id: String) async throws -> Workspace? {
        try await database.first("SELECT id, name, created_at FROM workspaces WHERE id = \(id)").map(Self.workspace(from:))
    }

    public func workspace(named name: String) async throws -> Workspace? {
        try await database.first("SELECT id, name, created_at FROM workspaces WHERE name = \(name)").map(Self.workspace(from:))
    }

    public func workspaceCount() async throws -> Int {
        try await database.first("SELECT count(*) AS n FROM workspaces")?.int("n") ?? 0
    }

    // MARK: Keys

    /// Rows per multi-row `INSERT`: under both dialects' limits on bound values (SQLite 32,766).
    static let rowsPerInsert = 500

    public func insertKeys(_ keys: [APIKey], activeKeyLimit: Int?, audit: AuditContext?) async throws {
        guard !keys.isEmpty else { return }
        do {
            try await database.transaction { db in
                // The events and audit entries first: the workspace's row, locked by the counter update
                // below until the commit, is then held only for the keys themselves.
                try await Self.enqueue(.keyCreated, about: keys, on: db)
                if let audit { try await Self.record(keys.map { Self.created($0, by: audit) }, on: db) }
                // Each key takes the next number of its workspace, in the order given: the list's order.
                var ordinals = [Int64](repeating: 0, count: keys.count)
                var positions: [String: [Int]] = [:]
                for (index, key) in keys.enumerated() { positions[key.workspaceID, default: []].append(index) }
                for (workspaceID, indices) in positions {
                    guard let counts = try await db.first(
                        "UPDATE workspaces SET key_count = key_count + \(indices.count) WHERE id = \(workspaceID) RETURNING key_count, revoked_key_count"
                    ), let last = counts.integer("key_count") else { throw KeyStoreError.unknownWorkspace }
                    if let activeKeyLimit, last - (counts.integer("revoked_key_count") ?? 0) > Int64(activeKeyLimit) {
                        throw KeyStoreError.activeKeyQuota(limit: activeKeyLimit)  // the transaction is rolled back
                    }
                    for (offset, index) in indices.enumerated() { ordinals[index] = last - Int64(indices.count) + 1 + Int64(offset) }
                }
                for chunk in keys.indices.chunked(Self.rowsPerInsert) {
                    _ = try await db.execute("""
                        INSERT INTO api_keys (id, workspace_id, ordinal, name, name_folded, description, scope, secret_hash,
                            service_account_id, created_at, created_by, expires_at, permissions, rate_limit, rate_window_seconds, allowed_ips,
                            enabled, metadata, key_prefix, rolled_from)
                        \(SQLStatement.values(chunk) { Self.columns(of: keys[$0], ordinal: ordinals[$0]) })
                        """)
                }
                // No change-feed entry: no cache holds a fresh SecureRandom id or its absence (a hand-written row
                // waits out `KeyCache.absenceTTL`), and each entry is re-read on every poll (docs/performance.md).
            }
        } catch where database.isUniqueViolation(error) {
            throw KeyStoreError.duplicateKeyID
        }
    }

    public func key(id: String) async throws -> APIKey? {
        try await database.first("SELECT * FROM api_keys WHERE id = \(id)").flatMap(Self.key(from:))
    }

    /// Newest first (by the workspace's own numbering). Without a search or dormancy filter, `total` is
    /// the workspace's counters, and a page is found without counting or skipping the rows before it
    /// when it can be: while no key of the workspace is revoked, numbers are dense, so page `p` is a range
    /// of them; otherwise the rows before it are skipped on the active-keys index, from whichever end of
    /// the list is nearer.
    public func listKeys(_ query: KeyListQuery) async throws -> KeyPage {
        let activeOnly = !query.includeRevoked || query.unusedSince != nil
        let term = query.search.map(KeyListQuery.fold)
        // With a search the name index drives; the workspace's own index, which orders the list, would
        // otherwise be walked key by key (`SQLDialect.workspaceColumn`).
        let searching = term != nil && query.likePattern != nil
        var filter: SQLStatement = "\(raw: dialect.workspaceColumn(searching: searching ? term : nil)) = \(query.workspaceID)"
        if activeOnly { filter = "\(filter) AND revoked_at IS NULL" }
        if let term, let pattern = query.likePattern {
            filter = "\(filter) AND \(dialect.nameMatches(term: term, pattern: pattern))"
        }
        if let unusedSince = query.unusedSince {
            filter = "\(filter) AND (last_used_at IS NULL OR last_used_at < \(unusedSince))"
        }

        if query.likePattern != nil || query.unusedSince != nil {
            // One evaluation of the filter gives the page and the count of every match.
            let rows = try await database.execute("""
                SELECT *, count(*) OVER () AS total_matches FROM api_keys WHERE \(filter)
                ORDER BY ordinal DESC LIMIT \(query.limit) OFFSET \(query.offset)
                """)
            // Past the last page no row carries the count.
            let total = if let row = rows.first { row.int("total_matches") ?? 0 } else if query.offset == 0 { 0 } else {
                try await database.first("SELECT count(*) AS n FROM api_keys WHERE \(filter)")?.int("n") ?? 0
            }
            return KeyPage(keys: rows.compactMap(Self.key(from:)), total: total)
        }

        guard let counts = try await database.first(
            "SELECT key_count, revoked_key_count FROM workspaces WHERE id = \(query.workspaceID)"
        ) else { return KeyPage(keys: [], total: 0) }
        let all = counts.int("key_count") ?? 0
        let revoked = counts.int("revoked_key_count") ?? 0
        let total = activeOnly ? all - revoked : all
        guard query.offset < total else { return KeyPage(keys: [], total: total) }
        let count = min(query.limit, total - query.offset)
        let rows: [any SQLRow]
        if !activeOnly || revoked == 0 {
            let top = all - query.offset
            rows = try await database.execute(
                "SELECT * FROM api_keys WHERE \(filter) AND ordinal <= \(top) AND ordinal > \(top - count) ORDER BY ordinal DESC"
            )
        } else if revoked <= Self.revokedNumbersRead {
            // Where the page starts, from the numbers of the revoked keys: no rows are skipped at all.
            let numbers = try await database.execute("""
                SELECT ordinal FROM api_keys WHERE workspace_id = \(query.workspaceID) AND revoked_at IS NOT NULL ORDER BY ordinal
                """).compactMap { $0.integer("ordinal") }
            let top = Self.activeNumber(after: query.offset, of: Int64(all), revoked: numbers)
            rows = try await database.execute("""
                SELECT * FROM api_keys WHERE \(filter) AND ordinal <= \(top) ORDER BY ordinal DESC LIMIT \(count)
                """)
        } else if query.offset > total / 2 {
            rows = try await database.execute(
                "SELECT * FROM api_keys WHERE \(filter) ORDER BY ordinal ASC LIMIT \(count) OFFSET \(total - query.offset - count)"
            ).reversed()
        } else {
            rows = try await database.execute(
                "SELECT * FROM api_keys WHERE \(filter) ORDER BY ordinal DESC LIMIT \(count) OFFSET \(query.offset)"
            )
        }
        return KeyPage(keys: rows.compactMap(Self.key(from:)), total: total)
    }

    /// Up to this many revoked keys, a page's start is computed from their numbers; past it the rows before
    /// the page are skipped on the index, slow deep in a large list (docs/performance.md).
    static let revokedNumbersRead = 10_000

    /// The number of the active key that has `offset` active keys above it, newest first, when keys are
    /// numbered 1 to `count` and `revoked` (ascending) are the revoked ones.
    static func activeNumber(after offset: Int, of count: Int64, revoked: [Int64]) -> Int64 {
        // Revoked keys numbered above `x`: those past the first index whose number exceeds it.
        func revokedAbove(_ x: Int64) -> Int64 {
            var low = 0, high = revoked.count
            while low < high {
                let middle = (low + high) / 2
                if revoked[middle] > x { high = middle } else { low = middle + 1 }
            }
            return Int64(revoked.count - low)
        }
        var x = count - Int64(offset)
        while true {
            let activeAbove = (count - x) - revokedAbove(x)
            if activeAbove < Int64(offset) { x -= Int64(offset) - activeAbove; continue }
            // `x` itself may be revoked: the active key is the next one down that is not.
            var index = revoked.count - Int(revokedAbove(x)) - 1
            while index >= 0, revoked[index] == x { x -= 1; index -= 1 }
            return x
        }
    }

    public func relabelKey(id: String, workspaceID: String, change: KeyLabelChange, authority: KeyAuthority?, audit: AuditContext?) async throws -> APIKey? {
        var assignments: [SQLStatement] = []
        if let name = change.name { assignments += ["name = \(name)", "name_folded = \(KeyListQuery.fold(name))"] }
        if let description = change.description { assignments.append("description = \(description)") }
        if let permissions = change.permissions { assignments.append("permissions = \(Self.permissionsColumn(permissions))") }
        if let rateLimit = change.rateLimit {
            assignments += ["rate_limit = \(rateLimit?.limit)", "rate_window_seconds = \(rateLimit?.windowSeconds)"]
        }
        if let allowedIPs = change.allowedIPs { assignments.append("allowed_ips = \(Self.allowedIPsColumn(allowedIPs))") }
        if let enabled = change.enabled { assignments.append("enabled = \(enabled)") }
        if let metadata = change.metadata { assignments.append("metadata = \(metadata)") }
        if assignments.isEmpty { assignments.append("name = name") }
        let set = SQLStatement.joined(assignments, separator: ", ")
        return try await database.transaction { db in
            if change.enabled == false {
                // Disabling is refused for the workspace's last usable admin key, as revoking is.
                _ = try await db.execute("SELECT id FROM workspaces WHERE id = \(workspaceID)\(raw: db.dialect.forUpdate)")
            }
            guard let old = try await db.first(
                "SELECT * FROM api_keys WHERE id = \(id) AND workspace_id = \(workspaceID) AND revoked_at IS NULL\(raw: db.dialect.forUpdate)"
            ).flatMap(Self.key(from:)) else { return nil }
            try authority?.requireManages(old)
            if change.enabled == false, old.enabled, old.scope == .admin, old.isUsable(at: .now()) {
                guard try await Self.anotherUsableAdmin(than: id, in: workspaceID, at: .now(), on: db) else { throw KeyStoreError.lastAdminKey }
            }
            guard let row = try await db.first("UPDATE api_keys SET \(set) WHERE id = \(id) AND revoked_at IS NULL RETURNING *"),
                  let key = Self.key(from: row)
            else { return nil }
            if old.name != key.name || old.description != key.description { try await Self.enqueue(.keyRenamed, about: [key], on: db) }
            if old.enabled != key.enabled { try await Self.enqueue(key.enabled ? .keyEnabled : .keyDisabled, about: [key], on: db) }
            if let audit { try await Self.record(Self.changes(from: old, to: key, by: audit), on: db) }
            try await Self.noteChanges(of: [id], on: db)
            return key
        }
    }

    public func revokeKey(id: String, workspaceID: String, at: Timestamp, allowingLastAdmin: Bool, authority: KeyAuthority?,
                          audit: AuditContext?) async throws -> APIKey? {
        try await database.transaction { db in
            // The workspace row is the lock: two revocations of its last two admin keys take turns. Its
            // counters change in this transaction anyway.
            _ = try await db.execute("SELECT id FROM workspaces WHERE id = \(workspaceID)\(raw: db.dialect.forUpdate)")
            guard let current = try await db.first(
                "SELECT * FROM api_keys WHERE id = \(id) AND workspace_id = \(workspaceID) AND revoked_at IS NULL"
            ).flatMap(Self.key(from:)) else { return nil }
            try authority?.requireManages(current)
            if !allowingLastAdmin && current.scope == .admin && current.isUsable(at: at) {
                guard try await Self.anotherUsableAdmin(than: id, in: workspaceID, at: at, on: db) else { throw KeyStoreError.lastAdminKey }
            }
            guard let key = try await Self.revoke(id, in: workspaceID, at: at, on: db) else { return nil }
            if let audit { try await Self.record([AuditEvent(workspaceID: workspaceID, at: at, context: audit, action: .keyRevoked, targetID: id)], on: db) }
            try await Self.noteChanges(of: [id], on: db)
            return key
        }
    }

    public func rollKey(id: String, workspaceID: String, at: Timestamp, graceSeconds: Int, authority: KeyAuthority?, audit: AuditContext?,
                        successor: @escaping @Sendable (APIKey) -> APIKey) async throws -> (old: APIKey, new: APIKey)? {
        do {
            return try await database.transaction { db in
                _ = try await db.execute("SELECT id FROM workspaces WHERE id = \(workspaceID)\(raw: db.dialect.forUpdate)")
                guard let old = try await db.first(
                    "SELECT * FROM api_keys WHERE id = \(id) AND workspace_id = \(workspaceID) AND revoked_at IS NULL"
                ).flatMap(Self.key(from:)) else { return nil }
                try authority?.requireManages(old)
                guard !old.isExpired(at: at) else { throw KeyStoreError.expiredKey }
                var new = successor(old)
                new.rolledFrom = old.id
                guard let last = try await db.first(
                    "UPDATE workspaces SET key_count = key_count + 1 WHERE id = \(workspaceID) RETURNING key_count"
                )?.integer("key_count") else { throw KeyStoreError.unknownWorkspace }
                _ = try await db.execute("""
                    INSERT INTO api_keys (id, workspace_id, ordinal, name, name_folded, description, scope, secret_hash,
                        service_account_id, created_at, created_by, expires_at, permissions, rate_limit, rate_window_seconds, allowed_ips,
                        enabled, metadata, key_prefix, rolled_from)
                    \(SQLStatement.values([new]) { Self.columns(of: $0, ordinal: last) })
                    """)
                let retired: APIKey
                if graceSeconds == 0 {
                    guard let revoked = try await Self.revoke(id, in: workspaceID, at: at, on: db) else { return nil }
                    retired = revoked
                } else {
                    let graceEnd = at.adding(milliseconds: Int64(graceSeconds) * 1000)
                    let expiry = old.expiresAt.map { min($0, graceEnd) } ?? graceEnd
                    guard let row = try await db.first("UPDATE api_keys SET expires_at = \(expiry) WHERE id = \(id) RETURNING *"),
                          let updated = Self.key(from: row)
                    else { return nil }
                    retired = updated
                }
                try await Self.enqueue(.keyRolled, about: [new], on: db)
                if let audit {
                    try await Self.record([Self.created(new, by: audit), Self.rolled(old, to: retired, successor: new, grace: graceSeconds, by: audit)], on: db)
                }
                try await Self.noteChanges(of: [old.id, new.id], on: db)
                return (retired, new)
            }
        } catch where database.isUniqueViolation(error) {
            throw KeyStoreError.duplicateKeyID
        }
    }

    /// Revokes a key that is not revoked yet, with its counter and event, inside the caller's transaction.
    private static func revoke(_ id: String, in workspaceID: String, at: Timestamp, on db: any SQLExecutor) async throws -> APIKey? {
        guard let row = try await db.first("UPDATE api_keys SET revoked_at = \(at) WHERE id = \(id) AND revoked_at IS NULL RETURNING *"),
              let key = key(from: row)
        else { return nil }
        _ = try await db.execute("UPDATE workspaces SET revoked_key_count = revoked_key_count + 1 WHERE id = \(workspaceID)")
        try await enqueue(.keyRevoked, about: [key], at: at, on: db)
        return key
    }

    /// Whether the workspace has a usable admin key other than `id`: it stops at the first it finds.
    private static func anotherUsableAdmin(than id: String, in workspaceID: String, at: Timestamp, on db: any SQLExecutor) async throws -> Bool {
        try await db.first("""
            SELECT 1 AS found FROM api_keys WHERE workspace_id = \(workspaceID) AND id <> \(id) AND scope = 'admin'
                AND revoked_at IS NULL AND enabled = TRUE AND (expires_at IS NULL OR expires_at > \(at)) LIMIT 1
            """) != nil
    }

    public func recordUsage(_ usage: [String: KeyUsage]) async throws {
        guard !usage.isEmpty else { return }
        let uses = Array(usage)
        try await database.transaction { db in
            for chunk in uses.indices.chunked(1000) {
                // Never moves last_used_at backwards. `column1`… are the names both dialects give VALUES columns.
                _ = try await db.execute("""
                    UPDATE api_keys SET last_used_at = u.column2, last_used_ip = u.column3, last_used_user_agent = u.column4
                    FROM (\(SQLStatement.values(chunk) { [.text(uses[$0].key), .integer(uses[$0].value.at.milliseconds), .text(uses[$0].value.ip), .text(uses[$0].value.userAgent)] })) AS u
                    WHERE api_keys.id = u.column1 AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at <= u.column2)
                    """)
            }
        }
    }

    public func keysChanged(since: Timestamp?) async throws -> (changes: [KeyChange], cursor: Timestamp) {
        // The cursor is read before the entries, so an entry written meanwhile is read (again) next time.
        let now = try await database.first("SELECT \(raw: dialect.now) AS now")?.time("now") ?? .now()
        guard let since else { return ([], now) }
        let rows = try await database.execute("SELECT seq, key_id FROM key_changes WHERE changed_at >= \(since)")
        let changes = rows.compactMap { row in row.text("key_id").map { KeyChange(seq: row.integer("seq") ?? 0, keyID: $0) } }
        return (changes, now)
    }

    /// Records that keys changed, for the caches of other processes, at the database's clock, and prunes
    /// what no one can still need. Written last in its transaction, so its time is close to the commit.
    static func noteChanges(of ids: [String], on db: any SQLExecutor) async throws {
        for chunk in ids.chunked(Self.rowsPerInsert) {
            _ = try await db.execute("""
                INSERT INTO key_changes (key_id, changed_at)
                SELECT column1, \(raw: db.dialect.now) FROM (\(SQLStatement.values(chunk) { [.text($0)] })) AS changed
                """)
        }
        // The cutoff in a subquery: PostgreSQL reads `clock_timestamp()` once and uses the changed_at index; written
        // directly, the clock is read per row, a scan of the whole feed per key transaction (docs/performance.md).
        _ = try await db.execute("DELETE FROM key_changes WHERE changed_at < (SELECT \(raw: db.dialect.now) - 3600000)")
    }
}

extension Collection {
    /// Consecutive slices of at most `size` elements.
    func chunked(_ size: Int) -> [SubSequence] {
        var chunks: [SubSequence] = []
        var start = startIndex
        while start != endIndex {
            let end = index(start, offsetBy: size, limitedBy: endIndex) ?? endIndex
            chunks.append(self[start..<end])
            start = end
        }
        return chunks
    }
}
