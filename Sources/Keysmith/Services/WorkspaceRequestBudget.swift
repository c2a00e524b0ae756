import Synchronization

/// Management requests (`/v1/api-keys`, `/v1/webhooks`, `/v1/audit-events`) each workspace may make, so one
/// tenant's script cannot crowd out the others on a database they all share: a token bucket per workspace
/// that refills at `perSecond` and holds `burst`, on the application's clock. Per instance: with several
/// instances behind a balancer, a workspace gets up to their number times as much.
final class WorkspaceRequestBudget: Sendable {
    private struct Bucket {
        var tokens: Double
        var at: Timestamp
    }

    let perSecond: Int
    let burst: Int
    /// Past this many workspaces in the table, full buckets (which hold nothing worth keeping) are dropped.
    let maxTracked: Int
    private let clock: @Sendable () -> Timestamp
    private let buckets = Mutex<[String: Bucket]>([:])

    init(perSecond: Int, burst: Int? = nil, maxTracked: Int = 10_000, clock: @escaping @Sendable () -> Timestamp) {
        self.perSecond = perSecond
        self.burst = burst ?? perSecond * 10
        self.maxTracked = maxTracked
        self.clock = clock
    }

    /// Takes one request from the workspace's bucket: `nil` when admitted, else the whole seconds until the
    /// next token (for `Retry-After`).
    func take(workspaceID: String) -> Int? {
        let now = clock()
        let rate = Double(perSecond), capacity = Double(burst)
        return buckets.withLock { buckets in
            var bucket = buckets[workspaceID] ?? Bucket(tokens: capacity, at: now)
            let elapsed = Double(max(0, now.milliseconds - bucket.at.milliseconds)) / 1000
            bucket.tokens = min(capacity, bucket.tokens + elapsed * rate)
            bucket.at = now
            guard bucket.tokens >= 1 else {
                buckets[workspaceID] = bucket
                return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
            }
            bucket.tokens -= 1
            if buckets[workspaceID] == nil, buckets.count >= maxTracked { Self.dropFull(&buckets, rate: rate, capacity: capacity, now: now) }
            buckets[workspaceID] = bucket
            return nil
        }
    }

    private static func dropFull(_ buckets: inout [String: Bucket], rate: Double, capacity: Double, now: Timestamp) {
        buckets = buckets.filter { _, bucket in
            bucket.tokens + Double(max(0, now.milliseconds - bucket.at.milliseconds)) / 1000 * rate < capacity
        }
    }
}
