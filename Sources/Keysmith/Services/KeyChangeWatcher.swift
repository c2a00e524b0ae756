import Logging
import ServiceLifecycle

/// Polls the store's change feed and drops changed keys from the `KeyCache`, so a key renamed or revoked
/// by another process (another instance, or `keysmith keys revoke`) is seen within one interval.
public struct KeyChangeWatcher: Service {
    /// How far back each poll looks again, to cover transactions that committed after the last poll began.
    static let overlap: Int64 = 5_000

    let store: any KeyStore
    let cache: KeyCache
    let interval: Duration
    let migrated: MigrationGate
    let logger: Logger

    public init(store: any KeyStore, cache: KeyCache, interval: Duration, migrated: MigrationGate, logger: Logger) {
        self.store = store
        self.cache = cache
        self.interval = interval
        self.migrated = migrated
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await migrated.wait()
            var cursor: Timestamp?
            var failing = false
            while !Task.isCancelled {
                let started = ContinuousClock.now
                do {
                    let (ids, next) = try await store.keysChanged(since: cursor?.adding(milliseconds: -Self.overlap))
                    if !ids.isEmpty { cache.invalidate(ids) }
                    cursor = next
                    cache.markSynchronised(at: started)
                    if failing { logger.info("key change feed is reachable again") }
                    failing = false
                } catch {
                    if Task.isCancelled { break }
                    if !failing { logger.error("cannot read the key change feed; authenticating from the database", metadata: ["error": "\(String(reflecting: error))"]) }
                    failing = true
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
