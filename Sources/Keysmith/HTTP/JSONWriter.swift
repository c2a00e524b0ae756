import Hummingbird
import NIOCore

/// Writes the API's JSON by hand, straight into bytes: fields in the seeds' order, no escaped slashes,
/// and no reflection or intermediate strings. Every response body is written with it, so there is one
/// way JSON leaves the server. Bytes go into one array reserved up front; a string without characters to
/// escape is copied in a single move.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// Bit n: whether the next member at nesting depth n needs a comma first.
    private var needsComma: UInt64 = 0
    private var depth = 0
    private var afterKey = false

    init(capacity: Int = 1024) {
        bytes.reserveCapacity(capacity)
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    mutating func object(_ body: (inout JSONWriter) -> Void) {
        open(UInt8(ascii: "{"))
        body(&self)
        close(UInt8(ascii: "}"))
    }

    mutating func array<S: Sequence>(_ items: S, _ body: (inout JSONWriter, S.Element) -> Void) {
        open(UInt8(ascii: "["))
        for item in items { body(&self, item) }
        close(UInt8(ascii: "]"))
    }

    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    /// A member name that is not known at compile time (a caller's metadata), escaped.
    mutating func dynamicKey(_ name: String) {
        separate()
        Self.appendQuoted(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    mutating func field(_ name: StaticString, _ value: String?) {
        key(name)
        if let value { string(value) } else { null() }
    }

    mutating func field(_ name: StaticString, _ value: Int) { key(name); raw(String(value)) }
    mutating func field(_ name: StaticString, _ value: Bool) { key(name); raw(value ? "true" : "false") }

    mutating func field(_ name: StaticString, _ value: Timestamp?) {
        key(name)
        guard let value else { return null() }
        separate()
        bytes.append(UInt8(ascii: "\""))
        value.writeISO8601(into: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func string(_ value: String) {
        separate()
        Self.appendQuoted(value, to: &bytes)
    }

    mutating func null() { raw("null") }

    /// JSON written earlier, copied in as it is: a value after `key(_:)`, or members inside `object(_:)`
    /// (see `renderedMembers(_:)`).
    mutating func raw(_ rendered: [UInt8]) {
        separate()
        bytes.append(contentsOf: rendered)
    }

    /// Writes members of an object without its braces, for `raw(_:)` to copy into objects later.
    static func renderedMembers(_ body: (inout JSONWriter) -> Void) -> [UInt8] {
        var writer = JSONWriter(capacity: 512)
        writer.object(body)
        return Array(writer.bytes.dropFirst().dropLast())
    }

    mutating func raw(_ json: String) {
        separate()
        bytes.append(contentsOf: json.utf8)
    }

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        depth += 1
        needsComma &= ~(1 << UInt64(depth))
    }

    private mutating func close(_ bracket: UInt8) {
        depth -= 1
        bytes.append(bracket)
    }

    private mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        let bit: UInt64 = 1 << UInt64(depth)
        if needsComma & bit != 0 { bytes.append(UInt8(ascii: ",")) }
        needsComma |= bit
    }

    /// A JSON string literal; `<`, `>` and `&` escaped too, so a body is safe wherever it is pasted.
    /// The runs between characters that need escaping are copied whole.
    static func appendQuoted(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var runStart = 0
            for index in utf8.indices where needsEscape(utf8[index]) {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                appendEscape(utf8[index], to: &bytes)
                runStart = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    @inline(__always)
    private static func needsEscape(_ byte: UInt8) -> Bool {
        // UTF-8 continuation and lead bytes are all >= 0x80 and pass through.
        switch byte {
        case 0..<0x20, UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"): true
        default: false
        }
    }

    private static func appendEscape(_ byte: UInt8, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
        case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "n"))
        case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "r"))
        case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "t"))
        default:
            let hex = { (nibble: UInt8) in nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10 }
            bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex(byte >> 4), hex(byte & 0xF)])
        }
    }

    static func quote(_ value: String) -> String {
        var bytes: [UInt8] = []
        appendQuoted(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The headers of every JSON response, built once.
    static let headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]

    /// A JSON response with this body.
    static func response(status: HTTPResponse.Status = .ok, _ body: (inout JSONWriter) -> Void) -> Response {
        var writer = JSONWriter()
        body(&writer)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: writer.bytes)))
    }
}

/// A value that writes itself as JSON.
protocol JSONWritable {
    func write(to json: inout JSONWriter)
}
