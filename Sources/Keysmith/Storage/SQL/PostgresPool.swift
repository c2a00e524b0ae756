import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// PostgreSQL, for many instances: PostgresNIO's pooled `PostgresClient`, which runs as a service. Times
/// come from the database's clock, so the change feed is consistent across instances whatever their
/// clocks say.
final class PostgresPool: SQLDatabase, Service {
    let dialect = SQLDialect.postgres
    let client: PostgresClient
    let logger: Logger
    private let inFlight = InFlightCounter()

    var operationsInFlight: Int { inFlight.current }

    /// How long a request waits for a connection before it is answered with a 503 (`pool_timeout`).
    let operationTimeout: Duration

    init(url: String, logger: Logger) throws {
        self.client = PostgresClient(configuration: try Self.configuration(from: url), backgroundLogger: logger)
        self.operationTimeout = .seconds(try URLParts(url).poolTimeoutSeconds)
        self.logger = logger
    }

    func run() async { await client.run() }

    func close() async throws {}

    /// `postgres://user:password@host:port/database?sslmode=disable|prefer|require`. The user and password
    /// are percent-decoded once; `sslmode` defaults to `require`, or `prefer` on loopback.
    struct URLParts {
        var host: String
        var port: Int
        var username: String
        var password: String?
        var database: String?
        var sslMode: String
        /// Connections the pool may open (`pool_size`, 1 to 100; 20 when absent).
        var poolSize: Int
        /// Seconds a request may wait for a connection before it is answered 503 (`pool_timeout`, 1 to
        /// 120; 5 when absent: a stopped database is a prompt 503, not a queue of stalled requests).
        var poolTimeoutSeconds: Int

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
            let poolSize = components.queryItems?.first(where: { $0.name == "pool_size" })?.value
            guard let size = poolSize.map({ Int($0) }) ?? 20, (1...100).contains(size) else {
                throw StoreConfigurationError("pool_size must be a number of connections from 1 to 100")
            }
            self.poolSize = size
            let poolTimeout = components.queryItems?.first(where: { $0.name == "pool_timeout" })?.value
            guard let seconds = poolTimeout.map({ Int($0) }) ?? 5, (1...120).contains(seconds) else {
                throw StoreConfigurationError("pool_timeout must be a number of seconds from 1 to 120")
            }
            self.poolTimeoutSeconds = seconds
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
        configuration.options.maximumConnections = parts.poolSize
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

    /// Runs `body` in a task of its own, so that a caller's cancellation never interrupts a transaction
    /// half-way, and gives up waiting for a connection after `operationTimeout`. Errors of reaching the
    /// database become `StoreUnavailable` (a 503); the pool reconnects by itself when the database is back.
    private func available<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let work = Task { [inFlight] in try await inFlight.counting { try await body() } }
        let timedOut = Mutex(false)
        let timer = Task { [operationTimeout] in
            try await Task.sleep(for: operationTimeout)
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

    func execute(_ statement: SQLStatement) async throws -> [any SQLRow] {
        let query = Self.query(statement)
        return try await available { [client, logger] in
            try await client.query(query, logger: logger).collect().map { Row(row: $0.makeRandomAccess()) }
        }
    }

    func transaction<T: Sendable>(_ body: @escaping @Sendable (any SQLExecutor) async throws -> T) async throws -> T {
        do {
            return try await available { [client, logger] in
                try await client.withTransaction(logger: logger) { connection in
                    try await body(Executor(connection: connection, logger: logger))
                }
            }
        } catch let error as PostgresTransactionError {
            // The store's own refusals (a conflict, say) come out as themselves, as they do on SQLite.
            if let refusal = error.closureError, !(refusal is PSQLError) { throw refusal }
            throw error
        }
    }

    func isUniqueViolation(_ error: any Error) -> Bool { Self.sqlState(of: error) == "23505" }

    private struct Executor: SQLExecutor {
        let connection: PostgresConnection
        let logger: Logger
        var dialect: SQLDialect { .postgres }
        func execute(_ statement: SQLStatement) async throws -> [any SQLRow] {
            try await connection.query(PostgresPool.query(statement), logger: logger).collect().map { Row(row: $0.makeRandomAccess()) }
        }
    }

    static func query(_ statement: SQLStatement) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: statement.binds.count)
        for value in statement.binds {
            switch value {
            case .integer(let number): bindings.append(number)
            case .text(let text): bindings.append(text)
            case .blob(let bytes): bindings.append(bytes.map { ByteBuffer(bytes: $0) })
            case .bool(let flag): bindings.append(flag)
            }
        }
        return PostgresQuery(unsafeSQL: statement.sql, binds: bindings)
    }

    struct Row: SQLRow {
        let row: PostgresRandomAccessRow
        func value(_ column: String) -> SQLValue? {
            guard row.contains(column) else { return nil }
            let cell = row[column]
            guard cell.bytes != nil else { return nil }
            switch cell.dataType {
            case .int2, .int4, .int8: return (try? cell.decode(Int64.self)).map { .integer($0) }
            case .bool: return (try? cell.decode(Bool.self)).map { .bool($0) }
            case .bytea: return (try? cell.decode(ByteBuffer.self)).map { .blob(Array(buffer: $0)) }
            default: return (try? cell.decode(String.self)).map { .text($0) }
            }
        }
    }
}
