import Synchronization

/// Verified keys kept in memory so that authentication does not query the database on every request,
/// and key ids known not to exist, so that a flood of made-up ids does not either.
///
/// Entries are dropped when this process changes a key and when `KeyChangeWatcher` sees another process
/// change (or create) one. If the watcher has not synchronised within `stalenessBound` (database
/// unreachable), cached keys are read again, so a revocation made elsewhere is never honoured later than
/// that bound. Every entry is also bounded in age: a key older than `maximumAge` is read again.
///
/// The cache is bounded by memory, not by count: each entry's cost is estimated (`KeyCache.cost(of:)`),
/// and when a new entry would pass `memoryBudget`, the least recently loaded entries go, about a tenth of
/// the budget at once. Absent ids have a budget of their own (`absenceBudget`), so a flood of made-up ids
/// evicts only other absences, never a key.
public final class KeyCache: Sendable {
    /// What memory says about a key id.
    public enum Lookup: Sendable {
        /// In memory and fresh: use it.
        case hit(VerifiedKey)
        /// Known not to exist: refuse it without a query.
        case absent
        /// In memory but to be read again (too old, or the feed is behind): a lookup of a known id.
        case stale
        /// Not in memory at all.
        case unknown
    }

    private struct State {
        var keys: LoadOrderedEntries<VerifiedKey>
        /// Ids known not to exist.
        var absent: LoadOrderedEntries<Void>
        /// Bumped on every invalidation, so a lookup that raced with one does not store a stale row.
        var generation: UInt64 = 0
        var lastSync: Timestamp?
        /// Queries in flight, by id: concurrent misses of one id share one query.
        var loading: [String: Task<VerifiedKey?, any Error>] = [:]
    }

    /// 512 MiB: a few hundred thousand typical keys by `cost(of:)`; how many, and what a million keys in use
    /// need, is in docs/performance.md.
    public static let defaultMemoryBudget = 512 << 20

    private let store: any KeyStore
    /// The most the keys may cost, by `cost(of:)`.
    let memoryBudget: Int
    /// The most the absent ids may cost, apart from the keys.
    let absenceBudget: Int
    private let stalenessBound: Int64
    private let maximumAge: Int64
    private let absenceTTL: Int64
    /// The application's clock; `KeyChangeWatcher` reads it too, since synchronisation is compared in its time.
    let clock: @Sendable () -> Timestamp
    private let state: Mutex<State>
    private let metrics: KeyCacheMetrics

    /// How long an entry is trusted without a read, whatever the feed says: it bounds only changes that bypass the
    /// feed (a hand edit). Each key in use costs a read per period, and 60 s slowed whoami (docs/performance.md).
    public static let defaultMaximumAge: Duration = .seconds(300)

    /// `absenceBudget` defaults to an eighth of `memoryBudget` (64 MiB: about 290,000 absent ids, more than
    /// the instance's lookup budget lets a flood find in `absenceTTL`).
    public init(store: any KeyStore, memoryBudget: Int = KeyCache.defaultMemoryBudget, absenceBudget: Int? = nil,
                stalenessBound: Duration = .seconds(1),
                maximumAge: Duration = KeyCache.defaultMaximumAge, absenceTTL: Duration = .seconds(30),
                clock: @escaping @Sendable () -> Timestamp = { .now() }, metrics: KeysmithMetrics = .disabled) {
        self.clock = clock
        self.metrics = metrics.keyCache
        self.store = store
        let keyBudget = max(0, memoryBudget)
        let absenceBudget = max(0, absenceBudget ?? keyBudget / 8)
        self.memoryBudget = keyBudget
        self.absenceBudget = absenceBudget
        self.state = Mutex(State(keys: LoadOrderedEntries(budget: keyBudget, cost: { Self.cost(of: $0) }),
                                 absent: LoadOrderedEntries(budget: absenceBudget, cost: { _ in Self.cost(of: nil) })))
        self.stalenessBound = stalenessBound.milliseconds
        self.maximumAge = maximumAge.milliseconds
        self.absenceTTL = absenceTTL.milliseconds
    }

