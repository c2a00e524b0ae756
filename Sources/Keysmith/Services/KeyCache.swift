import Synchronization

/// Verified keys kept in memory so that authentication does not query the database on every request,
/// and key ids known not to exist, so that a flood of made-up ids does not either.
///
/// Entries are dropped when this process changes a key and when `KeyChangeWatcher` sees another process
/// change (or create) one. If the watcher has not synchronised within `stalenessBound` (database
/// unreachable), cached keys are read again, so a revocation made elsewhere is never honoured later than
/// that bound. Every entry is also bounded in age: a key older than `maximumAge` is read again.
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

    private enum Entry {
        case key(VerifiedKey, loadedAt: ContinuousClock.Instant)
        case absent(until: ContinuousClock.Instant)
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Bumped on every invalidation, so a lookup that raced with one does not store a stale row.
        var generation: UInt64 = 0
        var lastSync: ContinuousClock.Instant?
        /// Queries in flight, by id: concurrent misses of one id share one query.
        var loading: [String: Task<VerifiedKey?, any Error>] = [:]
    }

    private let store: any KeyStore
    private let capacity: Int
    private let stalenessBound: Duration
    private let maximumAge: Duration
    private let absenceTTL: Duration
    /// The time, injectable so that tests move it instead of waiting.
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state = Mutex(State())

    public init(store: any KeyStore, capacity: Int = 100_000, stalenessBound: Duration = .seconds(1),
                maximumAge: Duration = .seconds(60), absenceTTL: Duration = .seconds(30),
                now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.now = now
        self.store = store
        self.capacity = max(10, capacity)
        self.stalenessBound = stalenessBound
        self.maximumAge = maximumAge
        self.absenceTTL = absenceTTL
    }

    /// What memory knows of this id; synchronous, for the request path.
    public func lookup(id: String) -> Lookup {
        let now = now()
        return state.withLock { state in
            guard let entry = state.entries[id] else { return .unknown }
            let synchronised = state.lastSync.map { now - $0 < stalenessBound } ?? false
            switch entry {
            case .key(let key, let loadedAt):
                return synchronised && now - loadedAt < maximumAge ? .hit(key) : .stale
            case .absent(let until):
                return synchronised && now < until ? .absent : .unknown
            }
        }
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
        } catch {
            state.withLock { $0.loading[id] = nil }
            throw error
        }
        let now = now()
        state.withLock { state in
            state.loading[id] = nil
            guard state.generation == generation, state.lastSync != nil else { return }
            if state.entries[id] == nil && state.entries.count >= capacity { evictSome(&state) }
            state.entries[id] = found.map { .key($0, loadedAt: now) } ?? .absent(until: now + absenceTTL)
        }
        return found
    }

    /// Drops a tenth of the entries, in the dictionary's (hash, so arbitrary) order: a full cache never
    /// empties at once, which would send every client to the database together.
    private func evictSome(_ state: inout State) {
        let victims = state.entries.keys.prefix(max(1, capacity / 10))
        for id in Array(victims) { state.entries[id] = nil }
    }

    public func invalidate(_ ids: some Sequence<String>) {
        state.withLock { state in
            state.generation &+= 1
            for id in ids { state.entries[id] = nil }
        }
    }

    /// Forgets everything: after the change feed lost entries, nothing in memory can be trusted.
    public func invalidateAll() {
        state.withLock { state in
            state.generation &+= 1
            state.entries.removeAll(keepingCapacity: true)
        }
    }

    var count: Int { state.withLock { $0.entries.count } }

    /// The key if memory holds it fresh (tests and the `key(id:)` fast path).
    func cachedKey(id: String) -> VerifiedKey? {
        if case .hit(let key) = lookup(id: id) { return key }
        return nil
    }

    /// Called by the watcher after each successful poll.
    func markSynchronised(at instant: ContinuousClock.Instant) {
        state.withLock { $0.lastSync = instant }
    }
}
