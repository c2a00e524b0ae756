/// Where webhook endpoints, the event outbox and delivery attempts live; implemented by both key stores,
/// so an event is written in the same transaction as the key change that caused it.
public protocol WebhookStore: Sendable {
    /// Applies the webhook schema's own migrations (after `migrate()`); safe to call from several processes at once.
    func migrateWebhooks() async throws
    /// The stored encryption key check, storing `candidate` first when there is none yet.
    func webhookKeyCheck(storingIfAbsent candidate: String) async throws -> String
    /// Some sealed webhook secret and its webhook id, to test a key against a database that predates the key check.
    func anySealedWebhookSecret() async throws -> (webhookID: String, sealed: String)?

    /// Inserts the endpoint unless the workspace already has `limit`; `false` then.
    func createWebhook(_ endpoint: WebhookEndpoint, limit: Int, audit: AuditContext?) async throws -> Bool
    func webhook(id: String, workspaceID: String) async throws -> WebhookEndpoint?
    func listWebhooks(workspaceID: String, page: Int, limit: Int) async throws -> (webhooks: [WebhookEndpoint], total: Int)
    /// Applies `change`; a new sealed secret keeps the old one signing until `change.previousSecretUntil`.
    func updateWebhook(id: String, workspaceID: String, change: WebhookChange, at: Timestamp, audit: AuditContext?) async throws -> WebhookEndpoint?
    /// Deletes the endpoint with its pending deliveries and history; `false` when there is none.
    func deleteWebhook(id: String, workspaceID: String, audit: AuditContext?) async throws -> Bool

    /// Writes an event and one delivery for each enabled endpoint subscribed to it (or for `webhookID` only).
    func enqueue(_ event: WebhookEvent, onlyTo webhookID: String?) async throws
    /// Enqueues a test event for one endpoint unless the workspace queued `limit` of them in the last
    /// `windowMilliseconds`; then returns how many milliseconds until the next one is allowed, and writes nothing.
    func enqueueTest(_ event: WebhookEvent, webhookID: String, limit: Int, windowMilliseconds: Int64) async throws -> Int64?
    /// Takes up to `limit` due deliveries for this instance for `lease` milliseconds, skipping endpoints with
    /// `perEndpoint` deliveries already leased; other instances skip the claimed ones. Workspaces take turns
    /// (each one's oldest, then each one's next), and none gets past its share of `slots` (`DeliverySlots`).
    func claimDeliveries(now: Timestamp, limit: Int, perEndpoint: Int, slots: DeliverySlots, leaseMilliseconds: Int64) async throws -> [ClaimedDelivery]
    /// Gives claimed deliveries back untouched.
    func releaseDeliveries(ids: [String]) async throws
    /// Records an attempt and what follows from it, in one transaction.
    func finishDelivery(_ attempt: DeliveryAttempt, outcome: DeliveryOutcome) async throws
    /// The latest attempts for an endpoint, newest first.
    func deliveryAttempts(webhookID: String, limit: Int) async throws -> [DeliveryAttempt]
    /// Marks keys whose expiry has passed and queues one `api_key.expired` event for each; returns how many.
    func notifyExpiredKeys(now: Timestamp) async throws -> Int
    /// Queues one `api_key.expiring` event for each key that expires within `warningMilliseconds` of
    /// `now` and has not been warned about; returns how many.
    func notifyExpiringKeys(now: Timestamp, warningMilliseconds: Int64) async throws -> Int
    /// Deliveries waiting to be sent or retried: the queue's depth.
    func pendingDeliveryCount() async throws -> Int
    /// Deletes attempts, finished or abandoned deliveries, and events older than `before`; returns what it deleted.
    func pruneWebhookHistory(before: Timestamp, now: Timestamp) async throws -> WebhookPruneCount
}

/// Rows deleted by one retention pass.
public struct WebhookPruneCount: Sendable, Equatable {
    public var events = 0
    public var deliveries = 0
    public var attempts = 0

    public init(events: Int = 0, deliveries: Int = 0, attempts: Int = 0) {
        self.events = events
        self.deliveries = deliveries
        self.attempts = attempts
    }
}

extension WebhookStore {
    public func createWebhook(_ endpoint: WebhookEndpoint, limit: Int) async throws -> Bool {
        try await createWebhook(endpoint, limit: limit, audit: nil)
    }

    public func updateWebhook(id: String, workspaceID: String, change: WebhookChange, at: Timestamp) async throws -> WebhookEndpoint? {
        try await updateWebhook(id: id, workspaceID: workspaceID, change: change, at: at, audit: nil)
    }

    public func deleteWebhook(id: String, workspaceID: String) async throws -> Bool {
        try await deleteWebhook(id: id, workspaceID: workspaceID, audit: nil)
    }
}
