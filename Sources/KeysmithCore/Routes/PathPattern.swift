/// A route rule's `path`: segments separated by `/`, where `*` matches any characters within one segment
/// (never a `/`) and `**`, as a whole segment, any number of segments, none included, so `/v1/calls/**`
/// matches `/v1/calls`, `/v1/calls/` and `/v1/calls/7/notes`. Literal parts are canonical like a
/// `RequestPath`'s segments, so `/v1/%63alls` and `/v1/calls` are one pattern.
public struct PathPattern: Sendable, Hashable, CustomStringConvertible {
    enum Segment: Sendable, Hashable {
        /// `**`
        case anySegments
        /// Literal parts between `*`s: `["calls", ""]` is `calls*`; one part is a literal segment.
        case glob([[UInt8]])
    }

    let segments: [Segment]
    public let caseSensitive: Bool
    public let description: String

    public static let maxLength = 1024

    /// `text` as a pattern; the error says what is wrong with it.
    public init(_ text: String, caseSensitive: Bool = true) throws(FieldError) {
        guard text.first == "/" else { throw FieldError("a path pattern starts with '/', such as /v1/calls/**") }
        guard text.utf8.count <= Self.maxLength else { throw FieldError("a path pattern is at most \(Self.maxLength) characters") }
        if let bad = text.utf8.first(where: { !RequestPath.isPathCharacter($0) && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "%") }) {
            let shown = (0x21...0x7E).contains(bad) ? "'\(Character(Unicode.Scalar(bad)))'" : "a space, control or non-ASCII character"
            throw FieldError("a path pattern may not hold \(shown); write it percent-encoded, and leave out any query")
        }
        var segments: [Segment] = []
        for raw in text.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            let literal = String(decoding: raw, as: UTF8.self)
            if literal == "**" {
                if segments.last != .anySegments { segments.append(.anySegments) }
                continue
            }
            if literal.contains("**") { throw FieldError("'**' matches whole segments only, as in /v1/calls/**; '\(literal)' is not one") }
            if literal == "." || literal == ".." { throw FieldError("a path pattern may not hold '.' or '..' segments") }
            var parts = raw.split(separator: UInt8(ascii: "*"), omittingEmptySubsequences: false).map { RequestPath.canonicalBytes($0) }
            if !caseSensitive { parts = parts.map(RequestPath.lowercased) }
            segments.append(.glob(parts))
        }
        self.segments = segments
        self.caseSensitive = caseSensitive
        self.description = text
    }

    /// Whether `path` matches.
    public func matches(_ path: RequestPath) -> Bool {
        Self.match(caseSensitive ? path.bytes : path.lowercasedBytes, segments)
    }

    /// Wildcard matching over segments, `**` the wildcard: the classic greedy match with one backtrack
    /// point, linear in practice and never exponential.
    static func match(_ names: [[UInt8]], _ pattern: [Segment]) -> Bool {
        var n = 0, p = 0
        var star: (pattern: Int, name: Int)?
        while n < names.count {
            if p < pattern.count {
                switch pattern[p] {
                case .glob(let parts) where matches(names[n], parts):
                    n += 1; p += 1
                    continue
                case .anySegments:
                    star = (p, n); p += 1
                    continue
                case .glob:
                    break
                }
            }
            guard let last = star else { return false }
            star = (last.pattern, last.name + 1)
            p = last.pattern + 1; n = last.name + 1
        }
        while p < pattern.count, case .anySegments = pattern[p] { p += 1 }
        return p == pattern.count
    }

    /// Whether one segment matches literal `parts` joined by `*`s.
    static func matches(_ name: [UInt8], _ parts: [[UInt8]]) -> Bool {
        if parts.count == 1 { return name == parts[0] }
        guard name.starts(with: parts[0]), name.count >= parts[0].count + parts[parts.count - 1].count,
              name.reversed().starts(with: parts[parts.count - 1].reversed()) else { return false }
        // The middle parts, each at its first place after the previous one: leftmost-first is enough for `*`.
        var from = parts[0].count
        let end = name.count - parts[parts.count - 1].count
        for part in parts.dropFirst().dropLast() {
            guard let found = firstIndex(of: part, in: name, from: from, to: end) else { return false }
            from = found + part.count
        }
        return true
    }

    private static func firstIndex(of part: [UInt8], in name: [UInt8], from: Int, to end: Int) -> Int? {
        guard !part.isEmpty else { return from }
        var start = from
        while start + part.count <= end {
            if name[start..<start + part.count].elementsEqual(part) { return start }
            start += 1
        }
        return nil
    }
}
