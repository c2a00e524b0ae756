import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import Synchronization

/// The embedded database: one SQLite file in WAL mode, SQLite bundled with sqlite-nio.
///
/// Writes go through one connection under an `AsyncLock`, so a transaction's queries never interleave
/// with another's; reads use two more connections in turn and never wait for writes. SQLite's blocking
/// calls run on a thread pool of the database's own, so nothing else that blocks (DNS above all) can
/// stall them. `synchronous=FULL`: an acknowledged revocation survives a power loss, not only a crash.
final class SQLiteFile: SQLDatabase {
    let dialect = SQLDialect.sqlite
    let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let threads: NIOThreadPool
    private let writeLock = AsyncLock()
    private let nextReader = RoundRobin()
    private let inFlight = InFlightCounter()

    var operationsInFlight: Int { inFlight.current }

    static func open(path: String, logger: Logger) async throws -> SQLiteFile {
        let threads = NIOThreadPool(numberOfThreads: 3)
        threads.start()
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        var opened: [SQLiteConnection] = []
        do {
            for _ in 0..<3 {
                let connection = try await SQLiteConnection.open(storage: .file(path: path), threadPool: threads, logger: logger, on: eventLoop)
                opened.append(connection)
                if opened.count == 1 {
                    _ = try await connection.query("PRAGMA journal_mode=WAL")
                    _ = try await connection.query("PRAGMA synchronous=FULL")
                    // 32,768 WAL pages (128 MiB) a checkpoint, not 1,000: a 1,000-key commit dirties about 1,000
                    // pages, so the default rewrote the same index pages in nearly every commit (docs/performance.md).
                    _ = try await connection.query("PRAGMA wal_autocheckpoint=32768")
                }
                // SQLite's default 2 MiB page cache is far below the index pages a bulk create into a million-key
                // file touches: 64 MiB for the writer, 16 MiB for each reader (docs/performance.md).
                _ = try await connection.query(opened.count == 1 ? "PRAGMA cache_size=-65536" : "PRAGMA cache_size=-16384")
            }
            return SQLiteFile(writer: opened[0], readers: Array(opened.dropFirst()), threads: threads)
        } catch {
            // A file that cannot be opened (or is not a database) is an error, never a crash on deinit.
            for connection in opened { try? await connection.close() }
            try? await threads.shutdownGracefully()
            throw error
        }
    }

    private init(writer: SQLiteConnection, readers: [SQLiteConnection], threads: NIOThreadPool) {
        self.writer = writer
        self.readers = readers
        self.threads = threads
    }

    /// In a task of its own, as `transaction`: sqlite-nio refuses work from a cancelled task, and a
    /// connection left open traps in its deinit (a test past its time limit is cancelled, then closes).
    func close() async throws {
        try await Task {
            for reader in self.readers { try? await reader.close() }
            try? await self.writer.close()
            try await self.threads.shutdownGracefully()
        }.value
    }

    /// Reads on a reader connection; a statement that writes goes through the writer, in a transaction.
    func execute(_ statement: SQLStatement) async throws -> [any SQLRow] {
        if Self.isRead(statement.sql) {
            let reader = readers[nextReader.next() % readers.count]
            return try await inFlight.counting { try await Self.run(statement, on: reader) }
        }
        return try await transaction { try await $0.execute(statement) }
    }

    func transaction<T: Sendable>(_ body: @escaping @Sendable (any SQLExecutor) async throws -> T) async throws -> T {
        // sqlite-nio refuses work from a cancelled task, and a refused `ROLLBACK` would leave the connection
        // inside a transaction: so the transaction runs in a task of its own.
        try await Task {
            try await self.writeLock.withLock { try await self.inFlight.counting {
                let executor = Executor(connection: self.writer)
                _ = try await self.writer.query("BEGIN IMMEDIATE")
                do {
                    let result = try await body(executor)
                    _ = try await self.writer.query("COMMIT")
                    return result
                } catch {
                    _ = try? await self.writer.query("ROLLBACK")
                    throw error
                }
            } }
        }.value
    }

    /// A consistent copy of the database in a new file, taken while others read and write: `VACUUM INTO`
    /// on a reader runs in one read transaction, so the copy is the database as of one commit.
    func copy(to path: String) async throws {
        _ = try await inFlight.counting { try await Self.run("VACUUM INTO \(path)", on: readers[0]) }
    }

    func isUniqueViolation(_ error: any Error) -> Bool {
        guard let error = error as? SQLiteError else { return false }
        return [.constraintUniqueFailed, .constraintPrimaryKeyFailed, .constraint].contains(error.reason)
    }

    private struct Executor: SQLExecutor {
        let connection: SQLiteConnection
        var dialect: SQLDialect { .sqlite }
        func execute(_ statement: SQLStatement) async throws -> [any SQLRow] { try await SQLiteFile.run(statement, on: connection) }
    }

    static func run(_ statement: SQLStatement, on connection: SQLiteConnection) async throws -> [any SQLRow] {
        try await connection.query(sqliteText(of: statement), statement.binds.map(Self.data)).map(Row.init)
    }

    /// The statement's text with anonymous `?` for each `$n` (`?n` should values ever be out of order): SQLite
    /// looks each named `$n` up among those before it, which dominated 500-row inserts (docs/performance.md).
    static func sqliteText(of statement: SQLStatement) -> String {
        var next = 1
        var inOrder = true
        let anonymous = SQLStatement.rewritePlaceholders(statement.sql) { number in
            if number != next { inOrder = false }
            next += 1
            return "?"
        }
        return inOrder ? anonymous : SQLStatement.rewritePlaceholders(statement.sql) { "?\($0)" }
    }

    private static func isRead(_ sql: String) -> Bool {
        let head = sql.prefix(8).uppercased()
        return head.hasPrefix("SELECT") || head.hasPrefix("WITH")
    }

    private static func data(_ value: SQLValue) -> SQLiteData {
        switch value {
        case .integer(let number): number.map { .integer(Int($0)) } ?? .null
        case .text(let text): text.map { .text($0) } ?? .null
        case .blob(let bytes): bytes.map { .blob(ByteBuffer(bytes: $0)) } ?? .null
        case .bool(let flag): flag.map { .integer($0 ? 1 : 0) } ?? .null
        }
    }

    struct Row: SQLRow {
        let row: SQLiteRow
        func value(_ column: String) -> SQLValue? {
            switch row.column(column) {
            case .integer(let number): .integer(Int64(number))
            case .text(let text): .text(text)
            case .blob(let buffer): .blob(Array(buffer: buffer))
            case .float(let number): .integer(Int64(number))
            case .null, .none: nil
            }
        }
    }
}

/// Takes the reader connections in turn.
private final class RoundRobin: Sendable {
    private let value = Atomic<Int>(0)
    func next() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue & Int.max }
}
