import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

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

    /// `postgres://user:password@host:port/database?sslmode=disable|prefer|require`
    static func configuration(from url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            throw StoreConfigurationError("cannot read the PostgreSQL URL; expected postgres://user:password@host:5432/database")
        }
        let sslMode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer"
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        default: throw StoreConfigurationError("unknown sslmode '\(sslMode)'; use disable, prefer or require")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        var configuration = PostgresClient.Configuration(
            host: host,
            port: components.port ?? 5432,
            username: components.user?.removingPercentEncoding ?? "postgres",
            password: components.password?.removingPercentEncoding,
            database: database.isEmpty ? nil : database,
            tls: tls
        )
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.maximumConnections = 20
        return configuration
    }

    // MARK: Queries

    /// Runs `body`, turning a lost or refused connection into `StoreUnavailable` (a 503).
    private func available<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PSQLError where error.serverInfo == nil {
            throw StoreUnavailable("\(error.code)")
        }
    }

    private func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await available {
            try await client.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
        }
    }

    /// A transaction, once begun, runs to its end even if the caller is cancelled (see `SQLiteKeyStore`).
    private func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await available {
            try await Task {
                try await self.client.withTransaction(logger: self.logger) { connection in try await body(connection) }
            }.value
        }
    }

    private static func rows(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> [PostgresRandomAccessRow] {
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
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw KeyStoreError.duplicateWorkspaceName
        }
    }

    public func workspace(id: String) async throws -> Workspace? {
        try await rows("SELECT id, name, created_at FROM workspaces WHERE id = \(id)").first.map(Self.workspace(from:))
    }

    public func workspace(named name: String) async throws -> Workspace? {
        try await rows("SELECT id, name, created_at FROM workspaces WHERE name = \(name)").first.map(Self.workspace(from:))
    }

    public func workspaceCount() async throws -> Int {
        try await rows("SELECT count(*)::bigint AS n FROM workspaces").first.map { try $0["n"].decode(Int.self) } ?? 0
    }

    // MARK: Keys

    public func insertKey(_ key: APIKey) async throws {
        do {
            try await transaction { [logger] connection in
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
                try await Self.noteChange(of: key.id, on: connection, logger: logger)
            }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw KeyStoreError.duplicateKeyID
        }
    }

    public func key(id: String) async throws -> APIKey? {
        try await rows("SELECT * FROM api_keys WHERE id = \(id)").first.map(Self.key(from:))
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
        let found = try await rows(filter)
        var total = try found.first.map { try $0["total"].decode(Int.self) } ?? 0
        if found.isEmpty && query.page > 1 {
            // Past the last page the window has no row to carry the total; count separately.
            total = try await listKeys(KeyListQuery(workspaceID: query.workspaceID, page: 1, limit: 1, search: query.search,
                                                    includeRevoked: query.includeRevoked, unusedSince: query.unusedSince)).total
        }
        return KeyPage(keys: try found.map(Self.key(from:)), total: total)
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
            guard let row = updated.first else { return nil }
            try await Self.noteChange(of: id, on: connection, logger: logger)
            return try Self.key(from: row)
        }
    }

    public func revokeKey(id: String, workspaceID: String, at: Timestamp) async throws -> APIKey? {
        try await transaction { [logger] connection in
            let updated = try await Self.rows(
                """
                UPDATE api_keys SET revoked_at = \(at.milliseconds)
                WHERE id = \(id) AND workspace_id = \(workspaceID) AND revoked_at IS NULL
                RETURNING *
                """,
                on: connection, logger: logger
            )
            guard let row = updated.first else { return nil }
            try await Self.noteChange(of: id, on: connection, logger: logger)
            return try Self.key(from: row)
        }
    }

    public func recordUsage(_ usage: [String: KeyUsage]) async throws {
        guard !usage.isEmpty else { return }
        let ids = Array(usage.keys)
        let times = ids.map { usage[$0]!.at.milliseconds }
        let ips = ids.map { usage[$0]!.ip ?? "" }
        let agents = ids.map { usage[$0]!.userAgent ?? "" }
        // One statement for the whole batch; GREATEST-style guard keeps last_used_at from going backwards.
        _ = try await rows(
            """
            UPDATE api_keys AS k SET last_used_at = u.at, last_used_ip = NULLIF(u.ip, ''), last_used_user_agent = NULLIF(u.agent, '')
            FROM unnest(\(ids)::text[], \(times)::bigint[], \(ips)::text[], \(agents)::text[]) AS u(id, at, ip, agent)
            WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at <= u.at)
            """
        )
    }

    public func keysChanged(since: Timestamp?) async throws -> (keyIDs: [String], cursor: Timestamp) {
        guard let since = since?.milliseconds else {
            let row = try await rows("SELECT \(unescaped: Self.now) AS now").first
            return ([], Timestamp(milliseconds: try row?["now"].decode(Int64.self) ?? Timestamp.now().milliseconds))
        }
        let found: [PostgresRandomAccessRow]
        do {
            found = try await rows(
                """
                SELECT \(unescaped: Self.now) AS now, array_remove(array_agg(DISTINCT key_id), NULL) AS ids
                FROM key_changes WHERE changed_at >= \(since)
                """
            )
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42P01" {
            return ([], Timestamp(milliseconds: since))  // not migrated yet, so no key exists to have changed
        }
        guard let row = found.first else { return ([], .now()) }
        return (try row["ids"].decode([String]?.self) ?? [], Timestamp(milliseconds: try row["now"].decode(Int64.self)))
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

    private static func key(from row: PostgresRandomAccessRow) throws -> APIKey {
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
            scope: Scope(rawValue: try row["scope"].decode(String.self)) ?? .read,
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

/// A `--database` value that cannot be used as given.
public struct StoreConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
