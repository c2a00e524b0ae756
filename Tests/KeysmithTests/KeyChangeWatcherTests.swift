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
            let cache = KeyCache(store: store, stalenessBound: .seconds(60))  // this test is about invalidation only
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
            _ = try await store.relabelKey(id: key.id, workspaceID: workspace.id, change: KeyLabelChange(name: "renamed"))
            try await watcher.poll(&progress)
            #expect(cache.cachedKey(id: key.id) == nil)
            #expect(try await cache.key(id: key.id)?.key.name == "renamed")

            // Both entries stay inside the five-second look-back, read by every poll, applied by none (on a
            // machine so loaded that the first change is already five seconds old, only the rename is read).
            for _ in 0..<5 {
                try await watcher.poll(&progress)
                #expect((1...2).contains(progress.applied.count))
                #expect(cache.cachedKey(id: key.id)?.key.name == "renamed", "an applied entry dropped the key again")
            }
        }
    }
}
