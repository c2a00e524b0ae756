import Logging
import NIOCore
import NIOPosix
import SQLiteNIO

/// The embedded store: one SQLite file in WAL mode, SQLite bundled with sqlite-nio.
///
/// Writes go through one connection under an `AsyncLock`, so a transaction's queries never interleave
/// with another's; reads use a second connection and never wait for writes. SQLite's blocking calls run
/// on a thread pool of the store's own, so nothing else that blocks (DNS above all) can stall them.
/// `synchronous=FULL`: an acknowledged revocation survives a power loss, not only a crash.
public final class SQLiteKeyStore: KeyStore {
    let writer: SQLiteConnection
    let reader: SQLiteConnection
    private let threads: NIOThreadPool
    private let writeLock = AsyncLock()

    public static func open(path: String, logger: Logger) async throws -> SQLiteKeyStore {
        let threads = NIOThreadPool(numberOfThreads: 2)
        threads.start()
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        var opened: [SQLiteConnection] = []
        do {
            let writer = try await SQLiteConnection.open(storage: .file(path: path), threadPool: threads, logger: logger, on: eventLoop)
            opened.append(writer)
            _ = try await writer.query("PRAGMA journal_mode=WAL")
            _ = try await writer.query("PRAGMA synchronous=FULL")
            let reader = try await SQLiteConnection.open(storage: .file(path: path), threadPool: threads, logger: logger, on: eventLoop)
            return SQLiteKeyStore(writer: writer, reader: reader, threads: threads)
        } catch {
            // A file that cannot be opened (or is not a database) is an error, never a crash on deinit.
            for connection in opened { try? await connection.close() }
            try? await threads.shutdownGracefully()
            throw error
        }
    }

    private init(writer: SQLiteConnection, reader: SQLiteConnection, threads: NIOThreadPool) {
        self.writer = writer
        self.reader = reader
        self.threads = threads
    }

