/// Where management actions are recorded. Each entry is written by the store in the same transaction as
/// the change it records (the `audit:` argument of the store's changing methods); this protocol reads them.
public protocol AuditStore: Sendable {
    func auditEvents(_ query: AuditQuery) async throws -> (events: [AuditEvent], total: Int)
    /// Deletes entries older than `before`; returns how many.
    func pruneAuditEvents(before: Timestamp) async throws -> Int
}

/// Who is acting, from where, in which request: what every audit entry of one request shares.
public struct AuditContext: Sendable, Equatable {
    /// The acting key's id, or `cli`.
    public var actor: String
    public var ip: String?
    public var userAgent: String?
    public var requestID: String?

    public init(actor: String, ip: String? = nil, userAgent: String? = nil, requestID: String? = nil) {
        self.actor = actor
        self.ip = ip
        self.userAgent = userAgent
        self.requestID = requestID
    }

    /// The `keysmith` command line.
    public static let cli = AuditContext(actor: "cli")
}

/// One recorded action. `changes` is a JSON object of the fields the action changed, never a secret.
public struct AuditEvent: Sendable, Equatable {
    public var id: String
    public var workspaceID: String
    public var at: Timestamp
    public var actor: String
    /// `api_key.created`, `api_key.renamed`, `webhook.deleted`, … (see `AuditAction`).
    public var action: String
    public var targetType: String
    public var targetID: String
    public var ip: String?
    public var userAgent: String?
    public var requestID: String?
    public var changes: String

    public init(id: String = "aud_" + RandomID.make(length: 24), workspaceID: String, at: Timestamp, context: AuditContext,
                action: AuditAction, targetID: String, changes: String = "{}") {
        self.id = id
        self.workspaceID = workspaceID
        self.at = at
        self.actor = context.actor
        self.action = action.rawValue
        self.targetType = action.targetType
        self.targetID = targetID
        self.ip = context.ip
        self.userAgent = context.userAgent
        self.requestID = context.requestID
        self.changes = changes
    }

    public init(id: String, workspaceID: String, at: Timestamp, actor: String, action: String, targetType: String, targetID: String,
                ip: String?, userAgent: String?, requestID: String?, changes: String) {
        self.id = id
        self.workspaceID = workspaceID
        self.at = at
        self.actor = actor
        self.action = action
        self.targetType = targetType
        self.targetID = targetID
        self.ip = ip
        self.userAgent = userAgent
        self.requestID = requestID
        self.changes = changes
    }
}

/// The actions the audit log records.
public enum AuditAction: String, Sendable, CaseIterable {
    case keyCreated = "api_key.created"
    case keyRenamed = "api_key.renamed"
    case keyDescriptionChanged = "api_key.description_changed"
    case keyRolled = "api_key.rolled"
    case keyDisabled = "api_key.disabled"
    case keyEnabled = "api_key.enabled"
    case keyRevoked = "api_key.revoked"
    case keyRateLimitChanged = "api_key.rate_limit_changed"
    case keyPermissionsChanged = "api_key.permissions_changed"
    case keyAllowedIPsChanged = "api_key.allowed_ips_changed"
    case keyMetadataChanged = "api_key.metadata_changed"
    case webhookCreated = "webhook.created"
    case webhookUpdated = "webhook.updated"
    case webhookDeleted = "webhook.deleted"

    public var targetType: String { rawValue.hasPrefix("webhook.") ? "webhook" : "api_key" }
}

/// A page of a workspace's audit log, newest first.
public struct AuditQuery: Sendable, Equatable {
    public var workspaceID: String
    public var page: Int
    public var limit: Int
    public var action: String?
    public var targetID: String?

    public init(workspaceID: String, page: Int = 1, limit: Int = 20, action: String? = nil, targetID: String? = nil) {
        self.workspaceID = workspaceID
        self.page = page
        self.limit = limit
        self.action = action
        self.targetID = targetID
    }
}
