import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The store for many instances: PostgreSQL through PostgresNIO's pooled `PostgresClient`, which runs as a
/// service. Every value goes through query interpolation (bound parameters). Times come from the
/// database's clock, so the change feed is consistent across instances whatever their clocks say.
public final class PostgresKeyStore: KeyStore, Service {
    let client: PostgresClient
    let logger: Logger

    public init(url: String, logger: Logger) throws {
        self.client = PostgresClient(configuration: try Self.configuration(from: url), backgroundLogger: logger)
        self.logger = logger
    }

    public func run() async { await client.run() }

    public func close() async throws {}

    /// `postgres://user:password@host:port/database?sslmode=disable|prefer|require`. The user and password
    /// are percent-decoded once; `sslmode` defaults to `require`, or `prefer` on loopback.
    struct URLParts {
        var host: String
        var port: Int
        var username: String
        var password: String?
        var database: String?
        var sslMode: String

        init(_ url: String) throws {
            guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
                throw StoreConfigurationError("cannot read the PostgreSQL URL; expected postgres://user:password@host:5432/database")
            }
            self.host = host
            self.port = components.port ?? 5432
            self.username = components.percentEncodedUser.map(Self.decodeOnce) ?? "postgres"
            self.password = components.percentEncodedPassword.map(Self.decodeOnce)
            let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
            self.database = database.isEmpty ? nil : database
            self.sslMode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? (Self.isLoopback(host) ? "prefer" : "require")
            guard ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(sslMode) else {
                throw StoreConfigurationError("unknown sslmode '\(sslMode)'; use disable, prefer or require")
            }
        }

        static func decodeOnce(_ text: String) -> String { text.removingPercentEncoding ?? text }

        static func isLoopback(_ host: String) -> Bool {
            let host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            if host == "localhost" || host.hasPrefix("/") { return true }  // a socket directory is local too
            guard let address = IPAddress(host) else { return false }
            return IPRange("127.0.0.0/8")!.contains(address) || address == IPAddress("::1")
        }

