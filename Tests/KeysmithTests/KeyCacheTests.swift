import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import Keysmith

/// The cache on a real store: bounded in age and in memory, and dropped whole when the change feed had a gap.
@Suite struct KeyCacheTests {
    @Test func anEntryOlderThanItsMaximumAgeIsReadAgain() async throws {
        try await Backend.sqlite.freshLocation().withStore(logger: Logger(label: "keysmith-test")) { store in
            let (workspace, key, _) = try await KeyIssuer(store: store).createWorkspace(named: "aged")
            let clock = TestClock(frozen: true)  // the entry's age is the clock's alone, however slow the rename
            let cache = KeyCache(store: store, stalenessBound: .seconds(3600), maximumAge: .seconds(60), clock: clock.now)
            cache.markSynchronised(at: clock.read())
            _ = try await cache.load(id: key.id)
            // Renamed behind the cache's back (no watcher runs here).
            _ = try await store.relabelKey(id: key.id, workspaceID: workspace.id, change: KeyLabelChange(name: "renamed"))
            #expect(cache.cachedKey(id: key.id)?.key.name == "admin")
            clock.advance(seconds: 59)
            #expect(cache.cachedKey(id: key.id)?.key.name == "admin", "still within its age")
            clock.advance(seconds: 2)
            guard case .stale = cache.lookup(id: key.id) else { Issue.record("an old entry was still served"); return }
            #expect(try await cache.key(id: key.id)?.key.name == "renamed")
        }
    }

    @Test func aClockSetBackMakesEntriesOldNotYoung() async throws {
        try await Self.withCache(stalenessBound: .seconds(3600)) { cache in
            let now = Timestamp.now()
            cache.markSynchronised(at: now)
            let key = Self.sampleKey(0)
            cache.remember(key, id: key.key.id)
            guard case .hit = cache.lookup(id: key.key.id, at: now.adding(milliseconds: 1000)) else { Issue.record("not served"); return }
            guard case .stale = cache.lookup(id: key.key.id, at: now.adding(milliseconds: -1000)) else {
                Issue.record("an entry from the clock's future was served"); return
            }
        }
    }

    @Test func aFullCacheEvictsPartNotAll() async throws {
        try await Backend.sqlite.freshLocation().withStore(logger: Logger(label: "keysmith-test")) { store in
            let issuer = KeyIssuer(store: store)
            let (workspace, _, _) = try await issuer.createWorkspace(named: "full")
            var keys: [APIKey] = []
            for index in 0..<21 {  // names of one length, so every entry costs the same
                keys.append(try await issuer.issue(.init(workspaceID: workspace.id, name: "key \(100 + index)", scope: .read, createdBy: "test")).key)
            }
            let cost = KeyCache.cost(of: try await store.key(id: keys[0].id).map(VerifiedKey.init))  // as the cache reads it
            let cache = KeyCache(store: store, memoryBudget: 20 * cost, stalenessBound: .seconds(3600))
            cache.markSynchronised(at: .now())
            for key in keys.prefix(20) { _ = try await cache.load(id: key.id) }
            #expect(cache.count == 20 && cache.memoryUsed == 20 * cost, "twenty fit exactly")
            _ = try await cache.load(id: keys[20].id)
            // Room for the 21st and a tenth of the budget: the three loaded first go, the other seventeen stay.
            #expect(cache.count == 18)
            #expect(cache.memoryUsed == 18 * cost && cache.memoryUsed <= cache.memoryBudget)
            #expect(keys.prefix(3).allSatisfy { cache.cachedKey(id: $0.id) == nil })
            #expect(keys.dropFirst(3).allSatisfy { cache.cachedKey(id: $0.id) != nil })
        }
    }

