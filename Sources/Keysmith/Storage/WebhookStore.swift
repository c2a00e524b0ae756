/// Where webhook endpoints, the event outbox and delivery attempts live; implemented by both key stores,
/// so an event is written in the same transaction as the key change that caused it.
public protocol WebhookStore: Sendable {
    func createWebhook(_ endpoint: WebhookEndpoint) async throws
    func webhook(id: String, workspaceID: String) async throws -> WebhookEndpoint?
    func listWebhooks(workspaceID: String, page: Int, limit: Int) async throws -> (webhooks: [WebhookEndpoint], total: Int)
    func updateWebhook(id: String, workspaceID: String, change: WebhookChange, at: Timestamp) async throws -> WebhookEndpoint?
    /// Deletes the endpoint with its pending deliveries and history; `false` when there is none.
    func deleteWebhook(id: String, workspaceID: String) async throws -> Bool

    /// Writes an event and one delivery for each enabled endpoint subscribed to it (or for `webhookID` only).
    func enqueue(_ event: WebhookEvent, onlyTo webhookID: String?) async throws
    /// Takes up to `limit` due deliveries for this instance for `lease` milliseconds; other instances skip them.
    func claimDeliveries(now: Timestamp, limit: Int, leaseMilliseconds: Int64) async throws -> [ClaimedDelivery]
    /// Gives claimed deliveries back untouched.
    func releaseDeliveries(ids: [String]) async throws
    /// Records an attempt and what follows from it, in one transaction.
    func finishDelivery(_ attempt: DeliveryAttempt, outcome: DeliveryOutcome) async throws
    /// The latest attempts for an endpoint, newest first.
    func deliveryAttempts(webhookID: String, limit: Int) async throws -> [DeliveryAttempt]
    /// Marks keys whose expiry has passed and queues one `api_key.expired` event for each; returns how many.
    func notifyExpiredKeys(now: Timestamp) async throws -> Int
}
