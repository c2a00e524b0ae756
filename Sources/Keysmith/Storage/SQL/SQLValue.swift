/// A value bound to a statement or read from a row, in the types both dialects share: 64-bit integers,
/// text and bytes. Booleans are bound as `.bool` (PostgreSQL's `BOOLEAN`, SQLite's 0 and 1) and read
/// back as integers.
enum SQLValue: Sendable, Equatable {
    case integer(Int64?)
    case text(String?)
    case blob([UInt8]?)
    case bool(Bool?)

    var isNull: Bool {
        switch self {
        case .integer(let value): value == nil
        case .text(let value): value == nil
        case .blob(let value): value == nil
        case .bool(let value): value == nil
        }
    }
}

/// One row of a result, read by column name, whatever the driver.
protocol SQLRow: Sendable {
    /// The column's value; `nil` for SQL `NULL` or a column the row does not have.
    func value(_ column: String) -> SQLValue?
}

extension SQLRow {
    func text(_ column: String) -> String? {
        switch value(column) {
        case .text(let text): text
        case .integer(let number): number.map(String.init)
        default: nil
        }
    }

    func integer(_ column: String) -> Int64? {
        switch value(column) {
        case .integer(let number): number
        case .bool(let flag): flag.map { $0 ? 1 : 0 }
        case .text(let text): text.flatMap { Int64($0) }
        default: nil
        }
    }

    func int(_ column: String) -> Int? { integer(column).map { Int($0) } }

    func bool(_ column: String) -> Bool? { integer(column).map { $0 != 0 } }

    func blob(_ column: String) -> [UInt8]? {
        if case .blob(let bytes) = value(column) { return bytes }
        return nil
    }

    func time(_ column: String) -> Timestamp? { integer(column).map { Timestamp(milliseconds: $0) } }
}
