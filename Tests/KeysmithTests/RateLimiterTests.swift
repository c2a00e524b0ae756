import Foundation
import Synchronization
import Testing

@testable import Keysmith

/// The rate limiter in memory, on simulated time: one instance, several sharing a store, failures.
@Suite struct RateLimiterTests {
    static let key = "abcdefghijklmn"

    @Test func oneInstanceServesTheLimitThenRefusesUntilTheFirstBucketLeaves() {
        let limiter = RateLimiter(interval: .milliseconds(100))
        let store = MemoryRateStore()
        store.exchange(limiter, at: 1_000_000)
        #expect(limiter.mode(at: Timestamp(milliseconds: 1_000_010)) == .alone)
        let limit = RateLimit(limit: 5, windowSeconds: 2)
        let t0: Int64 = 1_000_050  // in the bucket [1,000,000, 1,000,200)
        for n in 0..<5 {
            let decision = limiter.admit(keyID: Self.key, limit: limit, at: Timestamp(milliseconds: t0 + Int64(n)))
            #expect(decision.allowed && decision.remaining == 4 - n && decision.limit == 5)
        }
        let refused = limiter.admit(keyID: Self.key, limit: limit, at: Timestamp(milliseconds: t0 + 10))
        #expect(!refused.allowed && refused.remaining == 0)
        // The bucket ends at 1,000,200 and leaves the window 2 s later, 2,140 ms after the refusal; the
        // answer never names more than the window itself (2 s).
        #expect(refused.resetSeconds == 2)
        // Still inside: a window that ends just before the bucket leaves holds all five.
        #expect(!limiter.admit(keyID: Self.key, limit: limit, at: Timestamp(milliseconds: 1_002_199)).allowed)
        #expect(limiter.admit(keyID: Self.key, limit: limit, at: Timestamp(milliseconds: 1_002_200)).allowed)
    }

    @Test func aWindowSlidesBucketByBucket() {
        let limiter = RateLimiter()
        let store = MemoryRateStore()
        let limit = RateLimit(limit: 5, windowSeconds: 2)
        var served: [Int64] = []
        // Ten requests a second for five seconds, an exchange between each: at most five in any two
        // seconds, and never stuck.
        for step in 0..<50 {
            let now = 1_000_000 + Int64(step) * 100
            store.exchange(limiter, at: now - 50)
            if limiter.admit(keyID: Self.key, limit: limit, at: Timestamp(milliseconds: now)).allowed { served.append(now) }
        }
        #expect(maxInWindow(served, window: 2000) <= 5)
        #expect(served.count >= 10, "served \(served)")
        #expect(served.last! >= 1_004_000)
    }

    @Test func keysWithoutTrafficAreForgotten() {
        let limiter = RateLimiter()
        let store = MemoryRateStore()
        store.exchange(limiter, at: 0)
        for n in 0..<100 {
            _ = limiter.admit(keyID: "key\(n)", limit: RateLimit(limit: 10, windowSeconds: 1), at: Timestamp(milliseconds: 1_000))
        }
        #expect(limiter.trackedKeys == 100)
        store.exchange(limiter, at: 1_500)
        #expect(limiter.trackedKeys == 100)
        store.exchange(limiter, at: 4_000)  // window 1 s + bucket 0.1 s + claim lifetime 0.45 s later
        #expect(limiter.trackedKeys == 0)
    }

    @Test func trackedKeysAreBounded() {
        let limiter = RateLimiter(maxKeys: 100)
        MemoryRateStore().exchange(limiter, at: 0)
        for n in 0..<1_000 {
            _ = limiter.admit(keyID: "key\(n)", limit: RateLimit(limit: 10, windowSeconds: 60), at: Timestamp(milliseconds: 1_000 + Int64(n)))
        }
        #expect(limiter.trackedKeys <= 100)
    }

    @Test func withoutExchangesEachInstanceKeepsToItsShare() {
        let store = MemoryRateStore()
        let limiters = (0..<3).map { _ in RateLimiter() }
        for _ in 0..<2 {
            for limiter in limiters { store.exchange(limiter, at: 0) }
        }
        let limiter = limiters[0]
        #expect(limiter.mode(at: Timestamp(milliseconds: 10)) == .shared(instances: 3))
        let batch = limiter.beginExchange(at: 20)!
        limiter.failExchange(batch)
        // Claims of the last exchange that worked may still be spent; once they have run out, the share.
        #expect(limiter.mode(at: Timestamp(milliseconds: 30)) == .shared(instances: 3))
        #expect(limiter.mode(at: Timestamp(milliseconds: 500)) == .degraded(instances: 3))
        let limit = RateLimit(limit: 10, windowSeconds: 10)
        let served = (0..<20).filter { limiter.admit(keyID: Self.key, limit: limit, at: Timestamp(milliseconds: 500 + Int64($0))).allowed }
        #expect(served.count == 4)  // ceil(10 / 3)
    }