    public func close() async throws {
        try? await reader.close()
        try? await writer.close()
        try await threads.shutdownGracefully()
    }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction on the writer connection.
    ///
    /// A transaction, once begun, runs to its end even if the caller is cancelled: sqlite-nio refuses
    /// work from a cancelled task, and a refused `ROLLBACK` would leave the connection inside a transaction.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        try await Task {
            try await self.writeLock.withLock {
                _ = try await self.writer.query("BEGIN IMMEDIATE")
                do {
                    let result = try await body(self.writer)
                    _ = try await self.writer.query("COMMIT")
                    return result
                } catch {
                    _ = try? await self.writer.query("ROLLBACK")
                    throw error
                }
            }
        }.value
    }

    // MARK: Migrations

    public func migrate() async throws {
        try await transaction { db in
            _ = try await db.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            let applied = Set(try await db.query("SELECT version FROM schema_migrations").compactMap { $0.column("version")?.integer })
            for (version, statements) in SQLiteKeyStore.migrations.enumerated() where !applied.contains(version + 1) {
                for statement in statements { _ = try await db.query(statement) }
                _ = try await db.query(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    [.integer(version + 1), .integer(Int(Timestamp.now().milliseconds))]
                )
            }
        }
    }

    /// Versioned schema; append, never edit.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE workspaces (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL
            )
            """,
            """
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                workspace_id TEXT NOT NULL REFERENCES workspaces(id),
                name TEXT NOT NULL,
                name_folded TEXT NOT NULL,
                description TEXT,
                scope TEXT NOT NULL,
                secret_hash BLOB NOT NULL,
                service_account_id TEXT,
                created_at INTEGER NOT NULL,
                created_by TEXT NOT NULL,
                expires_at INTEGER,
                last_used_at INTEGER,
                last_used_ip TEXT,
                last_used_user_agent TEXT,
                revoked_at INTEGER
            )
            """,
            "CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, created_at DESC)",
            """
            CREATE TABLE key_changes (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                key_id TEXT NOT NULL,
                changed_at INTEGER NOT NULL
            )
            """,
            "CREATE INDEX key_changes_by_time ON key_changes (changed_at)",
        ],
        webhookMigration,
    ]

    // MARK: Workspaces

    public func createWorkspace(_ workspace: Workspace) async throws {
        try await transaction { db in
            if try await !db.query("SELECT 1 FROM workspaces WHERE name = ?", [.text(workspace.name)]).isEmpty {
                throw KeyStoreError.duplicateWorkspaceName
            }
            _ = try await db.query(
                "INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)",
                [.text(workspace.id), .text(workspace.name), .integer(Int(workspace.createdAt.milliseconds))]
            )
        }
    }

    public func workspace(id: String) async throws -> Workspace? {
        try await reader.query("SELECT * FROM workspaces WHERE id = ?", [.text(id)]).first.map(Self.workspace(from:))
    }

    public func workspace(named name: String) async throws -> Workspace? {
        try await reader.query("SELECT * FROM workspaces WHERE name = ?", [.text(name)]).first.map(Self.workspace(from:))
    }

    public func workspaceCount() async throws -> Int {
        try await reader.query("SELECT count(*) AS n FROM workspaces").first?.column("n")?.integer ?? 0
    }

    // MARK: Keys

    public func insertKeys(_ keys: [APIKey]) async throws {
        try await transaction { db in
            for key in keys {
                if try await !db.query("SELECT 1 FROM api_keys WHERE id = ?", [.text(key.id)]).isEmpty {
                    throw KeyStoreError.duplicateKeyID
                }
                _ = try await db.query(
                    """
                    INSERT INTO api_keys (id, workspace_id, name, name_folded, description, scope, secret_hash,
                        service_account_id, created_at, created_by, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(key.id), .text(key.workspaceID), .text(key.name), .text(KeyListQuery.fold(key.name)),
                        .optionalText(key.description), .text(key.scope.rawValue), .blob(ByteBuffer(bytes: key.secretHash.bytes)),
                        .optionalText(key.serviceAccountID), .timestamp(key.createdAt), .text(key.createdBy),
                        .optionalTimestamp(key.expiresAt),
                    ]
                )
                try await Self.enqueue(WebhookEvent.about(key, type: .keyCreated), on: db)
            }
            for key in keys { try await Self.noteChange(of: key.id, on: db) }
        }
    }

    public func key(id: String) async throws -> APIKey? {
        try await reader.query("SELECT * FROM api_keys WHERE id = ?", [.text(id)]).first.flatMap(Self.key(from:))
    }

    public func listKeys(_ query: KeyListQuery) async throws -> KeyPage {
        var conditions = ["workspace_id = ?"]
        var binds: [SQLiteData] = [.text(query.workspaceID)]
        if !query.includeRevoked || query.unusedSince != nil { conditions.append("revoked_at IS NULL") }
        if let pattern = query.likePattern {
            conditions.append("name_folded LIKE ? ESCAPE '\\'")
            binds.append(.text(pattern))
        }
        if let unusedSince = query.unusedSince {
            conditions.append("(last_used_at IS NULL OR last_used_at < ?)")
            binds.append(.timestamp(unusedSince))
        }
        let filter = conditions.joined(separator: " AND ")
        let total = try await reader.query("SELECT count(*) AS n FROM api_keys WHERE \(filter)", binds).first?.column("n")?.integer ?? 0
        let rows = try await reader.query(
            "SELECT * FROM api_keys WHERE \(filter) ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            binds + [.integer(query.limit), .integer(query.offset)]
        )
        return KeyPage(keys: rows.compactMap(Self.key(from:)), total: total)
    }

    public func relabelKey(id: String, workspaceID: String, change: KeyLabelChange) async throws -> APIKey? {
        try await transaction { db in
            guard var key = try await Self.activeKey(id: id, workspaceID: workspaceID, on: db) else { return nil }
            if let name = change.name { key.name = name }
            if let description = change.description { key.description = description }
            _ = try await db.query(
                "UPDATE api_keys SET name = ?, name_folded = ?, description = ? WHERE id = ?",
                [.text(key.name), .text(KeyListQuery.fold(key.name)), .optionalText(key.description), .text(id)]
            )
            try await Self.enqueue(WebhookEvent.about(key, type: .keyRenamed), on: db)
            try await Self.noteChange(of: id, on: db)
            return key
        }
    }

    public func revokeKey(id: String, workspaceID: String, at: Timestamp, allowingLastAdmin: Bool) async throws -> APIKey? {
        try await transaction { db in
            guard var key = try await Self.activeKey(id: id, workspaceID: workspaceID, on: db) else { return nil }
            if !allowingLastAdmin && key.scope == .admin && key.isUsable(at: at) {
                let others = try await db.query(
                    """
                    SELECT count(*) AS n FROM api_keys WHERE workspace_id = ? AND id <> ? AND scope = 'admin'
                        AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
                    """,
                    [.text(workspaceID), .text(id), .timestamp(at)]
                ).first?.column("n")?.integer ?? 0
                guard others > 0 else { throw KeyStoreError.lastAdminKey }
            }
            key.revokedAt = at
            _ = try await db.query("UPDATE api_keys SET revoked_at = ? WHERE id = ?", [.timestamp(at), .text(id)])
            try await Self.enqueue(WebhookEvent.about(key, type: .keyRevoked, at: at), on: db)
            try await Self.noteChange(of: id, on: db)
            return key
        }
    }

    public func recordUsage(_ usage: [String: KeyUsage]) async throws {
        guard !usage.isEmpty else { return }
        try await transaction { db in
            for (id, use) in usage {
                _ = try await db.query(
                    """
                    UPDATE api_keys SET last_used_at = ?, last_used_ip = ?, last_used_user_agent = ?
                    WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)
                    """,
                    [.timestamp(use.at), .optionalText(use.ip), .optionalText(use.userAgent), .text(id), .timestamp(use.at)]
                )
            }
        }
    }

    public func keysChanged(since: Timestamp?) async throws -> (changes: [KeyChange], cursor: Timestamp) {
        let now = Timestamp.now()
        guard let since else { return ([], now) }
        let rows = try await reader.query("SELECT seq, key_id FROM key_changes WHERE changed_at >= ?", [.timestamp(since)])
        let changes = rows.compactMap { row in
            row.column("key_id")?.string.map { KeyChange(seq: Int64(row.column("seq")?.integer ?? 0), keyID: $0) }
        }
        return (changes, now)
    }

    // MARK: Rows

    private static func activeKey(id: String, workspaceID: String, on db: SQLiteConnection) async throws -> APIKey? {
        try await db.query(
            "SELECT * FROM api_keys WHERE id = ? AND workspace_id = ? AND revoked_at IS NULL",
            [.text(id), .text(workspaceID)]
        ).first.flatMap(key(from:))
    }

    /// Records that a key changed, for the caches of other processes; prunes what no one can still need.
    /// Written last in its transaction, so that the entry's time is as close to the commit as it can be.
    private static func noteChange(of id: String, on db: SQLiteConnection) async throws {
        let now = Timestamp.now()
        _ = try await db.query("INSERT INTO key_changes (key_id, changed_at) VALUES (?, ?)", [.text(id), .timestamp(now)])
        _ = try await db.query("DELETE FROM key_changes WHERE changed_at < ?", [.timestamp(now.adding(milliseconds: -3_600_000))])
    }

    private static func workspace(from row: SQLiteRow) -> Workspace {
        Workspace(
            id: row.column("id")?.string ?? "",
            name: row.column("name")?.string ?? "",
            createdAt: Timestamp(milliseconds: Int64(row.column("created_at")?.integer ?? 0))
        )
    }

    static func key(from row: SQLiteRow) -> APIKey? {
        guard let id = row.column("id")?.string,
              let scope = row.column("scope")?.string.flatMap(Scope.init(rawValue:)),
              let hash = row.column("secret_hash")?.blob
        else { return nil }
        func text(_ name: String) -> String? { row.column(name)?.string }
        func time(_ name: String) -> Timestamp? { row.column(name)?.integer.map { Timestamp(milliseconds: Int64($0)) } }
        return APIKey(
            id: id,
            workspaceID: text("workspace_id") ?? "",
            name: text("name") ?? "",
            description: text("description"),
            scope: scope,
            secretHash: SecretHash(bytes: Array(buffer: hash)),
            serviceAccountID: text("service_account_id"),
            createdAt: time("created_at") ?? Timestamp(milliseconds: 0),
            createdBy: text("created_by") ?? "",
            expiresAt: time("expires_at"),
            lastUsed: time("last_used_at").map { KeyUsage(at: $0, ip: text("last_used_ip"), userAgent: text("last_used_user_agent")) },
            revokedAt: time("revoked_at")
        )
    }
}

extension SQLiteData {
    static func optionalText(_ value: String?) -> SQLiteData { value.map { .text($0) } ?? .null }
    static func timestamp(_ value: Timestamp) -> SQLiteData { .integer(Int(value.milliseconds)) }
    static func optionalTimestamp(_ value: Timestamp?) -> SQLiteData { value.map(timestamp) ?? .null }
}
