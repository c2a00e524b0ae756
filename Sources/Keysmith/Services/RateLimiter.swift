import Synchronization

/// Per-key rate limits (`APIKey.rateLimit`): `limit` requests in any `windowSeconds`, decided in memory
/// on the request path, counted across instances through the database by `RateLimitSync`.
///
/// On one instance the decision is exact and conservative: the window is a true sliding window of ten
/// buckets, and a bucket is forgotten only once its end has left the window, so no window of the key's
/// length ever holds more than `limit` served requests.
///
/// With several instances on one database, each serves a key's requests from a *claim*: its share of
/// what is left of the limit, `ceil((limit - counted) / instances)` (no more than twice its recent
/// demand), written to the shared count in advance by an exchange and granted only as far as the total
/// read back in the same transaction leaves room. Claims are seen by the other instances before they are
/// spent, so whatever order exchanges commit in, the claims granted never add up to more than the limit.
/// Outside a claim an instance serves only a key new to it, at most `coldAllowance` requests per window
/// (and starts an exchange at once): these, unknown to the others until that exchange, are all that may
/// pass the limit. While exchanges fail, each instance serves at most its share of the limit,
/// `ceil(limit / instances)`, counted by itself. See docs/rate-limits.md.
public final class RateLimiter: KeyRateLimiting, Sendable {
    /// The buckets a window is cut into: a request is remembered for at most a tenth of the window longer
    /// than the window.
    static let bucketsPerWindow: Int64 = 10
    /// Rate counts are deleted from the database once this old: longer than any window (one day at most).
    static let retention: Int64 = 2 * 86_400_000

    /// This process, in `rate_instances`.
    public let instanceID: String
    /// Milliseconds between two exchanges while keys are in use.
    let interval: Int64
    /// How often the service looks whether an exchange is due, and the least time between two exchanges.
    let tick: Duration
    /// How long a claim may be spent: past the next exchange, which renews it, with room for a slow one.
    let claimLifetime: Int64
    /// Without keys in use, an exchange still runs this often, to stay counted among the live instances.
    let heartbeat: Int64 = 1_000
    /// Instances seen within this are live; the count of instances and the totals are trusted this long.
    let liveWithin: Int64 = 3_000
    /// A key unused this long stops claiming and exchanging; its counts stay until they leave its window.
    let idleAfter: Int64 = 60_000
    /// Keys tracked at once; past it the least recently used tenth is dropped (their counts are in the
    /// database, and what they still owed is sent with the next exchange).
    let maxKeys: Int
    let clock: @Sendable () -> Timestamp
    private let state = Mutex(State())

    public init(instanceID: String = APIKeyToken.newKeyID(), interval: Duration = .milliseconds(100), maxKeys: Int = 100_000,
                clock: @escaping @Sendable () -> Timestamp = { .now() }) {
        self.instanceID = instanceID
        self.interval = max(1, interval.milliseconds)
        self.tick = .milliseconds(max(5, self.interval / 4))
        self.claimLifetime = 2 * self.interval + 250
        self.maxKeys = max(1, maxKeys)
        self.clock = clock
    }

    /// How decisions are made, by what the last exchange said.
    enum Mode: Equatable {
        /// The only live instance: the window's count alone decides.
        case alone
        /// Instances share the limit: requests are served from claims.
        case shared(instances: Int)
        /// No recent exchange: each instance keeps to its share of the limit by its own count.
        case degraded(instances: Int)
    }

    struct State {
        var keys: [String: KeyRateState] = [:]
        /// Counts of dropped keys, for the next exchange.
        var orphans: [RateCount] = []
        var instances: Int?
        var lastSuccess: Int64?
        var failing = false
        var inFlight = false
        var lastAttempt: Int64 = .min / 2
        var lastDemand: Int64 = .min / 2
        /// A request found no claim while the limit had room: exchange at the next tick.
        var exchangeWanted = false
        /// Shutting down: claims are given back and no new ones asked for.
        var releasing = false
        var nextSerial: UInt64 = 0

        /// Exchanges that fail stop counting as recent once the claims of the last one that worked ran out.
        func mode(at now: Int64, liveWithin: Int64, claimLifetime: Int64) -> Mode {
            let instances = max(1, instances ?? 1)
            guard let lastSuccess, now - lastSuccess <= (failing ? claimLifetime : liveWithin) else { return .degraded(instances: instances) }
            return instances == 1 ? .alone : .shared(instances: instances)
        }
    }

