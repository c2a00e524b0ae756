/// Issues keys and workspaces: the one place a secret is generated and hashed.
public struct KeyIssuer: Sendable {
    public let store: any KeyStore
    /// The fixed prefix of every new secret (default `ks_`), for secret scanners.
    public let secretPrefix: String
    /// The application's clock: the creation time of every key and workspace.
    public let clock: @Sendable () -> Timestamp
    /// Keys a workspace may hold that are not revoked; creates past it throw `KeyStoreError.activeKeyQuota`.
    /// `nil` (the CLI, an operator's tool): no limit.
    public let activeKeyLimit: Int?

    public init(store: any KeyStore, secretPrefix: String = "ks_", clock: @escaping @Sendable () -> Timestamp = { .now() },
                activeKeyLimit: Int? = nil) {
        self.store = store
        self.secretPrefix = secretPrefix
        self.clock = clock
        self.activeKeyLimit = activeKeyLimit
    }

    /// What a new key is made of, before it has an id.
    public struct Request: Sendable {
        public var workspaceID: String
        public var name: String
        public var description: String?
        public var scope: Scope
        public var expiresAt: Timestamp?
        public var serviceAccountID: String?
        public var createdBy: String
        public var permissions: [String]
        public var rateLimit: RateLimit?
        public var allowedIPs: [IPRange]?
        /// A JSON object, as `JSONObject.metadata` wrote it.
        public var metadata: String?

        public init(workspaceID: String, name: String, description: String? = nil, scope: Scope, expiresAt: Timestamp? = nil, serviceAccountID: String? = nil, createdBy: String,
                    permissions: [String] = [Permissions.all], rateLimit: RateLimit? = nil, allowedIPs: [IPRange]? = nil, metadata: String? = nil) {
            self.workspaceID = workspaceID
            self.name = name
            self.description = description
            self.scope = scope
            self.expiresAt = expiresAt
            self.serviceAccountID = serviceAccountID
            self.createdBy = createdBy
            self.permissions = permissions
            self.rateLimit = rateLimit
            self.allowedIPs = allowedIPs
            self.metadata = metadata
        }
    }

    /// Stores a new key and returns it with its token, the only time the secret exists outside the caller.
    public func issue(_ request: Request, audit: AuditContext? = nil) async throws -> (key: APIKey, token: APIKeyToken) {
        try await issue([request], audit: audit)[0]
    }

    /// Stores new keys in one transaction, all or none, in the order asked for.
    /// With `audit`, each key's creation is recorded in the same transaction.
    public func issue(_ requests: [Request], audit: AuditContext? = nil) async throws -> [(key: APIKey, token: APIKeyToken)] {
        while true {
            let now = clock()
            let issued = requests.map { request in
                let token = APIKeyToken.generate(prefix: secretPrefix)
                let key = APIKey(
                    id: token.keyID, workspaceID: request.workspaceID, name: request.name, description: request.description,
                    scope: request.scope, secretHash: SecretHash(secret: token.secret), serviceAccountID: request.serviceAccountID,
                    createdAt: now, createdBy: request.createdBy, expiresAt: request.expiresAt,
                    permissions: request.permissions, rateLimit: request.rateLimit, allowedIPs: request.allowedIPs,
                    metadata: request.metadata, keyPrefix: token.keyPrefix(secretPrefix: secretPrefix)
                )
                return (key: key, token: token)
            }
            guard Set(issued.map(\.key.id)).count == issued.count else { continue }
            do {
                try await store.insertKeys(issued.map(\.key), activeKeyLimit: activeKeyLimit, audit: audit)
                return issued
            } catch KeyStoreError.duplicateKeyID {
                continue  // 26^14 ids: a collision is rare enough that trying again is the whole answer
            }
        }
    }

    /// Creates a workspace and its first `admin` key.
    public func createWorkspace(named rawName: String, createdBy: String = "cli") async throws -> (workspace: Workspace, key: APIKey, token: APIKeyToken) {
        let workspace = Workspace(id: Workspace.newID(), name: try KeyFields.workspaceName(rawName), createdAt: clock())
        try await store.createWorkspace(workspace)
        let (key, token) = try await issue(.init(workspaceID: workspace.id, name: "admin", scope: .admin, createdBy: createdBy),
                                           audit: createdBy == "cli" ? .cli : AuditContext(actor: createdBy))
        return (workspace, key, token)
    }

    /// Secret prefixes are lowercase letters and digits ending in `_`, so the scanner regex stays simple.
    public static func isValidPrefix(_ prefix: String) -> Bool {
        let body = prefix.utf8.dropLast()
        return prefix.utf8.count >= 2 && prefix.utf8.count <= 16 && prefix.utf8.last == UInt8(ascii: "_")
            && body.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }
    }
}
