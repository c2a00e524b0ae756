import Logging
import ServiceLifecycle

/// Queues one `api_key.expired` event for each key soon after its `expires_at` passes, and one
/// `api_key.expiring` event `warning` before it.
public struct ExpiryNotifier: Service {
    let store: any KeyStore
    let deliverer: WebhookDeliverer
    let interval: Duration
    let migrated: MigrationGate
    let logger: Logger
    /// The application's clock: a key is expired once its `expires_at` is not after it.
    let clock: @Sendable () -> Timestamp
    /// How long before its expiry a key's `api_key.expiring` event is sent.
    var warning: Duration = .seconds(7 * 86_400)

    public func run() async throws {
        await migrated.repeatEvery(interval) { await check() }
    }

    /// One pass: the keys that expired, and those about to.
    func check() async {
        do {
            let now = clock()
            let expired = try await store.notifyExpiredKeys(now: now)
            let expiring = try await store.notifyExpiringKeys(now: now, warningMilliseconds: warning.milliseconds)
            if expired + expiring > 0 { deliverer.poke() }
        } catch {
            logger.error("cannot check for expired keys", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
