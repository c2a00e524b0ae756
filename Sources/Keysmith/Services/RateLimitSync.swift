import Logging
import ServiceLifecycle

/// Exchanges the `RateLimiter`'s counts with the other instances on the database, off the request path:
/// every `interval` while limited keys are in use, sooner when a request found its key without a claim
/// (at most once a tick), once a second otherwise, to stay counted among the live instances. Old counts
/// are pruned every ten minutes. On shutdown, claims are given back and what was counted is sent.
public struct RateLimitSync: Service {
    static let pruneInterval: Int64 = 600_000

    let limiter: RateLimiter
    let store: any RateLimitStore
    let migrated: MigrationGate
    let logger: Logger

    public init(limiter: RateLimiter, store: any RateLimitStore, migrated: MigrationGate, logger: Logger) {
        self.limiter = limiter
        self.store = store
        self.migrated = migrated
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            try await migrated.wait()
            var failing = false
            var lastPrune = Int64.min / 2
            while !Task.isCancelled {
                try await Task.sleep(for: limiter.tick)
                let now = limiter.clock()
                if limiter.exchangeDue(at: now) {
                    do {
                        try await limiter.exchange(with: store)
                        if failing { logger.info("rate-limit counts are exchanged again") }
                        failing = false
                    } catch {
                        if Task.isCancelled { break }
                        if !failing {
                            logger.error("cannot exchange rate-limit counts; each instance keeps to its share of every limit",
                                         metadata: ["error": "\(String(reflecting: error))"])
                        }
                        failing = true
                    }
                }
                if now.milliseconds - lastPrune >= Self.pruneInterval {
                    lastPrune = now.milliseconds
                    do {
                        try await store.pruneRateCounts(before: now.adding(milliseconds: -RateLimiter.retention))
                    } catch {
                        logger.warning("cannot prune old rate-limit counts", metadata: ["error": "\(String(reflecting: error))"])
                    }
                }
            }
        }
        limiter.releaseAll()
        try? await limiter.exchange(with: store)
    }
}
