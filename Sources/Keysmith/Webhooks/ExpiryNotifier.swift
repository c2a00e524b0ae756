import Logging
import ServiceLifecycle

/// Queues one `api_key.expired` event for each key soon after its `expires_at` passes.
public struct ExpiryNotifier: Service {
    let store: any KeyStore
    let deliverer: WebhookDeliverer
    let interval: Duration
    let migrated: MigrationGate
    let logger: Logger
    /// The application's clock: a key is expired once its `expires_at` is not after it.
    let clock: @Sendable () -> Timestamp

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await migrated.wait()
            while !Task.isCancelled {
                do {
                    if try await store.notifyExpiredKeys(now: clock()) > 0 { deliverer.poke() }
                } catch {
                    logger.error("cannot check for expired keys", metadata: ["error": "\(String(reflecting: error))"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}