    /// What memory knows of this id; synchronous, for the request path.
    public func lookup(id: String) -> Lookup { lookup(id: id, at: clock()) }

    /// What memory knows of this id at `now`, a time the caller has just read from the clock.
    ///
    /// Ages are taken on the wall clock, so one that went backwards (a time set back) counts as too old, never
    /// as young: entries are read again rather than kept beyond their bounds.
    public func lookup(id: String, at now: Timestamp) -> Lookup {
        let lookup = state.withLock { state -> Lookup in
            let synchronised = state.lastSync.map { Self.within(now, since: $0, stalenessBound) } ?? false
            if let entry = state.keys[id] {
                return synchronised && Self.within(now, since: entry.loadedAt, maximumAge) ? .hit(entry.value) : .stale
            }
            guard let absence = state.absent[id] else { return .unknown }
            return synchronised && Self.within(now, since: absence.loadedAt, absenceTTL) ? .absent : .unknown
        }
        metrics.record(lookup)
        return lookup
    }

    private static func within(_ now: Timestamp, since start: Timestamp, _ bound: Int64) -> Bool {
        let elapsed = now.milliseconds - start.milliseconds
        return elapsed >= 0 && elapsed < bound
    }

    /// The key with this id, from memory when fresh, else from the store.
    public func key(id: String) async throws -> VerifiedKey? {
        switch lookup(id: id) {
        case .hit(let key): return key
        case .absent: return nil
        case .stale, .unknown: return try await load(id: id)
        }
    }

    /// The key with this id from the store, remembered (or its absence) unless an invalidation raced with
    /// the read: the miss path, for a caller that has just looked in memory itself.
    ///
    /// Concurrent misses of one id share one query (a burst of first requests with a new key costs one), and
    /// `admit` is asked only by the call that makes the query: that is where the lookup budget is taken.
    func load(id: String, admit: () throws -> Void = {}) async throws -> VerifiedKey? {
        if let running = state.withLock({ $0.loading[id] }) { return try await running.value }
        try admit()
        let query = state.withLock { state in
            if let running = state.loading[id] { return running }
            // Unstructured on purpose: the callers that join it must not lose it when the first one is cancelled.
            let query = Task { try await self.query(id: id) }
            state.loading[id] = query
            return query
        }
        return try await query.value
    }

    private func query(id: String) async throws -> VerifiedKey? {
        let generation = state.withLock { $0.generation }
        let found: VerifiedKey?
        do {
            found = try await store.key(id: id).map(VerifiedKey.init)
            metrics.recordQuery(found: found != nil)
        } catch {
            state.withLock { $0.loading[id] = nil }
            throw error
        }
        let now = clock()
        state.withLock { state in
            state.loading[id] = nil
            guard state.generation == generation, state.lastSync != nil else { return }
            insert(found, id: id, at: now, into: &state)
        }
        return found
    }

    /// Remembers a key (or, for `nil`, that the id does not exist) as if a query had just found it; for
    /// measuring and testing the memory bound without a store behind every entry.
    func remember(_ found: VerifiedKey?, id: String) {
        let now = clock()
        state.withLock { insert(found, id: id, at: now, into: &$0) }
    }

    /// Stores an entry as the newest, in the keys' memory or the absences'.
    private func insert(_ found: VerifiedKey?, id: String, at now: Timestamp, into state: inout State) {
        if let found {
            state.absent.remove(id)
            state.keys.insert(found, id: id, at: now)
        } else {
            state.keys.remove(id)
            state.absent.insert((), id: id, at: now)
        }
    }

    public func invalidate(_ ids: some Sequence<String>) {
        state.withLock { state in
            state.generation &+= 1
            for id in ids {
                state.keys.remove(id)
                state.absent.remove(id)
            }
        }
    }

    /// Forgets everything: after the change feed lost entries, nothing in memory can be trusted.
    public func invalidateAll() {
        state.withLock { state in
            state.generation &+= 1
            state.keys.removeAll()
            state.absent.removeAll()
        }
    }