    @Test func evictionKeepsTheTotalUnderTheBudgetAndMostEntries() async throws {
        try await Self.withCache(memoryBudget: 256 << 10, stalenessBound: .seconds(3600)) { cache in
            cache.markSynchronised(at: .now())
            var ids: [String] = []
            var evictions = 0
            for index in 0..<3000 {
                let before = cache.count
                if index % 4 == 3 {  // the absence of made-up ids is remembered, in memory of its own
                    let id = APIKeyToken.generate(prefix: "ks_").keyID
                    ids.append(id)
                    cache.remember(nil, id: id)
                } else {
                    let key = Self.sampleKey(index)
                    ids.append(key.key.id)
                    cache.remember(key, id: key.key.id)
                }
                #expect(cache.keyMemoryUsed <= cache.memoryBudget && cache.memoryUsed - cache.keyMemoryUsed <= cache.absenceBudget)
                if cache.count <= before {
                    evictions += 1
                    #expect(Double(cache.count) >= 0.85 * Double(before), "an eviction took \(before + 1 - cache.count) of \(before + 1)")
                }
            }
            #expect(evictions >= 5)
            // The running total is the sum of what is still there.
            let held = ids.reduce(0) { total, id in
                switch cache.lookup(id: id) {
                case .hit(let key): return total + KeyCache.cost(of: key)
                case .absent: return total + KeyCache.cost(of: nil)
                case .stale, .unknown: return total
                }
            }
            #expect(held == cache.memoryUsed)
            #expect(cache.keyMemoryUsed > cache.memoryBudget * 8 / 10)
        }
    }

    @Test func aRecentlyLoadedEntrySurvivesAnEviction() async throws {
        let keys = (0..<21).map { Self.sampleKey($0, name: "same length") }
        let cost = KeyCache.cost(of: keys[0])
        try await Self.withCache(memoryBudget: 20 * cost, stalenessBound: .seconds(3600)) { cache in
            cache.markSynchronised(at: .now())
            for key in keys.prefix(20) { cache.remember(key, id: key.key.id) }
            cache.remember(keys[0], id: keys[0].key.id)  // loaded again (its age had passed): now the most recent
            cache.remember(keys[20], id: keys[20].key.id)
            #expect(cache.count == 18)
            #expect(cache.cachedKey(id: keys[0].key.id) != nil, "the first key, loaded again, survives")
            #expect(keys[1...3].allSatisfy { cache.cachedKey(id: $0.key.id) == nil }, "the least recently loaded go")
            #expect(keys[4...].allSatisfy { cache.cachedKey(id: $0.key.id) != nil })
        }
    }

    @Test func theWholeCacheIsDroppedWhenTheFeedResumesAfterAGap() async throws {
        try await Backend.sqlite.freshLocation().withStore(logger: Logger(label: "keysmith-test")) { store in
            let (_, key, _) = try await KeyIssuer(store: store).createWorkspace(named: "gap")
            let cache = KeyCache(store: store, stalenessBound: .seconds(3600))
            let watcher = KeyChangeWatcher(store: store, cache: cache, interval: .seconds(3600), migrated: MigrationGate(),
                                           logger: Logger(label: "keysmith-test"))
            var progress = KeyChangeWatcher.Progress()
            let start = Timestamp.now().adding(milliseconds: -2000)  // the third poll is now
            try await watcher.poll(&progress, now: start)
            try await watcher.poll(&progress, now: start.adding(milliseconds: 1000))
            _ = try await cache.load(id: key.id)
            try await watcher.poll(&progress, now: start.adding(milliseconds: 2000))
            #expect(cache.cachedKey(id: key.id) != nil, "a poll on time keeps what has not changed")
            // The next successful poll comes long after the last one, past the feed's overlap.
            try await watcher.poll(&progress, now: start.adding(milliseconds: 60_000))
            #expect(cache.count == 0 && cache.memoryUsed == 0)
        }
    }

    @Test(arguments: [("512MiB", 512 << 20), ("1GiB", 1 << 30), ("1.5 gib", 3 << 29), ("64KiB", 64 << 10), ("65536", 65536), ("100 B", 100)])
    func theBudgetIsWrittenInBytesOrBinaryUnits(_ text: String, bytes: Int) {
        #expect(MemorySize.bytes(text) == bytes)
    }

