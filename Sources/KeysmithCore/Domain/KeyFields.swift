/// The rules for what a client may set on a key. Each failure is a message that says what to fix.
public enum KeyFields {
    public static let maxNameLength = 200
    /// Lengths are in Unicode code points, as JSON Schema counts them, and in bytes of UTF-8 as well.
    public static let maxNameBytes = 800
    public static let maxDescriptionLength = 1000
    public static let maxDescriptionBytes = 4000
    public static let maxSearchLength = 200

    /// Trimmed name; 400 when missing, empty, too long, or with control or invisible format characters
    /// (seeds 000 and 003).
    public static func name(_ raw: String?) throws(FieldError) -> String {
        guard let raw else { throw FieldError("name is required") }
        let name = raw.trimmingWhitespace
        guard !name.isEmpty else { throw FieldError("name must not be empty") }
        guard name.unicodeScalars.count <= maxNameLength, name.utf8.count <= maxNameBytes else {
            throw FieldError("name must be at most \(maxNameLength) characters (Unicode code points) and \(maxNameBytes) bytes of UTF-8")
        }
        if let problem = invisibleProblem(in: name, allowing: []) { throw FieldError("name must not contain \(problem)") }
        return name
    }

    /// Optional description; line breaks and tabs allowed, other control characters not. Empty means none.
    public static func description(_ raw: String?) throws(FieldError) -> String? {
        guard let raw else { return nil }
        let text = raw.trimmingWhitespace
        guard text.unicodeScalars.count <= maxDescriptionLength, text.utf8.count <= maxDescriptionBytes else {
            throw FieldError("description must be at most \(maxDescriptionLength) characters (Unicode code points) and \(maxDescriptionBytes) bytes of UTF-8")
        }
        if let problem = invisibleProblem(in: text, allowing: ["\n", "\t", "\r"]) {
            throw FieldError("description must not contain \(problem) (line breaks and tabs are allowed)")
        }
        return text.isEmpty ? nil : text
    }

    /// A list search term: at most `maxSearchLength` characters; empty means none.
    public static func search(_ raw: String?) throws(FieldError) -> String? {
        guard let raw, !raw.isEmpty else { return nil }
        guard raw.unicodeScalars.count <= maxSearchLength else {
            throw FieldError("search must be at most \(maxSearchLength) characters")
        }
        return raw
    }

    /// Characters that would let a name look like another one or reorder what is shown around it: control
    /// characters, format characters (category Cf: bidi overrides, zero-width characters) and the line and
    /// paragraph separators.
    static func invisibleProblem(in text: String, allowing allowed: Set<Unicode.Scalar>) -> String? {
        for scalar in text.unicodeScalars where !allowed.contains(scalar) {
            switch scalar.properties.generalCategory {
            case .control: return "control characters"
            case .format: return "invisible formatting characters (such as bidi overrides or zero-width characters)"
            case .lineSeparator, .paragraphSeparator: return "line or paragraph separators"
            default: continue
            }
        }
        return nil
    }

    public static func scope(_ raw: String?, default fallback: Scope) throws(FieldError) -> Scope {
        guard let raw else { return fallback }
        guard let scope = Scope(rawValue: raw) else {
            throw FieldError("scope must be one of \(Scope.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return scope
    }

    /// An ISO 8601 date-time in the future, or none.
    public static func expiry(_ raw: String?, now: Timestamp) throws(FieldError) -> Timestamp? {
        guard let raw else { return nil }
        guard let expiry = Timestamp(iso8601: raw) else {
            throw FieldError("expires_at must be an ISO 8601 date-time such as 2030-01-31T12:00:00Z")
        }
        guard expiry > now else { throw FieldError("expires_at must be in the future") }
        return expiry
    }

    /// A requested expiry within the creator's own: a key may not create a key that outlives it. Without a
    /// request, a creator that expires gives the new key its own expiry.
    public static func expiry(_ requested: Timestamp?, within creator: Timestamp?) throws(FieldError) -> Timestamp? {
        guard let creator else { return requested }
        guard let requested else { return creator }
        guard requested <= creator else {
            throw FieldError("expires_at must not be later than the expiry of the key that creates it (\(creator))")
        }
        return requested
    }

    /// An opaque label grouping the keys of one non-human consumer (seed 004).
    public static func serviceAccountID(_ raw: String?) throws(FieldError) -> String? {
        guard let raw else { return nil }
        let allowed = raw.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":")
        }
        guard !raw.isEmpty, raw.utf8.count <= 128, allowed else {
            throw FieldError("service_account_id must be 1 to 128 characters of letters, digits, '-', '_', '.' or ':'")
        }
        return raw
    }

    /// Workspace names: the same rules as key names.
    public static func workspaceName(_ raw: String) throws(FieldError) -> String {
        do { return try name(raw) } catch { throw FieldError(error.message.replacingFirst("name", with: "workspace name")) }
    }
}

extension String {
    var trimmingWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }

    fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
