import Synchronization

/// How many failed lookups (key ids the database does not hold) each client address may cause per second.
///
/// The checksum algorithm is public, so well-formed tokens with made-up ids are cheap to make; once an
/// address has spent its budget, its requests with ids the cache does not know are refused from memory
/// (429) and never reach the database. Keys already in the cache are never affected, and lookups that find
/// a key cost nothing, so a burst of first requests with one real key is never refused. Counts live in one-second windows; the table is bounded, and addresses that
/// do not fit share one overflow budget, so a flood from many addresses is still bounded in total.
public final class LookupBudget: Sendable {
    private struct State {
        var window: ContinuousClock.Instant
        var counts: [String: Int] = [:]
        var overflow = 0
    }

    public let perAddress: Int
    let window: Duration
    let maxAddresses: Int
    private let state: Mutex<State>

    public init(perAddress: Int = 20, window: Duration = .seconds(1), maxAddresses: Int = 10_000) {
        self.perAddress = perAddress
        self.window = window
        self.maxAddresses = maxAddresses
        self.state = Mutex(State(window: .now))
    }

    /// Whole seconds until the current window ends, for `Retry-After`.
    public var secondsToReset: Int {
        let left = state.withLock { $0.window } + window - .now
        return max(1, Int(left.components.seconds) + (left.components.attoseconds > 0 ? 1 : 0))
    }

    /// Takes one lookup from the address's budget before it is made, so that concurrent requests cannot
    /// all pass the check at once; false when the budget for this window is spent.
    public func take(_ address: String?) -> Bool {
        let key = address.map(Self.bucket) ?? ""
        return state.withLock { state in
            rollOver(&state)
            if let count = state.counts[key] {
                guard count < perAddress else { return false }
                state.counts[key] = count + 1
            } else if state.counts.count < maxAddresses {
                state.counts[key] = 1
            } else {
                guard state.overflow < perAddress * 10 else { return false }
                state.overflow += 1
            }
            return true
        }
    }

    /// Gives back a lookup that found a key: only failed lookups count.
    public func refund(_ address: String?) {
        let key = address.map(Self.bucket) ?? ""
        state.withLock { state in
            if let count = state.counts[key], count > 0 {
                state.counts[key] = count - 1
            } else if state.overflow > 0 {
                state.overflow -= 1
            }
        }
    }

    private func rollOver(_ state: inout State) {
        let now = ContinuousClock.now
        if now - state.window >= window { state = State(window: now) }
    }

    /// IPv6 clients get whole /64s, so one client cannot mint a budget per address.
    static func bucket(_ address: String) -> String {
        guard address.contains(":"), let ip = IPAddress(address), ip.bytes.count == 16 else { return address }
        return IPRange("\(ip)/64")?.description ?? address
    }
}
