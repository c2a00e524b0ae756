import Hummingbird

/// A request's query string decoded as `application/x-www-form-urlencoded` (what HTML forms, browsers'
/// `URLSearchParams` and Python's requests send): `+` is a space, `%2B` a plus. Hummingbird's own
/// `queryParameters` leaves `+` as it is, so every route reads its parameters through this type.
struct QueryParameters: Sendable {
    private var pairs: [(name: String, value: String)] = []

    init(_ query: String?) {
        guard let query, !query.isEmpty else { return }
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            pairs.append((Self.decode(pieces[0]), pieces.count > 1 ? Self.decode(pieces[1]) : ""))
        }
    }

    init(_ request: Request) { self.init(request.uri.query) }

    /// The first value of a parameter.
    subscript(name: String) -> String? { pairs.first { $0.name == name }?.value }

    /// An integer parameter within `range`; `fallback` when absent; 400 otherwise.
    func integer(_ name: String, default fallback: Int, range: ClosedRange<Int>) throws(APIError) -> Int {
        guard let raw = self[name] else { return fallback }
        guard raw.utf8.count <= 12, let value = Int(raw), range.contains(value) else {
            throw .badRequest("\(name) must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A boolean parameter: `true`/`1` or `false`/`0`; false when absent; 400 otherwise.
    func boolean(_ name: String) throws(APIError) -> Bool {
        switch self[name] {
        case nil, "false"?, "0"?: return false
        case "true"?, "1"?: return true
        default: throw .badRequest("\(name) must be true or false")
        }
    }

    /// Form decoding: `+` to space, then `%XX` to bytes; a malformed escape is kept as written.
    static func decode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var input = text.utf8[...]
        while let byte = input.popFirst() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                let digits = input.prefix(2)
                if digits.count == 2, let high = hexValue(digits.first!), let low = hexValue(digits.last!) {
                    bytes.append(high << 4 | low)
                    input = input.dropFirst(2)
                } else {
                    bytes.append(byte)
                }
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
