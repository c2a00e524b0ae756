import Synchronization

/// How many failed lookups (key ids the database does not hold) each client address may cause per second.
///
/// The checksum algorithm is public, so well-formed tokens with made-up ids are cheap to make; once an
/// address has spent its budget, its requests with ids the cache does not know are refused from memory
/// (429) and never reach the database. Keys already in the cache are never affected, and lookups that find
/// a key cost nothing.
///
/// Lookups in flight count against the budget only once the address has failed in this window: an address
/// that has only ever presented real keys (a gateway with many users behind it, a cold cache) may have up
/// to `concurrency` lookups in flight and is never refused, while one that floods is held to its budget
/// plus at most one burst. Counts live in windows of `window`; the table is bounded, and addresses that do
/// not fit share one overflow budget, so a flood from many addresses is still bounded in total.
public final class LookupBudget: Sendable {
    private struct Counts {
        var failures = 0
        var inFlight = 0
        /// Failed in the previous window too: no allowance for a burst, exact accounting from the start.
        var failedBefore = false

        var isTrusted: Bool { failures == 0 && !failedBefore }
    }

    private struct State {
        var window: ContinuousClock.Instant
        var counts: [String: Counts] = [:]
        var overflow = Counts()
    }

    public let perAddress: Int
    let concurrency: Int
    let window: Duration
    let maxAddresses: Int
    private let state: Mutex<State>

    public init(perAddress: Int = 20, concurrency: Int? = nil, window: Duration = .seconds(1), maxAddresses: Int = 10_000) {
        self.perAddress = perAddress
        self.concurrency = concurrency ?? max(64, perAddress * 5)
        self.window = window
        self.maxAddresses = maxAddresses
        self.state = Mutex(State(window: .now))
    }

    /// Whole seconds until the current window ends, for `Retry-After`.
    public var secondsToReset: Int {
        let left = state.withLock { $0.window } + window - .now
        return max(1, Int(left.components.seconds) + (left.components.attoseconds > 0 ? 1 : 0))
    }

    /// Starts a lookup for the address; false (refuse it) when the address has spent its budget.
    public func begin(_ address: String?) -> Bool {
        let key = address.map(Self.bucket) ?? ""
        return state.withLock { state in
            rollOver(&state)
            let overflowing = state.counts[key] == nil && state.counts.count >= maxAddresses
            let limit = overflowing ? perAddress * 10 : perAddress
            var counts = overflowing ? state.overflow : state.counts[key, default: Counts()]
            let admitted = counts.isTrusted
                ? counts.inFlight < (overflowing ? concurrency * 10 : concurrency)
                : counts.failures + counts.inFlight < limit
            guard admitted else { return false }
            counts.inFlight += 1
            if overflowing { state.overflow = counts } else { state.counts[key] = counts }
            return true
        }
    }

    /// Ends a lookup that `begin` admitted; one that found nothing counts against the address.
    public func end(_ address: String?, found: Bool) {
        let key = address.map(Self.bucket) ?? ""
        state.withLock { state in
            let overflowing = state.counts[key] == nil && state.counts.count >= maxAddresses
            var counts = overflowing ? state.overflow : state.counts[key, default: Counts()]
            counts.inFlight = max(0, counts.inFlight - 1)
            if !found { counts.failures += 1 }
            if overflowing { state.overflow = counts } else { state.counts[key] = counts }
        }
    }

    /// A new window forgets the count of failures, but not that there were any, and keeps the lookups
    /// still in flight.
    private func rollOver(_ state: inout State) {
        let now = ContinuousClock.now
        guard now - state.window >= window else { return }
        state.window = now
        func next(_ counts: Counts) -> Counts { Counts(failures: 0, inFlight: counts.inFlight, failedBefore: counts.failures > 0) }
        state.counts = state.counts.compactMapValues { $0.inFlight > 0 || $0.failures > 0 ? next($0) : nil }
        state.overflow = next(state.overflow)
    }

    /// IPv6 clients get whole /64s, so one client cannot mint a budget per address.
    static func bucket(_ address: String) -> String {
        guard address.contains(":"), let ip = IPAddress(address), ip.bytes.count == 16 else { return address }
        return IPRange("\(ip)/64")?.description ?? address
    }
}
