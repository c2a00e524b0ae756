import Hummingbird
import NIOCore

/// Writes the API's JSON by hand: fields in the seeds' order, no escaped slashes, and no reflection on the
/// `whoami` path. Used for every response body, so there is one way JSON leaves the server.
struct JSONWriter {
    private(set) var text = ""
    private var needsComma = [false]

    init() { text.reserveCapacity(512) }

    mutating func object(_ body: (inout JSONWriter) -> Void) {
        separate()
        text += "{"
        needsComma.append(false)
        body(&self)
        needsComma.removeLast()
        text += "}"
    }

    mutating func array<S: Sequence>(_ items: S, _ body: (inout JSONWriter, S.Element) -> Void) {
        separate()
        text += "["
        needsComma.append(false)
        for item in items { body(&self, item) }
        needsComma.removeLast()
        text += "]"
    }

    mutating func key(_ name: String) {
        separate()
        text += "\"" + name + "\":"
        pendingValueAfterKey = true
    }

    mutating func field(_ name: String, _ value: String?) {
        key(name)
        value.map { string($0) } ?? raw("null")
    }

    mutating func field(_ name: String, _ value: Int) { key(name); raw(String(value)) }
    mutating func field(_ name: String, _ value: Bool) { key(name); raw(value ? "true" : "false") }
    mutating func field(_ name: String, _ value: Timestamp?) { field(name, value?.description) }

    mutating func string(_ value: String) { raw(Self.quote(value)) }

    mutating func raw(_ json: String) {
        separate()
        text += json
    }

    private var pendingValueAfterKey = false

    private mutating func separate() {
        if pendingValueAfterKey {
            pendingValueAfterKey = false
            needsComma[needsComma.count - 1] = true
            return
        }
        if needsComma[needsComma.count - 1] { text += "," }
        needsComma[needsComma.count - 1] = true
    }

    /// A JSON string literal; `<`, `>` and `&` escaped too, so a body is safe wherever it is pasted.
    static func quote(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar == "<" || scalar == ">" || scalar == "&" || scalar.value == 0x2028 || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A `200`-style JSON response with this body.
    static func response(status: HTTPResponse.Status = .ok, _ body: (inout JSONWriter) -> Void) -> Response {
        var writer = JSONWriter()
        body(&writer)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: writer.text))
        )
    }
}

/// A value that writes itself as JSON.
protocol JSONWritable {
    func write(to json: inout JSONWriter)
}
