import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Prometheus
import Testing

@testable import Keysmith

/// Made-up key ids from many client addresses (through a trusted proxy's `X-Forwarded-For`): the instance's
/// total budget of lookups holds, IPv6 networks beyond the address table are counted by wider prefixes,
/// and the absences they leave never push a known key out of memory. On a standing clock, with a window of
/// an hour, so the counts are exact whatever the machine's speed.
@Suite struct UnknownKeyFloodTests {
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    static func flood(_ options: inout ServerOptions, _ clock: TestClock) {
        options.clock = clock.now
        options.lookupWindow = .seconds(3600)
        options.trustedProxies = TrustedProxies([IPRange("127.0.0.0/8")!, IPRange("::1/128")!])
    }

    /// A made-up token from `address`: its status, and the response.
    static func unknown(_ client: any TestClientProtocol, from address: String) async throws -> (HTTPResponse.Status, JSON, TestResponse) {
        try await client.call(.get, "/v1/auth/whoami", token: HostileClientTests.madeUpToken(), headers: [forwardedFor: address])
    }

    static let keyHits = ("keysmith_key_cache_hits_total", ["entry": "key"])

    /// Until the change feed's first poll the cache keeps nothing: asks with the key until it is served from memory.
    static func untilCached(_ token: String, _ client: any TestClientProtocol, _ registry: PrometheusCollectorRegistry) async throws {
        let cached = try await eventually {
            let before = PrometheusSamples(registry.emitToString())[keyHits.0, keyHits.1] ?? 0
            let status = try await client.call(.get, "/v1/auth/whoami", token: token).status
            #expect(status == .ok)
            return (PrometheusSamples(registry.emitToString())[keyHits.0, keyHits.1] ?? 0) > before
        }
        #expect(cached, "the key was never served from memory")
    }

    @Test(arguments: Backend.available)
    func theInstanceBudgetRefusesAcrossManyAddresses(_ backend: Backend) async throws {
        let clock = TestClock(frozen: true)
        let registry = PrometheusCollectorRegistry()
        try await withApp(backend, framework: .live, configure: {
            Self.flood(&$0, clock)
            $0.lookupBudget = 20
            $0.unknownKeyLookups = 5
            $0.metricsRegistry = registry
        }) { client, ws in
            try await Self.untilCached(ws.adminToken, client, registry)
            // Ten addresses, one made-up id each: every address is far within its own budget of 20.
            var statuses: [HTTPResponse.Status] = []
            for n in 1...10 {
                let (status, json, response) = try await Self.unknown(client, from: "10.9.0.\(n)")
                statuses.append(status)
                if status == .tooManyRequests {
                    expectErrorShape(json, status: .tooManyRequests)
                    #expect((1...3600).contains(Int(response.headers[.retryAfter] ?? "") ?? 0))
                }
            }
            #expect(statuses == Array(repeating: .unauthorized, count: 5) + Array(repeating: .tooManyRequests, count: 5), "\(statuses)")
            // A key in memory is never affected, from any address.
            let (still, _, _) = try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken, headers: [Self.forwardedFor: "10.9.0.99"])
            #expect(still == .ok)
        }
    }

    @Test(arguments: Backend.available)
    func ipv6NetworksBeyondTheTableAreCountedByWiderPrefixes(_ backend: Backend) async throws {
        let clock = TestClock(frozen: true)
        try await withApp(backend, framework: .live, configure: {
            Self.flood(&$0, clock)
            $0.lookupBudget = 1  // a /48 or /32 beyond the table, or the overflow: 10
            $0.lookupAddresses = 20  // and two networks of each length
        }) { client, _ throws in
            func statuses(_ addresses: [String]) async throws -> [HTTPResponse.Status] {
                var result: [HTTPResponse.Status] = []
                for address in addresses { result.append(try await Self.unknown(client, from: address).0) }
                return result
            }
            let refused = HTTPResponse.Status.tooManyRequests, unknown = HTTPResponse.Status.unauthorized
            #expect(try await statuses((1...20).map { "10.8.0.\($0)" }).allSatisfy { $0 == unknown }, "the table fills")
            // Eleven /64s of one /48: the /48 has ten.
            #expect(try await statuses((1...11).map { "2001:db8:1:\($0)::1" }) == Array(repeating: unknown, count: 10) + [refused])
            // Another /48 has its own, though the first spent its budget and every address shares nothing.
            #expect(try await statuses(["2001:db8:2:1::1"]) == [unknown])
            // The table of /48s is full: the next /48 counts by its /32.
            #expect(try await statuses((1...11).map { "2001:db8:3:\($0)::1" }) == Array(repeating: unknown, count: 10) + [refused])
            #expect(try await statuses(["2001:db9:4:1::1"]) == [unknown], "another /32")
            // IPv4 beyond the table: one shared overflow, untouched so far.
            #expect(try await statuses((21...31).map { "10.8.0.\($0)" }) == Array(repeating: unknown, count: 10) + [refused])
        }
    }

    @Test(arguments: Backend.available)
    func aFloodOfUnknownIdsNeverEvictsAKnownKey(_ backend: Backend) async throws {
        let clock = TestClock(frozen: true)
        let registry = PrometheusCollectorRegistry()
        try await withApp(backend, framework: .live, configure: {
            Self.flood(&$0, clock)
            $0.metricsRegistry = registry
            $0.cacheMemory = 16 << 10  // about a dozen keys; absences get 2 KiB of their own, about nine
            $0.unknownKeyLookups = 10_000
        }) { client, ws in
            @Sendable func samples() -> PrometheusSamples { PrometheusSamples(registry.emitToString()) }
            let keyHits = Self.keyHits
            let found = ("keysmith_key_cache_queries_total", ["result": "found"])
            try await Self.untilCached(ws.adminToken, client, registry)
            var statuses: [HTTPResponse.Status] = []
            for n in 0..<200 { statuses.append(try await Self.unknown(client, from: "10.7.\(n / 256).\(n % 256)").0) }
            #expect(statuses.allSatisfy { $0 == .unauthorized }, "\(Set(statuses))")
            #expect(samples()["keysmith_key_cache_queries_total", ["result": "absent"]] ?? 0 >= 200)
            let before = samples()
            #expect(try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken).status == .ok)
            let after = samples()
            #expect((after[keyHits.0, keyHits.1] ?? 0) == (before[keyHits.0, keyHits.1] ?? 0) + 1, "served from memory")
            #expect(after[found.0, found.1] == before[found.0, found.1], "no database read for the known key")
        }
    }
}
