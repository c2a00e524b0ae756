import Logging
import ServiceLifecycle

/// Deletes webhook events, deliveries and attempts older than `retention`, once per `interval`, so the
/// outbox and its history do not grow without end.
public struct WebhookRetention: Service {
    let store: any KeyStore
    let retention: Duration
    let interval: Duration
    let migrated: MigrationGate
    let logger: Logger
    /// The application's clock (tests move it forward to age rows without waiting).
    let clock: @Sendable () -> Timestamp

    public init(store: any KeyStore, retention: Duration, interval: Duration, migrated: MigrationGate, logger: Logger,
                clock: @escaping @Sendable () -> Timestamp = { .now() }) {
        self.store = store
        self.retention = retention
        self.interval = interval
        self.migrated = migrated
        self.logger = logger
        self.clock = clock
    }

    public func run() async throws {
        await migrated.repeatEvery(interval) { await prune() }
    }

    /// One pass; returns what it deleted (zero when the store failed, which is logged).
    @discardableResult
    public func prune() async -> WebhookPruneCount {
        let now = clock()
        do {
            let count = try await store.pruneWebhookHistory(before: now.adding(milliseconds: -retention.milliseconds), now: now)
            if count != WebhookPruneCount() {
                logger.info("pruned webhook history", metadata: [
                    "events": "\(count.events)", "deliveries": "\(count.deliveries)", "attempts": "\(count.attempts)",
                ])
            }
            return count
        } catch {
            logger.error("cannot prune webhook history", metadata: ["error": "\(String(reflecting: error))"])
            return WebhookPruneCount()
        }
    }
}
