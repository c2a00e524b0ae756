/// What a key may do. Scopes are ordered: `read` < `read-write` < `admin`.
public enum Scope: String, Sendable, Codable, CaseIterable, Comparable {
    case read
    case readWrite = "read-write"
    case admin

    private var rank: Int {
        switch self {
        case .read: 0
        case .readWrite: 1
        case .admin: 2
        }
    }

    public static func < (lhs: Scope, rhs: Scope) -> Bool { lhs.rank < rhs.rank }

    /// True when a key of this scope may do what `required` allows.
    public func allows(_ required: Scope) -> Bool { self >= required }
}
