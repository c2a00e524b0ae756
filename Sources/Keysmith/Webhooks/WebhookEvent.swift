/// The events Keysmith sends to webhooks.
public enum WebhookEventType: String, Sendable, CaseIterable {
    case keyCreated = "api_key.created"
    case keyRenamed = "api_key.renamed"
    case keyRevoked = "api_key.revoked"
    case keyExpired = "api_key.expired"
    case test = "webhook.test"

    /// The events an endpoint can subscribe to (`webhook.test` is sent on request to one endpoint only).
    public static let subscribable: [WebhookEventType] = [.keyCreated, .keyRenamed, .keyRevoked, .keyExpired]
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

    /// `{"id", "type", "created_at", "workspace_id", "data"}` around a key object (never a secret).
    static func about(_ key: APIKey, type: WebhookEventType, at now: Timestamp = .now()) -> WebhookEvent {
        make(type: type, workspaceID: key.workspaceID, keyID: key.id, at: now) { APIKeyResource(key, now: now).write(to: &$0) }
    }

    static func test(webhookID: String, workspaceID: String, at now: Timestamp = .now()) -> WebhookEvent {
        make(type: .test, workspaceID: workspaceID, keyID: nil, at: now) { json in
            json.object { json in
                json.field("webhook_id", webhookID)
                json.field("message", "This is a test event sent from Keysmith.")
            }
        }
    }

    private static func make(type: WebhookEventType, workspaceID: String, keyID: String?, at now: Timestamp, data: (inout JSONWriter) -> Void) -> WebhookEvent {
        let id = "evt_" + RandomID.make(length: 24)
        var json = JSONWriter()
        json.object { json in
            json.field("id", id)
            json.field("type", type.rawValue)
            json.field("created_at", now)
            json.field("workspace_id", workspaceID)
            json.key("data")
            data(&json)
        }
        return WebhookEvent(id: id, workspaceID: workspaceID, type: type, keyID: keyID, createdAt: now, payload: json.text)
    }
}

/// Random lowercase alphanumeric identifiers for events and webhooks.
enum RandomID {
    static func make(length: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int(rng.next(upperBound: UInt8(alphabet.count)))] })
    }
}
