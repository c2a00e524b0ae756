/// A stored key: everything but the secret, which exists only as `secretHash`.
public struct APIKey: Sendable, Equatable {
    public var id: String
    public var workspaceID: String
    public var name: String
    public var description: String?
    public var scope: Scope
    public var secretHash: SecretHash
    public var serviceAccountID: String?
    public var createdAt: Timestamp
    /// The id of the key that created this one, or `cli`.
    public var createdBy: String
    public var expiresAt: Timestamp?
    public var lastUsed: KeyUsage?
    public var revokedAt: Timestamp?
    /// What the key may do beyond its scope (`calls.read`, `agents.*`, `*`); see `Permissions`.
    public var permissions: [String]
    /// Requests per window, or `nil` for no limit.
    public var rateLimit: RateLimit?
    /// Client addresses the key may be used from, or `nil` for any.
    public var allowedIPs: [IPRange]?
    /// A disabled key is refused everywhere until it is enabled again.
    public var enabled: Bool
    /// The caller's own JSON object (at most 4 KiB), stored and returned as it was given.
    public var metadata: String?
    /// The secret's fixed prefix and its first four random characters (`ks_In9o`), kept so that a person
    /// can match a key to where it is deployed; nothing else of the secret is stored.
    public var keyPrefix: String?
    /// The key this one replaced in a roll.
    public var rolledFrom: String?

    public init(
        id: String, workspaceID: String, name: String, description: String?, scope: Scope,
        secretHash: SecretHash, serviceAccountID: String?, createdAt: Timestamp, createdBy: String,
        expiresAt: Timestamp?, lastUsed: KeyUsage? = nil, revokedAt: Timestamp? = nil,
        permissions: [String] = ["*"], rateLimit: RateLimit? = nil, allowedIPs: [IPRange]? = nil,
        enabled: Bool = true, metadata: String? = nil, keyPrefix: String? = nil, rolledFrom: String? = nil
    ) {
        self.id = id
        self.workspaceID = workspaceID
        self.name = name
        self.description = description
        self.scope = scope
        self.secretHash = secretHash
        self.serviceAccountID = serviceAccountID
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.expiresAt = expiresAt
        self.lastUsed = lastUsed
        self.revokedAt = revokedAt
        self.permissions = permissions
        self.rateLimit = rateLimit
        self.allowedIPs = allowedIPs
        self.enabled = enabled
        self.metadata = metadata
        self.keyPrefix = keyPrefix
        self.rolledFrom = rolledFrom
    }

    public func isExpired(at now: Timestamp) -> Bool {
        guard let expiresAt else { return false }
        return expiresAt <= now
    }

    /// Whether a request with this key may be served at `now`.
    public func isUsable(at now: Timestamp) -> Bool { enabled && revokedAt == nil && !isExpired(at: now) }
}

/// A key's request budget: `limit` requests in any `windowSeconds`.
public struct RateLimit: Sendable, Hashable {
    public var limit: Int
    public var windowSeconds: Int

    public init(limit: Int, windowSeconds: Int) {
        self.limit = limit
        self.windowSeconds = windowSeconds
    }
}

/// When, from where and by what a key was last used.
public struct KeyUsage: Sendable, Equatable {
    public var at: Timestamp
    public var ip: String?
    public var userAgent: String?

    public init(at: Timestamp, ip: String?, userAgent: String?) {
        self.at = at
        self.ip = ip
        self.userAgent = userAgent
    }
}

/// A workspace: the unit keys belong to and never leave.
public struct Workspace: Sendable, Equatable {
    public var id: String
    public var name: String
    public var createdAt: Timestamp

    public init(id: String, name: String, createdAt: Timestamp) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }

    public static func newID() -> String { "ws_" + APIKeyToken.newKeyID() }
}
