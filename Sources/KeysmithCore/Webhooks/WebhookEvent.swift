/// The events Keysmith sends to webhooks.
public enum WebhookEventType: String, Sendable, CaseIterable {
    case keyCreated = "api_key.created"
    case keyRenamed = "api_key.renamed"
    case keyRevoked = "api_key.revoked"
    case keyExpired = "api_key.expired"
    case keyRolled = "api_key.rolled"
    case keyDisabled = "api_key.disabled"
    case keyEnabled = "api_key.enabled"
    /// Sent once per key, a set time (`--expiry-warning`) before it expires.
    case keyExpiring = "api_key.expiring"
    case test = "webhook.test"

    /// The events an endpoint can subscribe to (`webhook.test` is sent on request to one endpoint only).
    public static let subscribable: [WebhookEventType] = [
        .keyCreated, .keyRenamed, .keyRevoked, .keyExpired, .keyRolled, .keyDisabled, .keyEnabled, .keyExpiring,
    ]
}

/// One event in the outbox: written in the same transaction as the change that caused it.
public struct WebhookEvent: Sendable, Equatable {
    public let id: String
    public let workspaceID: String
    public let type: WebhookEventType
    public let keyID: String?
    public let createdAt: Timestamp
    /// The exact body every delivery of this event sends, so `X-DialNexa-Signature` is the same on every retry.
    public let payload: String

    public init(id: String, workspaceID: String, type: WebhookEventType, keyID: String?, createdAt: Timestamp, payload: String) {
        self.id = id
        self.workspaceID = workspaceID
        self.type = type
        self.keyID = keyID
        self.createdAt = createdAt
        self.payload = payload
    }
}

/// Random lowercase alphanumeric identifiers for events and webhooks.
public enum RandomID {
    public static func make(length: Int) -> String {
        SecureRandom.string(length, from: Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8))
    }
}