    // MARK: The request path

    /// Counts one request of the key against its limit at the application's clock; see `admit(keyID:limit:at:)`.
    public func admit(keyID: String, limit: RateLimit) -> RateLimitDecision { admit(keyID: keyID, limit: limit, at: clock()) }

    /// Counts one request of the key against `limit` at `time` and says whether it may go ahead, with what
    /// is left (`remaining`, for `RateLimit-Remaining`) and `resetSeconds`: when allowed, the seconds until
    /// the oldest counted request leaves the window; when refused, the seconds until one may go ahead
    /// (`Retry-After`). Synchronous and in memory.
    public func admit(keyID: String, limit: RateLimit, at time: Timestamp) -> RateLimitDecision {
        let now = time.milliseconds
        return state.withLock { state in
            let mode = state.mode(at: now, liveWithin: liveWithin, claimLifetime: claimLifetime)
            state.lastDemand = now
            if let known = state.keys[keyID], known.window != Int64(limit.windowSeconds) * 1000 {
                // Another window cuts other buckets: the count starts afresh.
                var replaced = state.keys.removeValue(forKey: keyID)!
                state.orphans += replaced.release(keyID: keyID)
            }
            if state.keys[keyID] == nil {
                if state.keys.count >= maxKeys { dropLeastRecentlyUsed(&state) }
                state.keys[keyID] = KeyRateState(limit: limit, serial: state.nextSerial, at: now)
                state.nextSerial += 1
            }
            let (decision, wantsExchange) = Self.decide(&state.keys[keyID]!, limit: limit.limit, mode: mode, at: now)
            if wantsExchange { state.exchangeWanted = true }
            return decision
        }
    }

    static func decide(_ key: inout KeyRateState, limit: Int, mode: Mode, at now: Int64) -> (RateLimitDecision, wantsExchange: Bool) {
        key.limit = limit
        key.lastRequest = now
        key.forget(at: now)
        let counted = key.counted(at: now)
        let fromClaim = (key.claim?.unused ?? 0) > 0
        var allowed = fromClaim
        var cold = false
        var wantsExchange = false
        key.demand += 1
        if !fromClaim {
            switch mode {
            case .alone:
                // Another instance may have started since the last exchange: learn it at once for a new key.
                allowed = counted < limit
                wantsExchange = !key.exchanged
            case .shared(let instances):
                // A key new to this instance: a few requests before the exchange, started now, brings a claim.
                cold = counted < limit && !key.exchanged && key.coldCount(at: now) < Self.coldAllowance(limit: limit, instances: instances)
                allowed = cold
                wantsExchange = counted < limit
            case .degraded(let instances):
                allowed = counted < limit && key.ownCount(at: now) < (limit + instances - 1) / instances
            }
        }
        guard allowed else {
            let wait = counted >= limit ? key.seconds(untilBelow: limit, at: now) : 1
            return (RateLimitDecision(allowed: false, limit: limit, remaining: 0, resetSeconds: wait), wantsExchange)
        }
        key.serve(at: now, claimed: fromClaim, cold: cold)
        let after = key.counted(at: now)
        let remaining = max(0, limit - after)
        let reset = key.seconds(untilBelow: remaining > 0 ? after : limit, at: now)
        return (RateLimitDecision(allowed: true, limit: limit, remaining: remaining, resetSeconds: reset), wantsExchange)
    }

    /// Requests of a key new to an instance served before its first claim, per window: what passes the limit
    /// at most per other instance, so it is a tenth of the limit spread over them, at least one.
    static func coldAllowance(limit: Int, instances: Int) -> Int { max(1, limit / (10 * max(1, instances - 1))) }

    private func dropLeastRecentlyUsed(_ state: inout State) {
        let oldest = state.keys.sorted { $0.value.lastRequest < $1.value.lastRequest }.prefix(max(1, maxKeys / 10))
        for (id, _) in oldest {
            var dropped = state.keys.removeValue(forKey: id)!
            state.orphans += dropped.release(keyID: id)
        }
    }

    // MARK: Exchanges

    /// What one exchange carries, and which key states it was made from.
    struct Batch {
        var counts: [RateCount]
        var orphans: [RateCount]
        /// The serial of each key's state, and whether its totals were asked for.
        var keys: [String: (serial: UInt64, refreshed: Bool)]
    }

