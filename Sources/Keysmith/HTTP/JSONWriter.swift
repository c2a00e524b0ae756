import Hummingbird
import NIOCore

/// Writes the API's JSON by hand, straight into bytes: fields in the seeds' order, no escaped slashes,
/// and no reflection or intermediate strings on the `whoami` path. Every response body is written with
/// it, so there is one way JSON leaves the server.
struct JSONWriter {
    private(set) var buffer = ByteBufferAllocator().buffer(capacity: 640)
    /// Bit n: whether the next member at nesting depth n needs a comma first.
    private var needsComma: UInt64 = 0
    private var depth = 0
    private var afterKey = false

    init() {}

    var text: String { String(buffer: buffer) }

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
        buffer.writeInteger(UInt8(ascii: "\""))
        name.withUTF8Buffer { _ = buffer.writeBytes($0) }
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeInteger(UInt8(ascii: ":"))
        afterKey = true
    }

    mutating func field(_ name: StaticString, _ value: String?) {
        key(name)
        if let value { string(value) } else { raw("null") }
    }

    mutating func field(_ name: StaticString, _ value: Int) { key(name); raw(String(value)) }
    mutating func field(_ name: StaticString, _ value: Bool) { key(name); raw(value ? "true" : "false") }

    mutating func field(_ name: StaticString, _ value: Timestamp?) {
        key(name)
        guard let value else { return raw("null") }
        separate()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(26)
        bytes.append(UInt8(ascii: "\""))
        value.writeISO8601(into: &bytes)
        bytes.append(UInt8(ascii: "\""))
        buffer.writeBytes(bytes)
    }

    mutating func string(_ value: String) {
        separate()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(value.utf8.count + 2)
        Self.appendQuoted(value, to: &bytes)
        buffer.writeBytes(bytes)
    }

    mutating func raw(_ json: String) {
        separate()
        buffer.writeString(json)
    }

    private mutating func open(_ bracket: UInt8) {
        separate()
        buffer.writeInteger(bracket)
        depth += 1
        needsComma &= ~(1 << UInt64(depth))
    }

    private mutating func close(_ bracket: UInt8) {
        depth -= 1
        buffer.writeInteger(bracket)
    }

    private mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        let bit: UInt64 = 1 << UInt64(depth)
        if needsComma & bit != 0 { buffer.writeInteger(UInt8(ascii: ",")) }
        needsComma |= bit
    }

    /// A JSON string literal; `<`, `>` and `&` escaped too, so a body is safe wherever it is pasted.
    static func appendQuoted(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20, UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"):
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)  // UTF-8 continuation and lead bytes are all >= 0x80
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    static func quote(_ value: String) -> String {
        var bytes: [UInt8] = []
        appendQuoted(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A JSON response with this body.
    static func response(status: HTTPResponse.Status = .ok, _ body: (inout JSONWriter) -> Void) -> Response {
        var writer = JSONWriter()
        body(&writer)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: writer.buffer)
        )
    }
}

/// A value that writes itself as JSON.
protocol JSONWritable {
    func write(to json: inout JSONWriter)
}
