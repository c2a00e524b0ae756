import Synchronization

/// Verified keys kept in memory so that authentication does not query the database on every request.
///
/// Entries are dropped when this process changes a key and when `KeyChangeWatcher` sees another process
/// change one. If the watcher has not synchronised within `stalenessBound` (database unreachable), the
/// cache is bypassed, so a revocation made elsewhere is never honoured later than that bound.
public final class KeyCache: Sendable {
    private struct State {
        var keys: [String: VerifiedKey] = [:]
        /// Bumped on every invalidation, so a lookup that raced with one does not store a stale row.
        var generation: UInt64 = 0
        var lastSync: ContinuousClock.Instant?
    }

    private let store: any KeyStore
    private let capacity: Int
    private let stalenessBound: Duration
    private let state = Mutex(State())

    public init(store: any KeyStore, capacity: Int = 100_000, stalenessBound: Duration = .seconds(1)) {
        self.store = store
        self.capacity = capacity
        self.stalenessBound = stalenessBound
    }

    /// The key with this id if it is in memory and the cache is fresh; synchronous, for the common case.
    public func cachedKey(id: String) -> VerifiedKey? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let lastSync = state.lastSync, now - lastSync < stalenessBound else { return nil }
            return state.keys[id]
        }
    }

    /// The key with this id, from memory when fresh, else from the store.
    public func key(id: String) async throws -> VerifiedKey? {
        if let cached = cachedKey(id: id) { return cached }
        return try await load(id: id)
    }

    /// The key with this id from the store, kept unless an invalidation raced with the read: the miss
    /// path, for a caller that has just looked in memory itself.
    func load(id: String) async throws -> VerifiedKey? {
        let generation = state.withLock { $0.generation }
        guard let found = try await store.key(id: id) else { return nil }
        let key = VerifiedKey(found)
        state.withLock { state in
            guard state.generation == generation, state.lastSync != nil else { return }
            if state.keys.count >= capacity { state.keys.removeAll(keepingCapacity: true) }
            state.keys[id] = key
        }
        return key
    }

    public func invalidate(_ ids: some Sequence<String>) {
        state.withLock { state in
            state.generation &+= 1
            for id in ids { state.keys[id] = nil }
        }
    }

    /// Called by the watcher after each successful poll.
    func markSynchronised(at instant: ContinuousClock.Instant) {
        state.withLock { $0.lastSync = instant }
    }
}
