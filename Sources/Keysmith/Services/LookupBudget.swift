import Synchronization

/// How many failed lookups (key ids the database does not hold) each client address, and the whole
/// instance, may cause per second.
///
/// The checksum algorithm is public, so well-formed tokens with made-up ids are cheap to make; once an
/// address has spent its budget, or the instance has spent `total`, requests with ids the cache does not know
/// are refused from memory (429) and never reach the database. Keys already in the cache are never
/// affected, and lookups that find a key cost nothing.
///
/// Lookups in flight count against a budget only once it has failed in this window: an address that has
/// only ever presented real keys (a gateway with many users behind it, a cold cache) may have up to
/// `concurrency` lookups in flight and is never refused, while one that floods is held to its budget plus
/// at most one burst. Counts live in windows of `window` on the application's clock. The table is bounded:
/// IPv6 clients that do not fit are counted by their /48, or by their /32 once the /48s fill a table of
/// their own (so one /48 of made-up /64s cannot take every other network's budget), and the rest share one
/// overflow budget. A flood from many addresses is bounded in total by `total` whatever its spread.
public final class LookupBudget: Sendable {
    struct Counts {
        var failures = 0
        var inFlight = 0
        /// Failed in the previous window too: no allowance for a burst, exact accounting from the start.
        var failedBefore = false

        var isTrusted: Bool { failures == 0 && !failedBefore }
        var isIdle: Bool { inFlight == 0 && failures == 0 }

        func admits(limit: Int, concurrency: Int) -> Bool {
            isTrusted ? inFlight < concurrency : failures + inFlight < limit
        }

        /// A new window forgets the count of failures, but not that there were any, and keeps the lookups in flight.
        var next: Counts { Counts(failures: 0, inFlight: inFlight, failedBefore: failures > 0) }
    }

    /// Where an address's lookups are counted.
    enum Slot: Hashable, Sendable {
        case address(String)
        /// A wider IPv6 prefix (`bits` long), for addresses that did not fit in the table.
        case network(bits: Int, String)
        case overflow
    }

    /// An admitted lookup, to give back to `end`: counted where `begin` counted it, whatever the table does meanwhile.
    public struct Ticket: Sendable {
        let slot: Slot
    }

    private struct State {
        var windowStart: Int64
        var addresses: [String: Counts] = [:]
        /// By prefix length: the /48s, then the /32s.
        var networks: [Int: [String: Counts]] = [:]
        var overflow = Counts()
        var total = Counts()

        subscript(slot: Slot) -> Counts {
            get {
                switch slot {
                case .address(let key): addresses[key, default: Counts()]
                case .network(let bits, let key): networks[bits]?[key] ?? Counts()
                case .overflow: overflow
                }
            }
            set {
                switch slot {
                case .address(let key): addresses[key] = newValue
                case .network(let bits, let key): networks[bits, default: [:]][key] = newValue
                case .overflow: overflow = newValue
                }
            }
        }
    }

    public let perAddress: Int
    /// Failed lookups per window for the whole instance, over every address.
    public let total: Int
    let concurrency: Int
    let window: Int64
    let maxAddresses: Int
    /// Wider IPv6 prefixes of each length counted at once, besides the addresses.
    let maxNetworks: Int
    private let clock: @Sendable () -> Timestamp
    private let state: Mutex<State>

    public init(perAddress: Int = 20, total: Int = LookupBudget.defaultTotal, concurrency: Int? = nil, window: Duration = .seconds(1),
                maxAddresses: Int = 10_000, clock: @escaping @Sendable () -> Timestamp = { .now() }) {
        self.perAddress = perAddress
        self.total = max(1, total)
        self.concurrency = concurrency ?? max(64, perAddress * 5)
        self.window = max(1, window.milliseconds)
        self.maxAddresses = maxAddresses
        self.maxNetworks = max(1, maxAddresses / 10)
        self.clock = clock
        self.state = Mutex(State(windowStart: clock().milliseconds))
    }

    /// 2,000 failed lookups a second: a few percent of what one PostgreSQL server answers by primary key.
    public static let defaultTotal = 2_000

    /// Whole seconds until the current window ends, for `Retry-After`: at least 1, at most the window.
    public var secondsToReset: Int {
        let now = clock().milliseconds
        let left = state.withLock { $0.windowStart } + window - now
        return min(max(1, Int((window + 999) / 1000)), max(1, Int((left + 999) / 1000)))
    }

    /// Starts a lookup for the address; `nil` (refuse it) when the address, its network or the instance has
    /// spent its budget.
    public func begin(_ address: String?) -> Ticket? {
        let now = clock().milliseconds
        return state.withLock { state in
            rollOver(&state, at: now)
            let slot = slot(for: address, in: state)
            var shared = true  // a network's or the overflow's: many clients, ten times one address's budget
            if case .address = slot { shared = false }
            let limit = shared ? perAddress * 10 : perAddress
            var counts = state[slot]
            guard counts.admits(limit: limit, concurrency: shared ? concurrency * 10 : concurrency),
                  state.total.admits(limit: total, concurrency: max(concurrency * 10, total))
            else { return nil }
            counts.inFlight += 1
            state[slot] = counts
            state.total.inFlight += 1
            return Ticket(slot: slot)
        }
    }

    /// Ends a lookup that `begin` admitted; one that found nothing counts against its address and the instance.
    public func end(_ ticket: Ticket, found: Bool) {
        state.withLock { state in
            var counts = state[ticket.slot]
            counts.inFlight = max(0, counts.inFlight - 1)
            state.total.inFlight = max(0, state.total.inFlight - 1)
            if !found {
                counts.failures += 1
                state.total.failures += 1
            }
            state[ticket.slot] = counts
        }
    }

    /// The address's own entry while the table has room; past it, an IPv6 address's /48 and then /32, while
    /// the table of networks has room; the overflow otherwise.
    private func slot(for address: String?, in state: State) -> Slot {
        let key = address.map(Self.bucket) ?? ""
        if state.addresses[key] != nil || state.addresses.count < maxAddresses { return .address(key) }
        if let address, let ip = IPAddress(address), ip.bytes.count == 16 {
            for bits in [48, 32] {
                guard let network = IPRange("\(ip)/\(bits)")?.description else { continue }
                let table = state.networks[bits] ?? [:]
                if table[network] != nil || table.count < maxNetworks { return .network(bits: bits, network) }
            }
        }
        return .overflow
    }

    /// A clock set back starts a new window too, rather than one that never ends.
    private func rollOver(_ state: inout State, at now: Int64) {
        guard now - state.windowStart >= window || now < state.windowStart else { return }
        state.windowStart = now
        state.addresses = state.addresses.compactMapValues { $0.isIdle ? nil : $0.next }
        state.networks = state.networks.mapValues { $0.compactMapValues { $0.isIdle ? nil : $0.next } }
        state.overflow = state.overflow.next
        state.total = state.total.next
    }

    /// IPv6 clients get whole /64s, so one client cannot mint a budget per address.
    static func bucket(_ address: String) -> String {
        guard address.contains(":"), let ip = IPAddress(address), ip.bytes.count == 16 else { return address }
        return IPRange("\(ip)/64")?.description ?? address
    }
}
