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

    public init(
        id: String, workspaceID: String, name: String, description: String?, scope: Scope,
        secretHash: SecretHash, serviceAccountID: String?, createdAt: Timestamp, createdBy: String,
        expiresAt: Timestamp?, lastUsed: KeyUsage? = nil, revokedAt: Timestamp? = nil
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
    }

    public func isExpired(at now: Timestamp) -> Bool {
        guard let expiresAt else { return false }
        return expiresAt <= now
    }

    /// Whether a request with this key may be served at `now`.
    public func isUsable(at now: Timestamp) -> Bool { revokedAt == nil && !isExpired(at: now) }
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
