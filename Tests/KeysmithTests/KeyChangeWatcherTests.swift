import Foundation
import Logging
import Testing

@testable import Keysmith

/// The cache invalidation path on a real store, one poll at a time: a change another process writes
/// drops the key from the cache once, not on every poll that reads the change again.
@Suite struct KeyChangeWatcherTests {
    @Test(arguments: Backend.available)
    func aChangeDropsTheKeyOnceNotOnEveryPoll(_ backend: Backend) async throws {
        try await backend.freshLocation().withStore(logger: Logger(label: "keysmith-test")) { store in
            let (workspace, key, _) = try await KeyIssuer(store: store).createWorkspace(named: "watched")
            // This test is about invalidation only. On a standing clock: polls that a loaded machine spaces more
            // than the feed's overlap apart would otherwise drop the whole cache (a gap).
            let cache = KeyCache(store: store, stalenessBound: .seconds(60), clock: TestClock(frozen: true).now)
            let watcher = KeyChangeWatcher(store: store, cache: cache, interval: .milliseconds(20), migrated: MigrationGate(),
                                           logger: Logger(label: "keysmith-test"))
            var progress = KeyChangeWatcher.Progress()
            try await watcher.poll(&progress)  // sets the cursor
            try await watcher.poll(&progress)
            #expect(progress.applied.isEmpty, "a creation writes no entry: no cache can hold a key that is new")
            _ = try await store.relabelKey(id: key.id, workspaceID: workspace.id, change: KeyLabelChange(description: .some("first change")))
            try await watcher.poll(&progress)  // applies the first change's entry
            #expect(progress.applied.count == 1)

            _ = try await cache.key(id: key.id)
            try await watcher.poll(&progress)
            #expect(cache.cachedKey(id: key.id)?.key.name == key.name, "an applied entry dropped the key again")

            // Another writer renames the key: the next poll drops it, and the next lookup loads the new name.
            let renamed = ContinuousClock.now
            _ = try await store.relabelKey(id: key.id, workspaceID: workspace.id, change: KeyLabelChange(name: "renamed"))
            try await watcher.poll(&progress)
            #expect(cache.cachedKey(id: key.id) == nil)
            #expect(try await cache.key(id: key.id)?.key.name == "renamed")

            // The entries inside the five-second look-back (on the database's clock) are read by every poll and
            // applied by none. A poll reads the rename again while it is younger than the look-back as of the
            // previous poll's cursor, which is no later than this poll's start; a machine so loaded that it is
            // older may read neither entry (the "0 applied"), and must still not drop the key.
            for _ in 0..<5 {
                let sinceRename = ContinuousClock.now - renamed
                try await watcher.poll(&progress)
                if sinceRename < .milliseconds(4_500) { #expect(progress.applied.count >= 1, "the rename was read again") }
                #expect(progress.applied.count <= 2)
                #expect(cache.cachedKey(id: key.id)?.key.name == "renamed", "an applied entry dropped the key again")
            }
        }
    }
}
