import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Synchronization
import Testing

@testable import Keysmith
@testable import KeysmithCore

/// What a client that does not play by the rules can and cannot do: made-up keys, floods, odd methods,
/// invisible characters, caches.
@Suite struct HostileClientTests {
    /// A well-formed token (valid checksum) whose id no store holds.
    static func madeUpToken() -> String { APIKeyToken.generate(prefix: "ks_").bearer }

    @Test(arguments: Backend.available)
    func anUnknownKeyIsLookedUpOnceThenAnsweredFromMemory(_ backend: Backend) async throws {
        // A budget of one failed lookup: once the unknown id has spent it, a repeat that reached the database
        // again would be refused with 429; it gets the 401 from memory instead. The app's clock stands still:
        // an absence is trusted only while the change feed's last poll is under a second old, and at the
        // start of the whole suite a poll on PostgreSQL could take longer (this is about the cache, not that).
        let clock = TestClock(frozen: true)
        let registry = PrometheusCollectorRegistry()
        try await withApp(backend, configure: {
            $0.lookupBudget = 1; $0.lookupWindow = .seconds(3600); $0.clock = clock.now; $0.metricsRegistry = registry
        }) { client, ws in
            // Cache the admin key: served from memory once the feed's watcher has polled (the clock stands, so
            // that poll stays fresh).
            try await UnknownKeyFloodTests.untilCached(ws.adminToken, client, registry)
            let unknown = Self.madeUpToken()
            let (first, body, _) = try await client.call(.get, "/v1/auth/whoami", token: unknown)
            #expect(first == .unauthorized)
            expectErrorShape(body, status: .unauthorized)
            for _ in 0..<5 {
                let (again, _, response) = try await client.call(.get, "/v1/auth/whoami", token: unknown)
                #expect(again == .unauthorized)
                #expect(String(buffer: response.body) == unauthorizedBody)
            }
            // A second unknown id needs a lookup, and the address's budget for this second is spent.
            let (other, json, response) = try await client.call(.get, "/v1/auth/whoami", token: Self.madeUpToken())
            #expect(other == .tooManyRequests)
            expectErrorShape(json, status: .tooManyRequests)
            #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 > 0)
            // A key in the cache is never affected by the budget.
            let (still, _, _) = try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken)
            #expect(still == .ok)
        }
    }

    @Test(arguments: Backend.available)
    func theBudgetHoldsUnderConcurrencyAndABurstWithOneKeyCostsOneLookup(_ backend: Backend) async throws {
        try await withApp(backend, configure: { $0.lookupBudget = 3; $0.lookupWindow = .seconds(3600) }) { client, ws in
            func burst(_ tokens: [String]) async throws -> [HTTPResponse.Status] {
                try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for token in tokens { group.addTask { try await client.call(.get, "/v1/auth/whoami", token: token).status } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            // Forty requests with one new, real key at once: one shared query, nothing refused, nothing charged.
            let (_, token) = try await client.createKey(ws.adminToken, #"{"name": "busy"}"#)
            let same = try await burst(Array(repeating: token, count: 40))
            #expect(same.allSatisfy { $0 == .ok }, "\(same)")
            // Made-up ids: at most one burst of lookups (the concurrency allowance) before the first failure is
            // known, then the budget holds exactly, concurrent or not.
            let first = try await burst((0..<40).map { _ in Self.madeUpToken() })
            #expect(first.allSatisfy { $0 == .unauthorized || $0 == .tooManyRequests }, "\(first)")
            let second = try await burst((0..<40).map { _ in Self.madeUpToken() })
            #expect(second.allSatisfy { $0 == .tooManyRequests }, "\(second)")
        }
    }

    @Test(arguments: Backend.available)
    func aKeyWrittenElsewhereUnderARefusedIdIsAcceptedOnceTheAbsenceExpires(_ backend: Backend) async throws {
        // Another process writes a key under an id this process has already cached as unknown. Keysmith
        // itself never does (ids are random, and creations write no change-feed entry), so only the
        // absence's own lifetime (30 s) ends the refusal; moved by the app's clock instead of waited for.
        // The absence is kept only once the change feed has polled, and trusted only while the last poll is
        // under a second old on the app's clock: on a standing clock, and asked until memory answers, so a
        // slow first poll (PostgreSQL at the suite's start) cannot let the second request reach the database.
        let location = backend.freshLocation()
        let clock = TestClock(frozen: true)
        let registry = PrometheusCollectorRegistry()
        try await withApp(backend, location: location, configure: {
            $0.clock = clock.now
            $0.metricsRegistry = registry
            $0.lookupBudget = 100_000  // the asking below may cost a lookup per try until the feed has polled
        }) { client, ws in
            let token = APIKeyToken.generate(prefix: "ks_")
            let absentHits: @Sendable () -> Double = { PrometheusSamples(registry.emitToString())["keysmith_key_cache_hits_total", ["entry": "absent"]] ?? 0 }
            let remembered = try await eventually {
                let before = absentHits()
                let status = try await client.call(.get, "/v1/auth/whoami", token: token.bearer).status
                #expect(status == .unauthorized)
                return absentHits() > before
            }
            #expect(remembered, "the absence was never answered from memory")
            try await location.withStore(logger: Logger(label: "other-process")) { other in
                try await other.insertKey(APIKey(
                    id: token.keyID, workspaceID: ws.workspace.id, name: "made elsewhere", description: nil, scope: .read,
                    secretHash: SecretHash(secret: token.secret), serviceAccountID: nil, createdAt: .now(), createdBy: "cli", expiresAt: nil
                ))
            }
            let (stillRefused, _, _) = try await client.call(.get, "/v1/auth/whoami", token: token.bearer)
            #expect(stillRefused == .unauthorized, "the absence is trusted while it is fresh: no lookup per request")
            clock.advance(seconds: 31)
            let accepted = try await eventually(timeout: .seconds(10)) {
                try await client.call(.get, "/v1/auth/whoami", token: token.bearer).status == .ok
            }
            #expect(accepted, "a key stayed refused by the negative cache past the absence's lifetime")
        }
    }

    @Test(arguments: Backend.available)
    func aKeyCreatedThroughTheAPIIsAcceptedAtOnceAfterItsIdWasRefused(_ backend: Backend) async throws {
        try await withApp(backend, configure: { $0.changePollInterval = .seconds(3600) }) { client, ws in
            // No feed poll will come to the rescue: the create path itself must forget the absence.
            let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "fresh"}"#)
            #expect(created["id"].string != nil)
            let (status, _, _) = try await client.call(.get, "/v1/auth/whoami", token: token)
            #expect(status == .ok)
        }
    }

    @Test func unsupportedMethodsGet405WithAllow() async throws {
        try await withApp(.sqlite) { client, ws in
            let (trace, json, response) = try await client.call(.init("TRACE")!, "/v1/api-keys", token: ws.adminToken)
            #expect(trace == .methodNotAllowed)
            expectErrorShape(json, status: .methodNotAllowed)
            #expect(response.headers[.allow] == "GET, HEAD, POST")
            let (put, _, putResponse) = try await client.call(.put, "/v1/api-keys/\(ws.adminKeyID)", token: ws.adminToken, body: "{}")
            #expect(put == .methodNotAllowed)
            #expect(putResponse.headers[.allow] == "DELETE, GET, HEAD, PATCH")
            // A literal segment wins over a capture, as in the router.
            let (batch, _, batchResponse) = try await client.call(.options, "/v1/api-keys/batch", token: ws.adminToken)
            #expect(batch == .methodNotAllowed)
            #expect(batchResponse.headers[.allow] == "POST")
            let (missing, _, _) = try await client.call(.get, "/v1/no-such-thing", token: ws.adminToken)
            #expect(missing == .notFound)
        }
    }

    @Test(arguments: [
        "\u{202E}evil",        // right-to-left override
        "zero\u{200B}width",   // zero-width space
        "line\u{2028}break",   // line separator
        "para\u{2029}graph",   // paragraph separator
        "bom\u{FEFF}",         // zero-width no-break space
        String(repeating: "\u{1F600}", count: 201),  // 201 characters
        String(repeating: "e\u{301}", count: 101),  // 101 characters as a person counts them, but 202 code points
    ])
    func namesWithInvisibleOrTooManyCharactersAreRefused(_ name: String) async throws {
        try await withApp(.sqlite) { client, ws in
            let body = try String(decoding: JSONSerialization.data(withJSONObject: ["name": name]), as: UTF8.self)
            let (status, json, _) = try await client.call(.post, "/v1/api-keys", token: ws.adminToken, body: body)
            #expect(status == .badRequest)
            expectErrorShape(json, status: .badRequest)
            let (renamed, _, _) = try await client.call(.patch, "/v1/api-keys/\(ws.adminKeyID)", token: ws.adminToken, body: body)
            #expect(renamed == .badRequest)
            let (_, list, _) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(list["meta"]["total"].int == 1, "a refused create changed nothing")
            #expect(list["data"][0]["name"].string == "admin")
        }
    }

    @Test func descriptionsHaveAByteLimitAndRefuseFormatCharacters() async throws {
        try await withApp(.sqlite) { client, ws in
            for description in [String(repeating: "\u{1F600}", count: 1001), String(repeating: "\u{1F600}", count: 1000) + "e\u{301}", "hidden\u{200D}joiner"] {
                let body = try String(decoding: JSONSerialization.data(withJSONObject: ["name": "x", "description": description]), as: UTF8.self)
                let (status, _, _) = try await client.call(.post, "/v1/api-keys", token: ws.adminToken, body: body)
                #expect(status == .badRequest)
            }
            let (ok, _, _) = try await client.call(.post, "/v1/api-keys", token: ws.adminToken,
                                                   body: #"{"name": "x", "description": "two\nlines\tand a tab"}"#)
            #expect(ok == .created)
        }
    }

    @Test func aSearchLongerThan200CharactersIs400() async throws {
        try await withApp(.sqlite) { client, ws in
            let (long, json, _) = try await client.call(.get, "/v1/api-keys?search=\(String(repeating: "a", count: 201))", token: ws.adminToken)
            #expect(long == .badRequest)
            expectErrorShape(json, status: .badRequest)
            let (fine, _, _) = try await client.call(.get, "/v1/api-keys?search=\(String(repeating: "a", count: 200))", token: ws.adminToken)
            #expect(fine == .ok)
        }
    }

    @Test func responsesThatCarryASecretAreNotStored() async throws {
        try await withApp(.sqlite, configure: { $0.allowPrivateWebhookTargets = true }) { client, ws in
            let (status, _, response) = try await client.call(.post, "/v1/api-keys", token: ws.adminToken, body: #"{"name": "cached?"}"#)
            #expect(status == .created)
            #expect(response.headers[.cacheControl] == "no-store")
            let (hook, _, hookResponse) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "http://127.0.0.1:9/hook"}"#)
            #expect(hook == .created)
            #expect(hookResponse.headers[.cacheControl] == "no-store")
            let (list, _, listResponse) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(list == .ok && listResponse.headers[.cacheControl] == nil, "only responses with a secret")
        }
    }

    /// Key ids are not secret: whoever knows one cannot count its `wrong_secret` up past the address's budget
    /// of failures; past it the answer is 429, counted nowhere.
    @Test(arguments: Backend.available)
    func wrongSecretsForAKnownIdCostTheAddressItsBudget(_ backend: Backend) async throws {
        try await withApp(backend, configure: { $0.lookupBudget = 5; $0.lookupWindow = .seconds(3600) }) { client, ws in
            let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "target"}"#)
            let id = try #require(created["id"].string)
            #expect(try await client.call(.get, "/v1/auth/whoami", token: token).status == .ok)
            // A well-formed token (its checksum right) for the known id, with a secret that is not the key's.
            let body = "ks_" + String(repeating: "A", count: 32)
            let guess = id + ":" + body + Base62.encode(CRC32.checksum(Array((id + ":" + body).utf8)), width: 6)
            #expect(APIKeyToken(bearer: Substring(guess)) != nil)
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<30 { statuses.append(try await client.call(.get, "/v1/auth/whoami", token: guess).status) }
            #expect(statuses.prefix(5).allSatisfy { $0 == .unauthorized } && statuses.dropFirst(5).allSatisfy { $0 == .tooManyRequests }, "\(statuses)")
            // Read from the store: this address has spent its budget, so its own requests for keys the cache
            // has not loaded yet are 429 too (the cache may not have had its first feed poll).
            let seen = Mutex(-1)
            let counted = try await eventually {
                let counts = try await ws.store.usageCounts(keyID: id, from: Timestamp(milliseconds: 0), to: Timestamp.now().adding(milliseconds: 3_600_000))
                let sum = counts.filter { $0.outcome == .wrongSecret }.reduce(0) { $0 + $1.count }
                seen.withLock { $0 = sum }
                return sum >= 5
            }
            #expect(counted && seen.withLock { $0 } == 5, "wrong_secret counts the five refusals the budget allowed, not thirty: \(seen.withLock { $0 })")
        }
    }
}