    @Test func aNewWindowStartsTheCountAfresh() {
        let limiter = RateLimiter()
        MemoryRateStore().exchange(limiter, at: 0)
        for _ in 0..<3 { #expect(limiter.admit(keyID: Self.key, limit: RateLimit(limit: 3, windowSeconds: 10), at: Timestamp(milliseconds: 100)).allowed) }
        #expect(!limiter.admit(keyID: Self.key, limit: RateLimit(limit: 3, windowSeconds: 10), at: Timestamp(milliseconds: 100)).allowed)
        #expect(limiter.admit(keyID: Self.key, limit: RateLimit(limit: 3, windowSeconds: 20), at: Timestamp(milliseconds: 100)).allowed)
    }

    // MARK: Several instances

    struct Scenario: Sendable, CustomTestStringConvertible {
        var instances: Int
        var limit: Int
        var windowSeconds: Int
        /// Requests per second arriving at each instance.
        var rate: Double
        var seconds: Double
        var seed: UInt64
        /// Seconds between one instance's first request and the next one's: the later ones find the key
        /// already used up, new to them.
        var stagger: Double = 0
        var testDescription: String {
            "\(instances) instances, \(limit)/\(windowSeconds)s, \(Int(rate)) req/s each\(stagger > 0 ? ", starting \(stagger)s apart" : ""), seed \(seed)"
        }
    }

    static let scenarios: [Scenario] = [
        Scenario(instances: 3, limit: 100, windowSeconds: 10, rate: 1_000, seconds: 10, seed: 1),
        Scenario(instances: 3, limit: 100, windowSeconds: 10, rate: 50, seconds: 30, seed: 2),
        Scenario(instances: 3, limit: 5, windowSeconds: 2, rate: 300, seconds: 10, seed: 3),
        Scenario(instances: 5, limit: 1_000, windowSeconds: 1, rate: 2_000, seconds: 5, seed: 4),
        Scenario(instances: 2, limit: 1, windowSeconds: 1, rate: 200, seconds: 5, seed: 5),
        Scenario(instances: 4, limit: 20, windowSeconds: 1, rate: 3_000, seconds: 10, seed: 6),
        Scenario(instances: 3, limit: 100, windowSeconds: 10, rate: 30, seconds: 25, seed: 7),
        Scenario(instances: 3, limit: 100, windowSeconds: 10, rate: 1_000, seconds: 10, seed: 8, stagger: 2),
        Scenario(instances: 4, limit: 1_000, windowSeconds: 60, rate: 500, seconds: 20, seed: 9, stagger: 4),
    ]

    /// Instances hammered at once (or one after the other, each finding the key used up), exchanging on
    /// their own schedules with random latencies and commit orders: no window of the key's length ever
    /// holds more than the limit plus the cold allowance of each other instance, and the limit is used.
    @Test(arguments: scenarios)
    func instancesSharingAStoreStayWithinTheLimitPlusTheirColdAllowances(_ scenario: Scenario) {
        let served = simulate(scenario)
        let window = Int64(scenario.windowSeconds) * 1000
        let worst = maxInWindow(served, window: window)
        let bound = scenario.limit + (scenario.instances - 1) * RateLimiter.coldAllowance(limit: scenario.limit, instances: scenario.instances)
        #expect(worst <= bound, "at most \(worst) in a window")
        let firstWindow = served.filter { $0 < 1_000_000 + window }.count
        guard scenario.stagger == 0 else { return }
        #expect(Double(firstWindow) >= 0.95 * Double(min(scenario.limit, Int(scenario.rate * Double(scenario.instances) * Double(scenario.windowSeconds)))),
                "\(firstWindow) served in the first window")
    }

