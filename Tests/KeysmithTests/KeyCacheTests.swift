import Foundation
import Logging
import Synchronization
import Testing

@testable import Keysmith

/// The cache on a real store: bounded in age and size, and dropped whole when the change feed had a gap.
@Suite struct KeyCacheTests {
    @Test func anEntryOlderThanItsMaximumAgeIsReadAgain() async throws {
        try await Backend.sqlite.freshLocation().withStore(logger: Logger(label: "keysmith-test")) { store in
            let (workspace, key, _) = try await KeyIssuer(store: store).createWorkspace(named: "aged")
            let clock = Mutex(ContinuousClock.now)
            let cache = KeyCache(store: store, stalenessBound: .seconds(3600), maximumAge: .seconds(60), now: { clock.withLock { $0 } })
            cache.markSynchronised(at: clock.withLock { $0 })
            _ = try await cache.load(id: key.id)
            // Renamed behind the cache's back (no watcher runs here).
            _ = try await store.relabelKey(id: key.id, workspaceID: workspace.id, change: KeyLabelChange(name: "renamed"))
            #expect(cache.cachedKey(id: key.id)?.key.name == "admin")
            clock.withLock { $0 += .seconds(59) }
            #expect(cache.cachedKey(id: key.id)?.key.name == "admin", "still within its age")
            clock.withLock { $0 += .seconds(2) }
            guard case .stale = cache.lookup(id: key.id) else { Issue.record("an old entry was still served"); return }
            #expect(try await cache.key(id: key.id)?.key.name == "renamed")
        }
    }

    @Test func aFullCacheEvictsPartNotAll() async throws {
        try await Backend.sqlite.freshLocation().withStore(logger: Logger(label: "keysmith-test")) { store in
            let issuer = KeyIssuer(store: store)
            let (workspace, _, _) = try await issuer.createWorkspace(named: "full")
            let cache = KeyCache(store: store, capacity: 20, stalenessBound: .seconds(3600))
            cache.markSynchronised(at: .now)
            var ids: [String] = []
            for index in 0..<21 {
                let (key, _) = try await issuer.issue(.init(workspaceID: workspace.id, name: "k\(index)", scope: .read, createdBy: "test"))
                ids.append(key.id)
                _ = try await cache.load(id: key.id)
            }
            #expect(cache.count == 19, "two of twenty evicted to make room for the 21st, not all")
            #expect(cache.cachedKey(id: ids[20]) != nil)
        }
    }

    @Test func theWholeCacheIsDroppedWhenTheFeedResumesAfterAGap() async throws {
        try await Backend.sqlite.freshLocation().withStore(logger: Logger(label: "keysmith-test")) { store in
            let (_, key, _) = try await KeyIssuer(store: store).createWorkspace(named: "gap")
            let cache = KeyCache(store: store, stalenessBound: .seconds(3600))
            let watcher = KeyChangeWatcher(store: store, cache: cache, interval: .seconds(3600), migrated: MigrationGate(),
                                           logger: Logger(label: "keysmith-test"))
            var progress = KeyChangeWatcher.Progress()
            let start = ContinuousClock.now
            try await watcher.poll(&progress, now: start)
            try await watcher.poll(&progress, now: start + .seconds(1))
            _ = try await cache.load(id: key.id)
            try await watcher.poll(&progress, now: start + .seconds(2))
            #expect(cache.cachedKey(id: key.id) != nil, "a poll on time keeps what has not changed")
            // The next successful poll comes long after the last one, past the feed's overlap.
            try await watcher.poll(&progress, now: start + .seconds(60))
            #expect(cache.count == 0)
        }
    }
}
