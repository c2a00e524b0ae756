import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Remembers the last use of each key, and counts its requests per hour by outcome, in memory; writes both
/// in batches, at most once per interval and once per key per batch, so that the request path never
/// writes to the database.
public final class UsageRecorder: Service, Sendable {
    private struct Pending {
        var uses: [String: KeyUsage] = [:]
        var counts: [CountKey: Int] = [:]
    }

    private struct CountKey: Hashable {
        let keyID: String
        let hour: Int64
        let outcome: UsageOutcome
    }

    private let pending = Mutex(Pending())
    let store: any KeyStore
    let interval: Duration
    let logger: Logger
    let metrics: UsageMetrics

    public init(store: any KeyStore, interval: Duration = .seconds(1), logger: Logger, metrics: KeysmithMetrics = .disabled) {
        self.store = store
        self.interval = interval
        self.logger = logger
        self.metrics = metrics.usage
    }

    /// Records a served request: the key's latest use (only the latest one per key is kept) and one
    /// `success` in the hour's count.
    public func record(keyID: String, usage: KeyUsage) {
        let hour = UsageCount.hour(of: usage.at)
        pending.withLock { pending in
            pending.counts[CountKey(keyID: keyID, hour: hour, outcome: .success), default: 0] += 1
            if let existing = pending.uses[keyID], existing.at > usage.at { return }
            pending.uses[keyID] = usage
        }
    }

    /// Counts a refused request of a known key.
    public func count(keyID: String, outcome: UsageOutcome, at time: Timestamp) {
        let key = CountKey(keyID: keyID, hour: UsageCount.hour(of: time), outcome: outcome)
        pending.withLock { $0.counts[key, default: 0] += 1 }
    }

    /// A request counted as served that its handler refused with 403 after all.
    public func reclassifyAsForbidden(keyID: String, at time: Timestamp) {
        let hour = UsageCount.hour(of: time)
        pending.withLock { pending in
            let served = CountKey(keyID: keyID, hour: hour, outcome: .success)
            if let count = pending.counts[served], count > 1 { pending.counts[served] = count - 1 } else { pending.counts[served] = nil }
            pending.counts[CountKey(keyID: keyID, hour: hour, outcome: .forbidden), default: 0] += 1
        }
    }

    /// Writes what is pending. On failure the batch goes back, merged with what came since, for the next try.
    public func flush() async {
        let batch = pending.withLock { pending in
            defer { pending = Pending() }
            return pending
        }
        guard !batch.uses.isEmpty || !batch.counts.isEmpty else { return }
        let started = ContinuousClock.now
        do {
            if !batch.uses.isEmpty { try await store.recordUsage(batch.uses) }
            if !batch.counts.isEmpty {
                try await store.addUsageCounts(batch.counts.map { UsageCount(keyID: $0.key.keyID, hour: $0.key.hour, outcome: $0.key.outcome, count: $0.value) })
            }
            metrics.flushDuration.record(duration: .now - started)
        } catch {
            metrics.flushFailures.increment()
            logger.error("cannot write key usage; will retry", metadata: ["keys": "\(batch.uses.count)", "error": "\(String(reflecting: error))"])
            pending.withLock { pending in
                for (id, usage) in batch.uses where (pending.uses[id]?.at ?? Timestamp(milliseconds: .min)) < usage.at { pending.uses[id] = usage }
                for (key, count) in batch.counts { pending.counts[key, default: 0] += count }
            }
        }
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await flush()
            }
        }
        await flush()
    }
}