    @Test(arguments: ["512MB", "1G", "", "MiB", "1.2.3MiB", "-5MiB", ".5GiB", "5.MiB", "1e3"])
    func otherSpellingsOfTheBudgetAreRefused(_ text: String) {
        #expect(MemorySize.bytes(text) == nil)
    }

    @Test func theDefaultBudgetIsDescribedAsItIsWritten() {
        #expect(MemorySize.describe(KeyCache.defaultMemoryBudget) == "512MiB")
        #expect(MemorySize.describe(3 << 29) == "1.5GiB" && MemorySize.describe(1000) == "1000 bytes")
        #expect(MemorySize.bytes(MemorySize.describe(KeyCache.defaultMemoryBudget)) == KeyCache.defaultMemoryBudget)
    }

    /// The figures behind `KeyCache.entryOverhead`: each run alone, in a process of its own, since memory
    /// one frees is reused by the next: `KEYSMITH_MEASURE_CACHE=1 swift test --skip-build --filter
    /// measuredCostPerKey` (then `measuredCostPerAbsentID`). Each prints the growth of the process's RSS per
    /// entry while 200,000 entries are added, against the estimate.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["KEYSMITH_MEASURE_CACHE"] == "1"))
    func measuredCostPerKey() async throws {
        try await Self.measureCostPerEntry("keys") { cache, index in
            let key = Self.sampleKey(index)
            cache.remember(key, id: key.key.id)
        }
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["KEYSMITH_MEASURE_CACHE"] == "1"))
    func measuredCostPerAbsentID() async throws {
        try await Self.measureCostPerEntry("absent ids") { cache, _ in cache.remember(nil, id: APIKeyToken.generate(prefix: "ks_").keyID) }
    }

    static func measureCostPerEntry(_ kind: String, count: Int = 200_000, add: @escaping @Sendable (KeyCache, Int) -> Void) async throws {
        try await withCache(memoryBudget: Int.max) { cache in
            let before = residentBytes()
            for index in 0..<count { add(cache, index) }
            let measured = (residentBytes() - before) / count
            print("\(kind): \(measured) bytes per entry measured (RSS growth over \(count)), \(cache.memoryUsed / count) estimated")
        }
    }

    /// A cache on an empty store, for tests that fill it with `remember` and never query.
    static func withCache(memoryBudget: Int = KeyCache.defaultMemoryBudget, stalenessBound: Duration = .seconds(1),
                          _ body: @escaping @Sendable (KeyCache) async throws -> Void) async throws {
        try await Backend.sqlite.freshLocation().withStore(logger: Logger(label: "keysmith-test")) { store in
            try await body(KeyCache(store: store, memoryBudget: memoryBudget, stalenessBound: stalenessBound))
        }
    }

    /// A key as they typically are: a name of about 20 characters, no description, last used by a client
    /// with a short user agent; different in each key. Its strings are copied to storage of their exact
    /// size, as a store's decoder makes them (an interpolated string keeps spare capacity).
    static func sampleKey(_ index: Int, name: String? = nil) -> VerifiedKey {
        func decoded(_ text: String) -> String { String(decoding: Array(text.utf8), as: UTF8.self) }
        let token = APIKeyToken.generate(prefix: "ks_")
        let now = Timestamp.now()
        return VerifiedKey(APIKey(
            id: token.keyID, workspaceID: decoded("ws_" + APIKeyToken.generate(prefix: "ks_").keyID),
            name: decoded(name ?? "Production Server \(index)"), description: nil, scope: .readWrite,
            secretHash: SecretHash(secret: token.secret), serviceAccountID: nil, createdAt: now,
            createdBy: APIKeyToken.generate(prefix: "ks_").keyID, expiresAt: nil,
            lastUsed: KeyUsage(at: now, ip: "203.0.113.\(index % 256)", userAgent: decoded("python-requests/2.31.\(index % 10)")),
            keyPrefix: String(token.secret.prefix(7))
        ))
    }

    static func residentBytes() -> Int {
        let fields = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
        return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
