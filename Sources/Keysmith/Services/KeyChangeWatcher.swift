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

    /// What the watcher carries from one poll to the next.
    struct Progress {
        var cursor: Timestamp?
        /// Entries already applied. Each poll reads the overlap again, and a key must not be dropped again
        /// on every poll for five seconds after one change: each drop sends every request in flight with
        /// that key to the database.
        var applied: Set<Int64> = []
        /// When the last successful poll began, on the cache's clock.
        var lastPoll: Timestamp?
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await migrated.wait()
            var progress = Progress()
            var failing = false
            while !Task.isCancelled {
                do {
                    try await poll(&progress)
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

    /// One poll: drops the keys of entries not applied yet, then marks the cache synchronised as of the
    /// poll's start (`now`, by default the cache's clock). After a gap between polls longer than the overlap
    /// (the feed was unreachable, and may have been pruned meanwhile), entries may have been missed, so the
    /// whole cache is dropped; so it is when the clock went backwards, since the gap is then unknown.
    func poll(_ progress: inout Progress, now: Timestamp? = nil) async throws {
        let started = now ?? cache.clock()
        let (changes, next) = try await store.keysChanged(since: progress.cursor?.adding(milliseconds: -Self.overlap))
        if let lastPoll = progress.lastPoll, !(0...Self.overlap).contains(started.milliseconds - lastPoll.milliseconds) {
            logger.notice("key change feed resumed after a gap; dropping every cached key")
            cache.invalidateAll()
        } else {
            let fresh = changes.filter { !progress.applied.contains($0.seq) }
            if !fresh.isEmpty { cache.invalidate(fresh.map(\.keyID)) }
        }
        progress = Progress(cursor: next, applied: Set(changes.map(\.seq)), lastPoll: started)
        cache.markSynchronised(at: started)
    }
}
