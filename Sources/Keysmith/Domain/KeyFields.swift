/// The rules for what a client may set on a key. Each failure is a message that says what to fix.
public enum KeyFields {
    public static let maxNameLength = 200
    public static let maxDescriptionLength = 1000

    /// Trimmed name; 400 when missing, empty, too long or with control characters (seeds 000 and 003).
    public static func name(_ raw: String?) throws(APIError) -> String {
        guard let raw else { throw .badRequest("name is required") }
        let name = raw.trimmingWhitespace
        guard !name.isEmpty else { throw .badRequest("name must not be empty") }
        guard name.count <= maxNameLength else { throw .badRequest("name must be at most \(maxNameLength) characters") }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .badRequest("name must not contain control characters")
        }
        return name
    }

    /// Optional description; line breaks and tabs allowed, other control characters not. Empty means none.
    public static func description(_ raw: String?) throws(APIError) -> String? {
        guard let raw else { return nil }
        let text = raw.trimmingWhitespace
        guard text.count <= maxDescriptionLength else { throw .badRequest("description must be at most \(maxDescriptionLength) characters") }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\n" && $0 != "\t" }) else {
            throw .badRequest("description must not contain control characters other than line breaks and tabs")
        }
        return text.isEmpty ? nil : text
    }

    public static func scope(_ raw: String?, default fallback: Scope) throws(APIError) -> Scope {
        guard let raw else { return fallback }
        guard let scope = Scope(rawValue: raw) else {
            throw .badRequest("scope must be one of \(Scope.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return scope
    }

    /// An ISO 8601 date-time in the future, or none.
    public static func expiry(_ raw: String?, now: Timestamp) throws(APIError) -> Timestamp? {
        guard let raw else { return nil }
        guard let expiry = Timestamp(iso8601: raw) else {
            throw .badRequest("expires_at must be an ISO 8601 date-time such as 2030-01-31T12:00:00Z")
        }
        guard expiry > now else { throw .badRequest("expires_at must be in the future") }
        return expiry
    }

    /// An opaque label grouping the keys of one non-human consumer (seed 004).
    public static func serviceAccountID(_ raw: String?) throws(APIError) -> String? {
        guard let raw else { return nil }
        let allowed = raw.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":")
        }
        guard !raw.isEmpty, raw.utf8.count <= 128, allowed else {
            throw .badRequest("service_account_id must be 1 to 128 characters of letters, digits, '-', '_', '.' or ':'")
        }
        return raw
    }

    /// Workspace names: the same rules as key names.
    public static func workspaceName(_ raw: String) throws(APIError) -> String {
        do { return try name(raw) } catch { throw .badRequest(error.message.replacingFirst("name", with: "workspace name")) }
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
