/// A registered webhook: where a workspace's events go and the secret they are signed with.
public struct WebhookEndpoint: Sendable, Equatable {
    public var id: String
    public var workspaceID: String
    public var url: String
    public var description: String?
    /// The subscribed events; empty means all of them.
    public var events: [WebhookEventType]
    /// The signing secret, sealed with the server's key (`SecretBox`); never stored in the clear.
    public var sealedSecret: String
    public var enabled: Bool
    /// Why Keysmith disabled the endpoint (a `410 Gone`), if it did.
    public var disabledReason: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    package static func newID() -> String { "wh_" + RandomID.make(length: 20) }

    /// The stored form of `events`: `*` for all, else `,a,b,` so one `LIKE`/`instr` matches a type.
    package var eventsColumn: String { Self.eventsColumn(events) }

    /// How the store keeps a subscription: `*` for every event, or `,a,b,` so that a search for `,a,` is exact.
    package static func eventsColumn(_ events: [WebhookEventType]) -> String {
        events.isEmpty ? "*" : "," + events.map(\.rawValue).joined(separator: ",") + ","
    }

    package static func events(fromColumn column: String) -> [WebhookEventType] {
        column == "*" ? [] : column.split(separator: ",").compactMap { WebhookEventType(rawValue: String($0)) }
    }

    public init(id: String, workspaceID: String, url: String, description: String? = nil, events: [WebhookEventType], sealedSecret: String, enabled: Bool, disabledReason: String? = nil, createdAt: Timestamp, updatedAt: Timestamp) {
        self.id = id
        self.workspaceID = workspaceID
        self.url = url
        self.description = description
        self.events = events
        self.sealedSecret = sealedSecret
        self.enabled = enabled
        self.disabledReason = disabledReason
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A change to an endpoint; `nil` leaves a field as it is.
public struct WebhookChange: Sendable, Equatable {
    public var url: String?
    public var description: String??
    public var events: [WebhookEventType]?
    public var enabled: Bool?
    public var sealedSecret: String?
    /// With a new `sealedSecret`: until when the replaced secret keeps signing (`webhook-signature` carries both).
    public var previousSecretUntil: Timestamp?

    public init() {}
}

/// One attempt to deliver one event to one endpoint.
public struct DeliveryAttempt: Sendable, Equatable {
    public var deliveryID: String
    public var webhookID: String
    public var eventID: String
    public var eventType: String
    public var attempt: Int
    public var attemptedAt: Timestamp
    public var statusCode: Int?
    public var error: String?
    public var durationMilliseconds: Int
    public var nextRetryAt: Timestamp?

    public init(deliveryID: String, webhookID: String, eventID: String, eventType: String, attempt: Int, attemptedAt: Timestamp, statusCode: Int? = nil, error: String? = nil, durationMilliseconds: Int, nextRetryAt: Timestamp? = nil) {
        self.deliveryID = deliveryID
        self.webhookID = webhookID
        self.eventID = eventID
        self.eventType = eventType
        self.attempt = attempt
        self.attemptedAt = attemptedAt
        self.statusCode = statusCode
        self.error = error
        self.durationMilliseconds = durationMilliseconds
        self.nextRetryAt = nextRetryAt
    }
}

/// A delivery claimed by one instance's `WebhookDeliverer`, with what it needs to send it.
public struct ClaimedDelivery: Sendable, Equatable {
    public var id: String
    public var webhookID: String
    /// The endpoint's workspace: the deliverer shares its send slots and DNS lookups out by it.
    public var workspaceID: String
    public var url: String
    public var sealedSecret: String
    public var eventID: String
    public var eventType: String
    public var payload: String
    /// Attempts made before this one.
    public var attempts: Int
    /// The secret replaced by a rotation less than 24 h ago, still signing beside the new one.
    public var previousSealedSecret: String?

    public init(id: String, webhookID: String, workspaceID: String, url: String, sealedSecret: String, eventID: String, eventType: String, payload: String, attempts: Int, previousSealedSecret: String? = nil) {
        self.id = id
        self.webhookID = webhookID
        self.workspaceID = workspaceID
        self.url = url
        self.sealedSecret = sealedSecret
        self.eventID = eventID
        self.eventType = eventType
        self.payload = payload
        self.attempts = attempts
        self.previousSealedSecret = previousSealedSecret
    }
}

/// What became of an attempt.
public enum DeliveryOutcome: Sendable, Equatable {
    case succeeded
    case retry(at: Timestamp)
    case failed
    /// The receiver answered `410 Gone`: the endpoint is disabled.
    case gone
}