    var count: Int { state.withLock { $0.keys.count + $0.absent.count } }

    /// The estimated bytes of every entry, keys and absences.
    var memoryUsed: Int { state.withLock { $0.keys.bytes + $0.absent.bytes } }

    /// The estimated bytes of the keys alone, the figure held under `memoryBudget`.
    var keyMemoryUsed: Int { state.withLock { $0.keys.bytes } }

    /// The key if memory holds it fresh (tests and the `key(id:)` fast path).
    func cachedKey(id: String) -> VerifiedKey? {
        if case .hit(let key) = lookup(id: id) { return key }
        return nil
    }

    /// When the last successful poll of the change feed began; `nil` before the first.
    var lastSynchronised: Timestamp? { state.withLock { $0.lastSync } }

    /// Called by the watcher after each successful poll, with the time (on `clock`) the poll began.
    func markSynchronised(at instant: Timestamp) {
        state.withLock { $0.lastSync = instant }
    }
}

extension KeyCache {
    /// What every entry holds beyond a key's own allocations: its dictionary slot (64 bytes a bucket with
    /// its two neighbours' ids, the buckets three eighths to three quarters full), storage left behind when
    /// the dictionary grows, and what the allocator adds. Measured, see `cost(of:)`.
    static let entryOverhead = 230

    /// The estimated bytes of an entry: `entryOverhead`, plus for a key the `VerifiedKey` object (with the
    /// `APIKey` stored inline), each of its strings too long to be stored inline, its arrays and `labelsJSON`,
    /// each rounded as the allocator rounds them. A field added to `APIKey` that holds a string or an array
    /// belongs here too.
    ///
    /// Checked against RSS growth in `KeyCacheTests.measuredCostPerKey` and `measuredCostPerAbsentID`
    /// (`KEYSMITH_MEASURE_CACHE=1`); the figures are in docs/performance.md.
    static func cost(of key: VerifiedKey?) -> Int {
        guard let verified = key else { return entryOverhead }
        let key = verified.key
        var bytes = entryOverhead + Heap.object(MemoryLayout<APIKey>.size + MemoryLayout<[UInt8]>.size)
        bytes += Heap.array(verified.labelsJSON) + Heap.array(key.secretHash.bytes)
        for text in [key.id, key.workspaceID, key.name, key.createdBy] { bytes += Heap.string(text) }
        for text in [key.description, key.serviceAccountID, key.lastUsed?.ip, key.lastUsed?.userAgent, key.metadata, key.keyPrefix, key.rolledFrom] {
            bytes += text.map(Heap.string) ?? 0
        }
        bytes += Heap.array(key.permissions) + key.permissions.reduce(0) { $0 + Heap.string($1) }
        if let ranges = key.allowedIPs { bytes += Heap.array(ranges) + ranges.reduce(0) { $0 + Heap.array($1.network.bytes) } }
        return bytes
    }

    /// Sizes of heap allocations as Swift lays them out and glibc's malloc rounds them.
    private enum Heap {
        /// A malloc chunk: the request and an 8-byte header, in 16-byte steps, at least 32.
        static func chunk(_ request: Int) -> Int { max(32, (request + 8 + 15) & ~15) }
        /// A class instance: 16 bytes of metadata and reference counts, then the stored properties.
        static func object(_ properties: Int) -> Int { chunk(16 + properties) }
        /// A native string's storage, unless it is at most 15 UTF-8 bytes and so stored in the `String` itself.
        static func string(_ text: String) -> Int {
            let count = text.utf8.count
            return count <= 15 ? 0 : chunk(32 + count + 1)
        }
        /// An array's storage, by its count: its capacity can be 16 bytes more, depending on the free chunk
        /// the allocator found, which would make equal keys cost differently. Empty arrays share one storage.
        static func array<Element>(_ array: [Element]) -> Int {
            array.isEmpty ? 0 : chunk(32 + array.count * MemoryLayout<Element>.stride)
        }
    }
}
