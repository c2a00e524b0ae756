/// A statement and its bound values, written once for both dialects: every interpolated value becomes a
/// placeholder (`$1`, `$2`, …; SQLite reads them as `?1`, `?2`, …) and is bound, never spliced into the text.
/// Only `raw:` splices text, for the store's own fragments (a dialect's clock, a table name).
struct SQLStatement: Sendable, ExpressibleByStringInterpolation {
    private(set) var sql: String
    private(set) var binds: [SQLValue]

    init(stringLiteral value: String) {
        sql = value
        binds = []
    }

    init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        binds = stringInterpolation.binds
    }

    struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [SQLValue] = []

        init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        mutating func appendLiteral(_ literal: String) { sql += literal }

        mutating func appendInterpolation(_ value: SQLValue) {
            binds.append(value)
            sql += "$\(binds.count)"
        }

        mutating func appendInterpolation(_ value: String?) { appendInterpolation(.text(value)) }
        mutating func appendInterpolation(_ value: Int) { appendInterpolation(.integer(Int64(value))) }
        mutating func appendInterpolation(_ value: Int?) { appendInterpolation(.integer(value.map(Int64.init))) }
        mutating func appendInterpolation(_ value: Int64?) { appendInterpolation(.integer(value)) }
        mutating func appendInterpolation(_ value: Timestamp?) { appendInterpolation(.integer(value?.milliseconds)) }
        mutating func appendInterpolation(_ value: Bool) { appendInterpolation(.bool(value)) }

        /// Text of the store's own, spliced as it is.
        mutating func appendInterpolation(raw text: String) { sql += text }

        /// Another statement, its placeholders renumbered after this one's.
        mutating func appendInterpolation(_ statement: SQLStatement) {
            sql += statement.renumbered(after: binds.count)
            binds += statement.binds
        }

        /// Values separated by commas: `IN (\(list: ids))`.
        mutating func appendInterpolation(list values: [SQLValue]) {
            for (index, value) in values.enumerated() {
                if index > 0 { sql += ", " }
                appendInterpolation(value)
            }
        }
    }

    /// The SQL with `$n` written as `$(n + offset)`.
    private func renumbered(after offset: Int) -> String {
        guard offset > 0 else { return sql }
        return SQLStatement.rewritePlaceholders(sql) { "$\($0 + offset)" }
    }

    /// Calls `replacement` for each `$n` outside string literals and quoted identifiers.
    static func rewritePlaceholders(_ sql: String, _ replacement: (Int) -> String) -> String {
        let bytes = Array(sql.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + 8)
        var quote: UInt8?
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if let open = quote {
                if byte == open { quote = nil }
            } else if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                quote = byte
            } else if byte == UInt8(ascii: "$") {
                var end = index + 1
                var number = 0
                while end < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[end]) {
                    number = number * 10 + Int(bytes[end] - UInt8(ascii: "0"))
                    end += 1
                }
                if end > index + 1 {
                    output += replacement(number).utf8
                    index = end
                    continue
                }
            }
            output.append(byte)
            index += 1
        }
        return String(decoding: output, as: UTF8.self)
    }
}

extension SQLStatement {
    /// `VALUES (…), (…)`: one row of placeholders per element, for multi-row inserts.
    static func values<Element>(_ elements: some Collection<Element>, _ row: (Element) -> [SQLValue]) -> SQLStatement {
        var interpolation = StringInterpolation(literalCapacity: 8, interpolationCount: elements.count * 8)
        interpolation.appendLiteral("VALUES ")
        for (index, element) in elements.enumerated() {
            interpolation.appendLiteral(index == 0 ? "(" : ", (")
            interpolation.appendInterpolation(list: row(element))
            interpolation.appendLiteral(")")
        }
        return SQLStatement(stringInterpolation: interpolation)
    }
}

extension SQLStatement {
    /// The statements one after another, with `separator` between them.
    static func joined(_ parts: [SQLStatement], separator: String) -> SQLStatement {
        var interpolation = StringInterpolation(literalCapacity: 16, interpolationCount: parts.count)
        for (index, part) in parts.enumerated() {
            if index > 0 { interpolation.appendLiteral(separator) }
            interpolation.appendInterpolation(part)
        }
        return SQLStatement(stringInterpolation: interpolation)
    }
}
