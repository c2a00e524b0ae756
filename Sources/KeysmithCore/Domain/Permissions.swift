/// What a key may do beyond its scope (seed 000: a key inherits the permissions of the caller that creates
/// it). A permission is a name such as `calls.read`, a wildcard such as `agents.*` for every name under
/// `agents.`, or `*` for everything. A workspace's first key has `["*"]`.
public enum Permissions {
    /// Every permission.
    public static let all = "*"
    public static let maxCount = 100
    public static let maxLength = 128

    /// Whether `name` is `*` or matches `^[a-z0-9_.:-]+(\.\*)?$`.
    public static func isValid(_ name: String) -> Bool {
        if name == all { return true }
        var body = Substring(name)
        if body.hasSuffix(".*") { body = body.dropLast(2) }
        return !body.isEmpty && name.utf8.count <= maxLength && body.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "-")
        }
    }

    /// A list a client asked for: every entry valid, at most `maxCount`, duplicates dropped (first kept).
    public static func validate(_ raw: [String], field: String = "permissions") throws(FieldError) -> [String] {
        guard raw.count <= maxCount else { throw FieldError("\(field) may hold at most \(maxCount) permissions; it has \(raw.count)") }
        var seen = Set<String>()
        var result: [String] = []
        for name in raw {
            guard isValid(name) else {
                throw FieldError("\(field): '\(name.prefix(maxLength))' is not a permission; use '*' or lowercase letters, digits, '_', '.', ':' and '-', optionally ending in '.*' (such as calls.read or agents.*), at most \(maxLength) characters")
            }
            if seen.insert(name).inserted { result.append(name) }
        }
        return result
    }

    /// Whether holding `granted` allows `required`: `*` allows everything, `calls.*` allows every name
    /// under `calls.` (`calls.read`, `calls.*`, `calls.recordings.read`), any other name only itself.
    public static func covers(_ granted: String, _ required: String) -> Bool {
        if granted == all { return true }
        if granted.hasSuffix(".*") { return required != all && required.hasPrefix(granted.dropLast()) }
        return granted == required
    }

    /// Whether one of `granted` allows `required`.
    public static func covers(_ granted: [String], _ required: String) -> Bool {
        granted.contains { covers($0, required) }
    }

    /// The first of `requested` that `granted` does not allow, or `nil` when it allows them all.
    public static func firstUncovered(_ requested: [String], by granted: [String]) -> String? {
        requested.first { !covers(granted, $0) }
    }
}
