/// A request's path in one canonical spelling, as route rules see it, so that a rule cannot be passed by
/// writing the same path another way: the query and fragment left out; each segment's percent-encoded
/// unreserved characters decoded (`%63` is `c`), other encodings kept with upper-case hex (an encoded
/// `/` stays `%2F`, inside its segment, never a separator) and bytes a path may not hold encoded; empty
/// segments dropped (`//` is `/`, and a trailing `/` is insignificant); `.` and `..` resolved (never
/// above the root).
public struct RequestPath: Sendable, Hashable, CustomStringConvertible {
    /// The segments' bytes, in canonical ASCII, as given and in lower case: what patterns compare, made
    /// once per request rather than once per rule.
    let bytes: [[UInt8]]
    let lowercasedBytes: [[UInt8]]

    /// The segments; `[]` is `/`.
    public var segments: [String] { bytes.map { String(decoding: $0, as: UTF8.self) } }

    /// A request target as gateways send it: a path with an optional query (`/v1/calls?x=1`), or an
    /// absolute URI (`http://host/v1/calls`), whose scheme and authority are left out.
    public init(_ target: some StringProtocol) {
        var bytes = Array(target.utf8)
        if let end = bytes.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            bytes.removeSubrange(end...)
        }
        if bytes.first != UInt8(ascii: "/"), let scheme = Self.authorityStart(bytes) {
            bytes = Array(bytes[scheme...].drop { $0 != UInt8(ascii: "/") })
        }
        var segments: [[UInt8]] = []
        for raw in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            let segment = Self.canonicalBytes(raw)
            if segment == Self.dot { continue }
            if segment == Self.dotDot {
                if !segments.isEmpty { segments.removeLast() }
                continue
            }
            segments.append(segment)
        }
        self.bytes = segments
        // Most paths are in lower case already: then the same storage serves both.
        let hasUpperCase = segments.contains { $0.contains { (0x41...0x5A).contains($0) } }
        self.lowercasedBytes = hasUpperCase ? segments.map(Self.lowercased) : segments
    }

    private static let dot: [UInt8] = [UInt8(ascii: ".")]
    private static let dotDot: [UInt8] = [UInt8(ascii: "."), UInt8(ascii: ".")]

    static func lowercased(_ bytes: [UInt8]) -> [UInt8] {
        bytes.map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }
    }

    public static func == (left: RequestPath, right: RequestPath) -> Bool { left.bytes == right.bytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }

    public var description: String { "/" + segments.joined(separator: "/") }

    /// Where the authority of `scheme://authority/path` starts, or `nil` when `bytes` has no scheme.
    private static func authorityStart(_ bytes: [UInt8]) -> Int? {
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0,
              bytes[..<colon].allSatisfy({ isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }),
              bytes.count >= colon + 3, bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/")
        else { return nil }
        return colon + 3
    }

    /// One segment in canonical form (see the type). Also used for the literal parts of rule patterns.
    static func canonical(_ raw: some Collection<UInt8>) -> String {
        String(decoding: canonicalBytes(raw), as: UTF8.self)
    }

    static func canonicalBytes(_ raw: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index != raw.endIndex {
            let byte = raw[index]
            let next = raw.index(after: index)
            if byte == UInt8(ascii: "%"), next != raw.endIndex, raw.index(after: next) != raw.endIndex,
               let high = hexValue(raw[next]), let low = hexValue(raw[raw.index(after: next)]) {
                let decoded = high << 4 | low
                if isUnreserved(decoded) { out.append(decoded) } else { appendEncoded(decoded, to: &out) }
                index = raw.index(after: raw.index(after: next))
                continue
            }
            // A '%' without two hex digits is a literal '%'; any byte a path may not hold is encoded.
            if byte != UInt8(ascii: "%"), isPathCharacter(byte) { out.append(byte) } else { appendEncoded(byte, to: &out) }
            index = next
        }
        return out
    }

    private static func appendEncoded(_ byte: UInt8, to out: inout [UInt8]) {
        let digits = Array("0123456789ABCDEF".utf8)
        out.append(UInt8(ascii: "%"))
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }

    static func isAlpha(_ byte: UInt8) -> Bool { (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) }
    static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }

    /// RFC 3986 `unreserved`: letters, digits, `-`, `.`, `_`, `~`.
    static func isUnreserved(_ byte: UInt8) -> Bool {
        isAlpha(byte) || isDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
    }

    /// RFC 3986 `pchar` less `%`: unreserved, sub-delims, `:` and `@`.
    static func isPathCharacter(_ byte: UInt8) -> Bool {
        isUnreserved(byte) || "!$&'()*+,;=:@".utf8.contains(byte)
    }
}