        /// Where, without the password: for error messages.
        var description: String { "\(host):\(port)/\(database ?? username)" }
    }

    static func configuration(from url: String) throws -> PostgresClient.Configuration {
        let parts = try URLParts(url)
        let tls: PostgresClient.Configuration.TLS = switch parts.sslMode {
        case "disable": .disable
        case "allow", "prefer": .prefer(.makeClientConfiguration())
        default: .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: parts.host, port: parts.port, username: parts.username, password: parts.password, database: parts.database, tls: tls
        )
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.maximumConnections = 20
        return configuration
    }

    /// Connects once, so that a wrong host, password or database is one clear error at start rather
    /// than a pool retrying in the background.
    public static func checkConnection(url: String, logger: Logger) async throws {
        let parts = try URLParts(url)
        let tls: PostgresConnection.Configuration.TLS = switch parts.sslMode {
        case "disable": .disable
        case "allow", "prefer": .prefer(try .init(configuration: .makeClientConfiguration()))
        default: .require(try .init(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: parts.host, port: parts.port, username: parts.username, password: parts.password, database: parts.database, tls: tls
        )
        configuration.options.connectTimeout = .seconds(10)
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            try await connection.close()
        } catch let error as PSQLError {
            let reason = error.serverInfo?[.message] ?? error.underlying.map { "\($0)" } ?? "\(error.code)"
            throw StoreConfigurationError("cannot connect to PostgreSQL at \(parts.description): \(reason)")
        }
    }

    // MARK: Queries

    /// How long a request waits for a connection before it is answered with a 503.
    static let operationTimeout: Duration = .seconds(5)

    /// Runs `body` in a task of its own, so that a caller's cancellation never interrupts a transaction
    /// half-way, and gives up waiting for a connection after `operationTimeout`. Errors of reaching the
    /// database become `StoreUnavailable` (a 503); the pool reconnects by itself when the database is back.
    private func available<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let work = Task { try await body() }
        let timedOut = Mutex(false)
        let timer = Task {
            try await Task.sleep(for: Self.operationTimeout)
            timedOut.withLock { $0 = true }
            work.cancel()  // PostgresNIO stops waiting for a connection; a running statement is not cut off
        }
        defer { timer.cancel() }
        do {
            return try await work.value
        } catch let error where timedOut.withLock({ $0 }) || Self.isConnectionProblem(error) {
            throw StoreUnavailable(String(String(describing: error).prefix(300)))
        }
    }

    /// True for errors of reaching the database, as opposed to errors of a statement.
    static func isConnectionProblem(_ error: any Error) -> Bool {
        switch error {
        case let error as PSQLError:
            guard let state = error.serverInfo?[.sqlState] else { return true }
            return state.hasPrefix("08") || state.hasPrefix("57P")  // connection exceptions, shutdowns
        case let error as PostgresTransactionError:
            return [error.beginError, error.closureError, error.commitError].compactMap { $0 }.contains(where: isConnectionProblem)
        default:
            return String(describing: type(of: error)) == "ConnectionPoolError"
        }
    }

    /// The SQLSTATE of a statement's error, also when PostgresNIO wrapped it in a transaction error.
    static func sqlState(of error: any Error) -> String? {
        switch error {
        case let error as PSQLError: error.serverInfo?[.sqlState]
        case let error as PostgresTransactionError: error.closureError.flatMap(sqlState(of:)) ?? error.commitError.flatMap(sqlState(of:))
        default: nil
        }
    }

    /// One statement on a pooled connection, its rows read in full.
    @discardableResult
    func query(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await available { [client, logger] in
            try await client.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
        }
    }

    /// A transaction, once begun, runs to its end even if the caller is cancelled (see `available`).
    @discardableResult
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await available { [client, logger] in
                try await client.withTransaction(logger: logger) { connection in try await body(connection) }
            }
        } catch let error as PostgresTransactionError {
            // The store's own refusals (a conflict, say) come out as themselves, as they do on SQLite.
            if let refusal = error.closureError as? KeyStoreError { throw refusal }
            throw error
        }
    }

    static func rows(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        try await connection.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }

    // MARK: Migrations

    public func migrate() async throws {
        try await transaction { [logger] connection in
            // One instance migrates at a time; the others wait here and then find nothing to do.
            try await connection.query("SELECT pg_advisory_xact_lock(7305643216849)", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
                logger: logger
            )
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger).decode(Int.self) {
                applied.insert(version)
            }
            for (index, statements) in Self.migrations.enumerated() where !applied.contains(index + 1) {
                for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                let version = index + 1
                try await connection.query(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (\(version), \(Timestamp.now().milliseconds))",
                    logger: logger
                )
            }
        }
    }

    static let now = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

    /// Versioned schema; append, never edit.
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE workspaces (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                created_at BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                seq BIGSERIAL NOT NULL,
                workspace_id TEXT NOT NULL REFERENCES workspaces(id),
                name TEXT NOT NULL,
                name_folded TEXT NOT NULL,
                description TEXT,
                scope TEXT NOT NULL,
                secret_hash BYTEA NOT NULL,
                service_account_id TEXT,
                created_at BIGINT NOT NULL,
                created_by TEXT NOT NULL,
                expires_at BIGINT,
                last_used_at BIGINT,
                last_used_ip TEXT,
                last_used_user_agent TEXT,
                revoked_at BIGINT
            )
            """,
            "CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, created_at DESC, seq DESC)",
            """
            CREATE TABLE key_changes (
                seq BIGSERIAL PRIMARY KEY,
                key_id TEXT NOT NULL,
                changed_at BIGINT NOT NULL DEFAULT \(now)
            )
            """,
            "CREATE INDEX key_changes_by_time ON key_changes (changed_at)",
        ],
        webhookMigration,
    ]

    // MARK: Workspaces

    public func createWorkspace(_ workspace: Workspace) async throws {
        do {
            try await transaction { [logger] connection in
                try await connection.query(
                    "INSERT INTO workspaces (id, name, created_at) VALUES (\(workspace.id), \(workspace.name), \(workspace.createdAt.milliseconds))",
                    logger: logger
                )
            }
        } catch let error where Self.sqlState(of: error) == "23505" {
            throw KeyStoreError.duplicateWorkspaceName
        }
    }

    public func workspace(id: String) async throws -> Workspace? {
        try await query("SELECT id, name, created_at FROM workspaces WHERE id = \(id)").first.map(Self.workspace(from:))
    }

    public func workspace(named name: String) async throws -> Workspace? {
        try await query("SELECT id, name, created_at FROM workspaces WHERE name = \(name)").first.map(Self.workspace(from:))
    }

    public func workspaceCount() async throws -> Int {
        try await query("SELECT count(*)::bigint AS n FROM workspaces").first.map { try $0["n"].decode(Int.self) } ?? 0
    }

    // MARK: Keys

    public func insertKeys(_ keys: [APIKey]) async throws {
        do {
            try await transaction { [logger] connection in
                for key in keys {
                    try await connection.query(
                        """
                        INSERT INTO api_keys (id, workspace_id, name, name_folded, description, scope, secret_hash,
                            service_account_id, created_at, created_by, expires_at)
                        VALUES (\(key.id), \(key.workspaceID), \(key.name), \(KeyListQuery.fold(key.name)), \(key.description),
                            \(key.scope.rawValue), \(Data(key.secretHash.bytes)), \(key.serviceAccountID), \(key.createdAt.milliseconds),
                            \(key.createdBy), \(key.expiresAt?.milliseconds))
                        """,
                        logger: logger
                    )
                    try await Self.enqueue(WebhookEvent.about(key, type: .keyCreated), on: connection, logger: logger)
                }
                for key in keys { try await Self.noteChange(of: key.id, on: connection, logger: logger) }
            }
        } catch let error where Self.sqlState(of: error) == "23505" {
            throw KeyStoreError.duplicateKeyID
        }
    }

    public func key(id: String) async throws -> APIKey? {
        try await query("SELECT * FROM api_keys WHERE id = \(id)").first.flatMap(Self.key(from:))
    }

    public func listKeys(_ query: KeyListQuery) async throws -> KeyPage {
        let activeOnly = !query.includeRevoked || query.unusedSince != nil
        let pattern = query.likePattern
        let unusedSince = query.unusedSince?.milliseconds
        let filter: PostgresQuery = """
            SELECT *, count(*) OVER () AS total FROM api_keys
            WHERE workspace_id = \(query.workspaceID)
              AND (NOT \(activeOnly) OR revoked_at IS NULL)
              AND (\(pattern)::text IS NULL OR name_folded LIKE \(pattern) ESCAPE '\\')
              AND (\(unusedSince)::bigint IS NULL OR last_used_at IS NULL OR last_used_at < \(unusedSince))
            ORDER BY created_at DESC, seq DESC
            LIMIT \(query.limit) OFFSET \(query.offset)
            """
        let found = try await self.query(filter)
        var total = try found.first.map { try $0["total"].decode(Int.self) } ?? 0
        if found.isEmpty && query.page > 1 {
            // Past the last page the window has no row to carry the total; count separately.
            total = try await listKeys(KeyListQuery(workspaceID: query.workspaceID, page: 1, limit: 1, search: query.search,
                                                    includeRevoked: query.includeRevoked, unusedSince: query.unusedSince)).total
        }
        return KeyPage(keys: try found.compactMap(Self.key(from:)), total: total)
    }

    public func relabelKey(id: String, workspaceID: String, change: KeyLabelChange) async throws -> APIKey? {
        try await transaction { [logger] connection in
            let setName = change.name != nil
            let setDescription = change.description != nil
            let name = change.name
            let description = change.description ?? nil
            let folded = change.name.map(KeyListQuery.fold)
            let updated = try await Self.rows(
                """
                UPDATE api_keys SET
                    name = CASE WHEN \(setName) THEN \(name) ELSE name END,
                    name_folded = CASE WHEN \(setName) THEN \(folded) ELSE name_folded END,
                    description = CASE WHEN \(setDescription) THEN \(description) ELSE description END
                WHERE id = \(id) AND workspace_id = \(workspaceID) AND revoked_at IS NULL
                RETURNING *
                """,
                on: connection, logger: logger
            )
            guard let row = updated.first, let key = try Self.key(from: row) else { return nil }
            try await Self.enqueue(WebhookEvent.about(key, type: .keyRenamed), on: connection, logger: logger)
            try await Self.noteChange(of: id, on: connection, logger: logger)
            return key
        }
    }

    public func revokeKey(id: String, workspaceID: String, at: Timestamp, allowingLastAdmin: Bool) async throws -> APIKey? {
        try await transaction { [logger] connection in
            if !allowingLastAdmin {
                // The workspace row is the lock: two revocations of its last two admin keys take turns.
                try await connection.query("SELECT id FROM workspaces WHERE id = \(workspaceID) FOR UPDATE", logger: logger)
                let counts = try await Self.rows(
                    """
                    SELECT count(*) FILTER (WHERE id = \(id))::bigint AS this, count(*) FILTER (WHERE id <> \(id))::bigint AS others
                    FROM api_keys WHERE workspace_id = \(workspaceID) AND scope = 'admin' AND revoked_at IS NULL
                        AND (expires_at IS NULL OR expires_at > \(at.milliseconds))
                    """,
                    on: connection, logger: logger
                ).first
                if let counts, try counts["this"].decode(Int.self) > 0, try counts["others"].decode(Int.self) == 0 {
                    throw KeyStoreError.lastAdminKey
                }
            }
            let updated = try await Self.rows(
                """
                UPDATE api_keys SET revoked_at = \(at.milliseconds)
                WHERE id = \(id) AND workspace_id = \(workspaceID) AND revoked_at IS NULL
                RETURNING *
                """,
                on: connection, logger: logger
            )
            guard let row = updated.first, let key = try Self.key(from: row) else { return nil }
            try await Self.enqueue(WebhookEvent.about(key, type: .keyRevoked, at: at), on: connection, logger: logger)
            try await Self.noteChange(of: id, on: connection, logger: logger)
            return key
        }
    }

    public func recordUsage(_ usage: [String: KeyUsage]) async throws {
        guard !usage.isEmpty else { return }
        let ids = Array(usage.keys)
        let times = ids.map { usage[$0]!.at.milliseconds }
        let ips = ids.map { usage[$0]!.ip ?? "" }
        let agents = ids.map { usage[$0]!.userAgent ?? "" }
        // One statement for the whole batch; GREATEST-style guard keeps last_used_at from going backwards.
        _ = try await query(
            """
            UPDATE api_keys AS k SET last_used_at = u.at, last_used_ip = NULLIF(u.ip, ''), last_used_user_agent = NULLIF(u.agent, '')
            FROM unnest(\(ids)::text[], \(times)::bigint[], \(ips)::text[], \(agents)::text[]) AS u(id, at, ip, agent)
            WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at <= u.at)
            """
        )
    }

    public func keysChanged(since: Timestamp?) async throws -> (changes: [KeyChange], cursor: Timestamp) {
        guard let since = since?.milliseconds else {
            let row = try await query("SELECT \(unescaped: Self.now) AS now").first
            return ([], Timestamp(milliseconds: try row?["now"].decode(Int64.self) ?? Timestamp.now().milliseconds))
        }
        let found: [PostgresRandomAccessRow]
        do {
            found = try await query(
                """
                SELECT \(unescaped: Self.now) AS now, array_agg(seq) AS seqs, array_agg(key_id) AS ids
                FROM key_changes WHERE changed_at >= \(since)
                """
            )
        } catch let error where Self.sqlState(of: error) == "42P01" {
            return ([], Timestamp(milliseconds: since))  // not migrated yet, so no key exists to have changed
        }
        guard let row = found.first else { return ([], .now()) }
        let seqs = try row["seqs"].decode([Int64]?.self) ?? []
        let ids = try row["ids"].decode([String]?.self) ?? []
        return (zip(seqs, ids).map(KeyChange.init), Timestamp(milliseconds: try row["now"].decode(Int64.self)))
    }

    // MARK: Rows

    private static func noteChange(of id: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("INSERT INTO key_changes (key_id) VALUES (\(id))", logger: logger)
        try await connection.query(
            "DELETE FROM key_changes WHERE changed_at < \(unescaped: now) - 3600000",
            logger: logger
        )
    }

    private static func workspace(from row: PostgresRandomAccessRow) throws -> Workspace {
        Workspace(
            id: try row["id"].decode(String.self),
            name: try row["name"].decode(String.self),
            createdAt: Timestamp(milliseconds: try row["created_at"].decode(Int64.self))
        )
    }

    /// The key of a row; `nil` for a scope this version does not know, which is refused, never guessed.
    static func key(from row: PostgresRandomAccessRow) throws -> APIKey? {
        guard let scope = Scope(rawValue: try row["scope"].decode(String.self)) else { return nil }
        func time(_ column: String) throws -> Timestamp? {
            try row[column].decode(Int64?.self).map { Timestamp(milliseconds: $0) }
        }
        let lastUsed = try time("last_used_at").map {
            KeyUsage(at: $0, ip: try row["last_used_ip"].decode(String?.self), userAgent: try row["last_used_user_agent"].decode(String?.self))
        }
        return APIKey(
            id: try row["id"].decode(String.self),
            workspaceID: try row["workspace_id"].decode(String.self),
            name: try row["name"].decode(String.self),
            description: try row["description"].decode(String?.self),
            scope: scope,
            secretHash: SecretHash(bytes: Array(try row["secret_hash"].decode(ByteBuffer.self).readableBytesView)),
            serviceAccountID: try row["service_account_id"].decode(String?.self),
            createdAt: try time("created_at") ?? Timestamp(milliseconds: 0),
            createdBy: try row["created_by"].decode(String.self),
            expiresAt: try time("expires_at"),
            lastUsed: lastUsed,
            revokedAt: try time("revoked_at")
        )
    }
}
