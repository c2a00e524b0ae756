import Synchronization

/// A database the key store runs its SQL on: one per backend (`SQLiteFile`, `PostgresPool`).
/// What differs between the two dialects lives in `dialect`; everything else the store writes once.
protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    /// One statement outside a transaction (reads, and single-statement writes).
    func execute(_ statement: SQLStatement) async throws -> [any SQLRow]
    /// `body` in one transaction, committed when it returns and rolled back when it throws. A transaction,
    /// once begun, runs to its end even if the caller is cancelled.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (any SQLExecutor) async throws -> T) async throws -> T
    /// Statements and transactions running right now (the pool's connections in use).
    var operationsInFlight: Int { get }
    /// Whether `error` is a unique-constraint violation.
    func isUniqueViolation(_ error: any Error) -> Bool
    func close() async throws
}

/// Runs statements inside a transaction.
protocol SQLExecutor: Sendable {
    var dialect: SQLDialect { get }
    func execute(_ statement: SQLStatement) async throws -> [any SQLRow]
}

extension SQLExecutor {
    /// The first row of a statement, if any.
    func first(_ statement: SQLStatement) async throws -> (any SQLRow)? { try await execute(statement).first }
}

extension SQLDatabase {
    func first(_ statement: SQLStatement) async throws -> (any SQLRow)? { try await execute(statement).first }
}

/// Counts operations in flight for `SQLDatabase.operationsInFlight`.
final class InFlightCounter: Sendable {
    private let value = Atomic<Int>(0)

    var current: Int { value.load(ordering: .relaxed) }

    func counting<T>(_ body: () async throws -> T) async rethrows -> T {
        value.wrappingAdd(1, ordering: .relaxed)
        defer { value.wrappingSubtract(1, ordering: .relaxed) }
        return try await body()
    }
}
