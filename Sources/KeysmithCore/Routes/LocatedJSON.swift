/// A JSON value with the line it starts on: the route rules file is JSON, and its mistakes are reported by
/// line, which Foundation's parser does not give on every platform.
struct LocatedJSON: Sendable {
    enum Value: Sendable {
        case object([(key: String, value: LocatedJSON)])
        case array([LocatedJSON])
        case string(String)
        case number(String)
        case bool(Bool)
        case null
    }

    let value: Value
    let line: Int

    /// A mistake in the JSON itself, at a line.
    struct SyntaxError: Error {
        let line: Int
        let message: String
    }

    /// The one value `bytes` holds (UTF-8, RFC 8259), nested at most 64 deep.
    static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> LocatedJSON {
        var reader = Reader(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.index == bytes.count else { throw reader.failure("unexpected text after the JSON document") }
        return value
    }

    var typeName: String {
        switch value {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "true or false"
        case .null: "null"
        }
    }
}

private struct Reader {
    let bytes: [UInt8]
    var index = 0
    var line = 1

    func failure(_ message: String) -> LocatedJSON.SyntaxError { .init(line: line, message: message) }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipWhitespace() {
        while let byte = current {
            switch byte {
            case 0x20, 0x09, 0x0D: index += 1
            case 0x0A: index += 1; line += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws(LocatedJSON.SyntaxError) -> LocatedJSON {
        guard depth < 64 else { throw failure("values nested more than 64 deep") }
        guard let byte = current else { throw failure("the file ends where a value was expected") }
        let start = line
        switch byte {
        case UInt8(ascii: "{"): return LocatedJSON(value: .object(try object(depth: depth)), line: start)
        case UInt8(ascii: "["): return LocatedJSON(value: .array(try array(depth: depth)), line: start)
        case UInt8(ascii: "\""): return LocatedJSON(value: .string(try string()), line: start)
        case UInt8(ascii: "t"): try literal("true"); return LocatedJSON(value: .bool(true), line: start)
        case UInt8(ascii: "f"): try literal("false"); return LocatedJSON(value: .bool(false), line: start)
        case UInt8(ascii: "n"): try literal("null"); return LocatedJSON(value: .null, line: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return LocatedJSON(value: .number(try number()), line: start)
        default: throw failure("unexpected \(Self.describe(byte)) where a value was expected")
        }
    }

    static func describe(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16, uppercase: true))"
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(LocatedJSON.SyntaxError) {
        skipWhitespace()
        guard let found = current else { throw failure("the file ends where \(what) was expected") }
        guard found == byte else { throw failure("unexpected \(Self.describe(found)) where \(what) was expected") }
        index += 1
    }

    mutating func object(depth: Int) throws(LocatedJSON.SyntaxError) -> [(key: String, value: LocatedJSON)] {
        index += 1  // {
        var members: [(key: String, value: LocatedJSON)] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") { index += 1; return members }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else {
                throw current.map { failure("unexpected \(Self.describe($0)) where a key in double quotes was expected") }
                    ?? failure("the file ends inside an object")
            }
            let key = try string()
            if members.contains(where: { $0.key == key }) { throw failure("the key \"\(key.prefix(64))\" is given twice in one object") }
            try expect(UInt8(ascii: ":"), "':' after a key")
            skipWhitespace()
            members.append((key, try value(depth: depth + 1)))
            skipWhitespace()
            guard let next = current else { throw failure("the file ends inside an object; a '}' is missing") }
            index += 1
            if next == UInt8(ascii: "}") { return members }
            guard next == UInt8(ascii: ",") else { index -= 1; throw failure("unexpected \(Self.describe(next)) where ',' or '}' was expected") }
        }
    }

    mutating func array(depth: Int) throws(LocatedJSON.SyntaxError) -> [LocatedJSON] {
        index += 1  // [
        var elements: [LocatedJSON] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { index += 1; return elements }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth + 1))
            skipWhitespace()
            guard let next = current else { throw failure("the file ends inside an array; a ']' is missing") }
            index += 1
            if next == UInt8(ascii: "]") { return elements }
            guard next == UInt8(ascii: ",") else { index -= 1; throw failure("unexpected \(Self.describe(next)) where ',' or ']' was expected") }
        }
    }

    mutating func literal(_ word: String) throws(LocatedJSON.SyntaxError) {
        for expected in word.utf8 {
            guard current == expected else { throw failure("unexpected text where \(word) or another value was expected") }
            index += 1
        }
    }

    mutating func number() throws(LocatedJSON.SyntaxError) -> String {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        func digits(_ reader: inout Reader) -> Int {
            var count = 0
            while let byte = reader.current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { reader.index += 1; count += 1 }
            return count
        }
        guard digits(&self) > 0 else { throw failure("a number needs digits") }
        if current == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw failure("a number needs digits after its '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw failure("a number needs digits in its exponent") }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    mutating func string() throws(LocatedJSON.SyntaxError) -> String {
        index += 1  // "
        var scalars = String.UnicodeScalarView()
        var run: [UInt8] = []  // raw UTF-8 since the last escape
        func flush(_ run: inout [UInt8], into scalars: inout String.UnicodeScalarView) {
            scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars)
            run.removeAll(keepingCapacity: true)
        }
        while true {
            guard let byte = current else { throw failure("the file ends inside a string; a '\"' is missing") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                flush(&run, into: &scalars)
                return String(scalars)
            case UInt8(ascii: "\\"):
                flush(&run, into: &scalars)
                scalars.append(try escape())
            case 0x0A:
                throw failure("a line break inside a string (write \\n); a closing '\"' may be missing")
            case 0x00..<0x20:
                throw failure("a control character inside a string")
            default:
                run.append(byte)
            }
        }
    }

    mutating func escape() throws(LocatedJSON.SyntaxError) -> Unicode.Scalar {
        guard let byte = current else { throw failure("the file ends inside a string") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try hex4()
            if (0xD800..<0xDC00).contains(high) {
                guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw failure("an unpaired surrogate \\u escape in a string")
                }
                index += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low), let scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)) else {
                    throw failure("an unpaired surrogate \\u escape in a string")
                }
                return scalar
            }
            guard let scalar = Unicode.Scalar(high) else { throw failure("an unpaired surrogate \\u escape in a string") }
            return scalar
        default:
            throw failure("unknown escape \\\(Character(Unicode.Scalar(byte))) in a string")
        }
    }

    mutating func hex4() throws(LocatedJSON.SyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current, let digit = hexValue(byte) else { throw failure("a \\u escape needs four hex digits") }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }
}

/// The value of one hex digit, or `nil`.
func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