    /// Whether an exchange should start at `now` (the service asks every `tick`).
    func exchangeDue(at now: Timestamp) -> Bool {
        let now = now.milliseconds
        return state.withLock { state in
            guard !state.inFlight else { return false }
            let since = now - state.lastAttempt
            guard now - state.lastDemand <= idleAfter || !state.orphans.isEmpty else { return since >= heartbeat }
            return since >= interval || (state.exchangeWanted && since >= tick.milliseconds)
        }
    }

    /// Sends what this instance counted and claims, reads back every instance's totals, and grants claims.
    /// Never on the request path: `RateLimitSync` calls it, and start-up once before serving.
    public func exchange(with store: any RateLimitStore) async throws {
        guard let batch = beginExchange(at: clock().milliseconds) else { return }
        let result: RateExchange
        do {
            result = try await store.exchangeRateCounts(batch.counts + batch.orphans, instanceID: instanceID, liveWithinMilliseconds: liveWithin)
        } catch {
            failExchange(batch)
            throw error
        }
        finishExchange(batch, result, at: clock().milliseconds)
    }

    func beginExchange(at now: Int64) -> Batch? {
        state.withLock { state in
            guard !state.inFlight else { return nil }
            state.inFlight = true
            state.lastAttempt = now
            state.exchangeWanted = false
            let instances = max(1, state.instances ?? 1)
            var batch = Batch(counts: [], orphans: state.orphans, keys: [:])
            state.orphans = []
            var gone: [String] = []
            for index in state.keys.indices {
                let id = state.keys.keys[index]
                let serial = state.keys.values[index].serial
                state.keys.values[index].forget(at: now)
                let key = state.keys.values[index]
                if now - key.lastRequest > key.window + key.width + claimLifetime {
                    gone.append(id)  // nothing it counted is in its window any more
                    continue
                }
                if state.releasing || now - key.lastRequest > idleAfter {
                    state.keys.values[index].closeClaim()
                    state.keys.values[index].exchanged = false
                    state.keys.values[index].beginExchange(claiming: 0, deadline: now, from: .max / 2, through: .min / 2, keyID: id, into: &batch.counts)
                    batch.keys[id] = (serial, false)
                    continue
                }
                let counted = key.counted(at: now)
                // The share of what is left, but no more than twice what the key was asked for lately.
                let share = counted < key.limit ? min((key.limit - counted + instances - 1) / instances, max(1, 2 * key.demand)) : 0
                let from = key.exchanged ? max(key.windowStart(at: now), now - claimLifetime - 2 * interval - 1_000) : key.windowStart(at: now)
                state.keys.values[index].beginExchange(claiming: share, deadline: now + claimLifetime, from: from,
                                                       through: now + 2 * claimLifetime, keyID: id, into: &batch.counts)
                batch.keys[id] = (serial, true)
            }
            for id in gone { state.keys.removeValue(forKey: id) }
            return batch
        }
    }

    func finishExchange(_ batch: Batch, _ result: RateExchange, at now: Int64) {
        var totals: [String: [(start: Int64, count: Int)]] = [:]
        for total in result.totals { totals[total.keyID, default: []].append((total.bucketStart, total.count)) }
        state.withLock { state in
            state.inFlight = false
            state.failing = false
            state.lastSuccess = now
            state.instances = max(1, result.liveInstances)
            for (id, sent) in batch.keys where state.keys[id]?.serial == sent.serial {
                state.keys[id]!.finishExchange(totals: totals[id] ?? [], refreshed: sent.refreshed, at: now)
            }
        }
    }

    func failExchange(_ batch: Batch) {
        state.withLock { state in
            state.inFlight = false
            state.failing = true
            for (id, sent) in batch.keys where state.keys[id]?.serial == sent.serial { state.keys[id]!.failExchange() }
            state.orphans += batch.orphans.filter { $0.count > 0 }
        }
    }

    /// Gives every claim back and asks for no new ones: before the last exchange of a shutdown.
    func releaseAll() {
        state.withLock { $0.releasing = true }
    }

    // MARK: For tests and diagnostics

    /// How decisions are being made at `now`.
    func mode(at now: Timestamp) -> Mode { state.withLock { $0.mode(at: now.milliseconds, liveWithin: liveWithin, claimLifetime: claimLifetime) } }

    /// Keys tracked in memory.
    var trackedKeys: Int { state.withLock { $0.keys.count } }
}