    /// A discrete-event run of `scenario.instances` limiters on one `MemoryRateStore`: Poisson arrivals,
    /// each service ticking on its own phase, each exchange committing and answering after random delays.
    func simulate(_ scenario: Scenario) -> [Int64] {
        var random = SplitMix64(seed: scenario.seed)
        let store = MemoryRateStore()
        let limiters = (0..<scenario.instances).map { _ in RateLimiter(interval: .milliseconds(100)) }
        let limit = RateLimit(limit: scenario.limit, windowSeconds: scenario.windowSeconds)
        let start: Int64 = 1_000_000
        let end = start + Int64(scenario.seconds * 1000)
        enum Event { case request, tick, commit(RateLimiter.Batch), answer(RateLimiter.Batch, RateExchange) }
        var events: [(time: Double, instance: Int, event: Event)] = []
        for limiter in limiters + limiters { store.exchange(limiter, at: start - 500) }  // all know how many they are
        for instance in limiters.indices {
            let first = Double(start) + Double(instance) * scenario.stagger * 1000
            events.append((first + random.exponential(rate: scenario.rate / 1000), instance, .request))
            events.append((Double(start) + random.uniform(0, 25), instance, .tick))
        }
        var served: [Int64] = []
        while let next = events.indices.min(by: { events[$0].time < events[$1].time }) {
            let (time, instance, event) = events.remove(at: next)
            let now = Int64(time)
            guard now < end else { continue }
            let limiter = limiters[instance]
            switch event {
            case .request:
                if limiter.admit(keyID: Self.key, limit: limit, at: Timestamp(milliseconds: now)).allowed { served.append(now) }
                events.append((time + random.exponential(rate: scenario.rate / 1000), instance, .request))
            case .tick:
                if limiter.exchangeDue(at: Timestamp(milliseconds: now)), let batch = limiter.beginExchange(at: now) {
                    events.append((time + random.uniform(0.2, 8), instance, .commit(batch)))
                }
                events.append((time + 25, instance, .tick))
            case .commit(let batch):
                let result = store.apply(batch.counts + batch.orphans, instanceID: limiter.instanceID, at: now, liveWithin: limiter.liveWithin)
                events.append((time + random.uniform(0.2, 8), instance, .answer(batch, result)))
            case .answer(let batch, let result):
                limiter.finishExchange(batch, result, at: now)
            }
        }
        return served.sorted()
    }
}

/// The most of `times` (sorted) inside any window of `window` milliseconds.
func maxInWindow(_ times: [Int64], window: Int64) -> Int {
    var worst = 0
    var first = 0
    for (index, time) in times.enumerated() {
        while times[first] <= time - window { first += 1 }
        worst = max(worst, index - first + 1)
    }
    return worst
}

/// What the SQL store does for `RateLimitStore`, in memory and at a given time.
final class MemoryRateStore: RateLimitStore {
    private struct State {
        var counts: [String: [Int64: Int]] = [:]
        var seen: [String: Int64] = [:]
    }
    private let state = Mutex(State())

    func apply(_ counts: [RateCount], instanceID: String, at now: Int64, liveWithin: Int64) -> RateExchange {
        state.withLock { state in
            state.seen[instanceID] = now
            var totals: [RateCount] = []
            for count in counts {
                state.counts[count.keyID, default: [:]][count.bucketStart, default: 0] += count.count
                totals.append(RateCount(keyID: count.keyID, bucketStart: count.bucketStart, count: state.counts[count.keyID]![count.bucketStart]!))
            }
            return RateExchange(totals: totals, liveInstances: state.seen.values.filter { $0 > now - liveWithin }.count)
        }
    }

    /// One whole exchange of `limiter` at `now`, as `RateLimitSync` runs it.
    func exchange(_ limiter: RateLimiter, at now: Int64) {
        guard let batch = limiter.beginExchange(at: now) else { return }
        limiter.finishExchange(batch, apply(batch.counts + batch.orphans, instanceID: limiter.instanceID, at: now, liveWithin: limiter.liveWithin), at: now)
    }

    func exchangeRateCounts(_ counts: [RateCount], instanceID: String, liveWithinMilliseconds: Int64) async throws -> RateExchange {
        apply(counts, instanceID: instanceID, at: Timestamp.now().milliseconds, liveWithin: liveWithinMilliseconds)
    }

    func pruneRateCounts(before: Timestamp) async throws {
        state.withLock { state in
            for key in state.counts.keys { state.counts[key] = state.counts[key]!.filter { $0.key >= before.milliseconds } }
        }
    }
}

/// A small seeded generator, so that every simulated run is the same run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * Double(next() >> 11) / Double(1 << 53) }

    /// An exponential delay in milliseconds for `rate` events per millisecond.
    mutating func exponential(rate: Double) -> Double { -log(max(1e-12, uniform(0, 1))) / rate }
}
