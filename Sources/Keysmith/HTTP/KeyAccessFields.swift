/// The access fields of a create or PATCH body: `permissions`, `rate_limit` and `allowed_ips`, validated
/// (400) before anything is changed. `nil` means the field was not given.
struct KeyAccessFields {
    static let names: Set<String> = ["permissions", "rate_limit", "allowed_ips"]

    var permissions: [String]?
    /// `.some(nil)`: `null`, no limit.
    var rateLimit: RateLimit??
    /// `.some(nil)`: `null`, every address.
    var allowedIPs: [IPRange]??

    /// `permissions: null` is "not given" on create (the creator's permissions) and a 400 on PATCH.
    init(_ body: JSONObject, nullPermissionsAllowed: Bool) throws {
        if body.has("permissions") {
            switch try body.nullableStrings("permissions") {
            case .some(.some(let raw)): permissions = try Permissions.validate(raw)
            case .some(.none) where !nullPermissionsAllowed:
                throw APIError.badRequest("'permissions' must be an array of strings, such as [\"calls.read\", \"agents.*\"]")
            default: permissions = nil
            }
        }
        switch try body.object("rate_limit") {
        case nil: rateLimit = nil
        case .some(nil): rateLimit = .some(nil)
        case .some(let limit?):
            if let unknown = limit.unknownField(allowed: ["limit", "window_seconds"]) {
                throw APIError.badRequest("unknown field 'rate_limit.\(unknown)'; rate_limit has limit and window_seconds")
            }
            rateLimit = .some(try KeyFields.rateLimit(limit: try limit.integer("limit", in: "rate_limit"),
                                                      windowSeconds: try limit.integer("window_seconds", in: "rate_limit")))
        }
        switch try body.nullableStrings("allowed_ips") {
        case nil: allowedIPs = nil
        case .some(nil): allowedIPs = .some(nil)
        case .some(let raw?): allowedIPs = .some(try KeyFields.allowedIPs(raw))
        }
    }

    var isEmpty: Bool { permissions == nil && rateLimit == nil && allowedIPs == nil }
}
