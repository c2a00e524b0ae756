import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// Per-key rate limits through the real application (`rate_limit`), on every `/v1` route.
@Suite struct RateLimitTests {
    static let tooManyRequestsBody = #"{"statusCode":429,"message":"Too Many Requests","error":"Too Many Requests"}"#
    static let limitHeader = HTTPField.Name("RateLimit-Limit")!
    static let remainingHeader = HTTPField.Name("RateLimit-Remaining")!
    static let resetHeader = HTTPField.Name("RateLimit-Reset")!

    /// A key of the test's workspace with `limit`, stored directly (as the API would).
    static func limitedKey(_ ws: TestWorkspace, _ limit: RateLimit, scope: Scope = .read) async throws -> String {
        let (_, token) = try await KeyIssuer(store: ws.store).issue(.init(
            workspaceID: ws.workspace.id, name: "limited", scope: scope, createdBy: ws.adminKeyID, rateLimit: limit))
        return token.bearer
    }

    @Test(arguments: Backend.available)
    func theSixthRequestWithinTheWindowIs429WithRetryAfterAndTheExactBody(_ backend: Backend) async throws {
        // On a standing clock: six requests on a loaded machine can take longer than the 2 s window.
        let clock = TestClock(frozen: true)
        try await withApp(backend, configure: { $0.clock = clock.now }) { client, ws in
            let token = try await Self.limitedKey(ws, RateLimit(limit: 5, windowSeconds: 2))
            for n in 0..<5 {
                let (status, _, response) = try await client.call(.get, "/v1/auth/whoami", token: token)
                #expect(status == .ok, "request \(n + 1)")
                #expect(response.headers[Self.limitHeader] == "5")
                #expect(response.headers[Self.remainingHeader] == String(4 - n))
                #expect((1...3).contains(Int(response.headers[Self.resetHeader] ?? "") ?? 0))
            }
            let (status, _, response) = try await client.call(.get, "/v1/auth/whoami", token: token)
            #expect(status == .tooManyRequests)
            #expect(String(buffer: response.body) == Self.tooManyRequestsBody)
            let retryAfter = try #require(Int(response.headers[.retryAfter] ?? ""))
            #expect((1...3).contains(retryAfter), "the first requests leave the 2 s window within 2.2 s")
            #expect(response.headers[Self.limitHeader] == "5")
            #expect(response.headers[Self.remainingHeader] == "0")
            #expect(response.headers[Self.resetHeader] == String(retryAfter))
            // Other keys are not affected.
            let (adminStatus, _, adminResponse) = try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken)
            #expect(adminStatus == .ok)
            #expect(adminResponse.headers[Self.limitHeader] == nil, "a key without a limit carries no RateLimit headers")
        }
    }

    /// Counts are kept in tenths of the window, so the last request leaves up to a tenth later than itself;
    /// the headers still never name a wait longer than the window (a 30 s window said `Retry-After: 31`).
    @Test(arguments: Backend.available)
    func retryAfterAndResetNeverExceedTheWindow(_ backend: Backend) async throws {
        let clock = TestClock(frozen: true)
        try await withApp(backend, configure: { $0.clock = clock.now }) { client, ws in
            let token = try await Self.limitedKey(ws, RateLimit(limit: 3, windowSeconds: 30))
            for n in 0..<3 {
                let (status, _, response) = try await client.call(.get, "/v1/auth/whoami", token: token)
                #expect(status == .ok, "request \(n + 1)")
                let reset = try #require(Int(response.headers[Self.resetHeader] ?? ""))
                #expect((1...30).contains(reset), "RateLimit-Reset \(reset) for a 30 s window")
            }
            for step in [0.0, 0.9, 10, 18.5] {
                clock.advance(seconds: step)
                let (status, _, response) = try await client.call(.get, "/v1/auth/whoami", token: token)
                #expect(status == .tooManyRequests)
                let retryAfter = try #require(Int(response.headers[.retryAfter] ?? ""))
                #expect((1...30).contains(retryAfter), "Retry-After \(retryAfter) for a 30 s window")
                #expect(response.headers[Self.resetHeader] == String(retryAfter))
            }
            clock.advance(seconds: 3.7)  // 33.1 s after the three: their tenth of the window has left it
            #expect(try await client.call(.get, "/v1/auth/whoami", token: token).status == .ok)
        }
    }

    @Test(arguments: Backend.available)
    func theWindowSlides(_ backend: Backend) async throws {
        let clock = TestClock(frozen: true)
        try await withApp(backend, configure: { $0.clock = clock.now }) { client, ws in
            let token = try await Self.limitedKey(ws, RateLimit(limit: 5, windowSeconds: 2))
            for _ in 0..<5 { #expect(try await client.call(.get, "/v1/auth/whoami", token: token).status == .ok) }
            clock.advance(seconds: 1)
            #expect(try await client.call(.get, "/v1/auth/whoami", token: token).status == .tooManyRequests, "the five are still in the window")
            // Bucket by bucket: the five leave once their tenth of the window (0.2 s; two, if they straddle
            // a boundary) is wholly out of it.
            clock.advance(seconds: 1.5)
            let (status, _, response) = try await client.call(.get, "/v1/auth/whoami", token: token)
            #expect(status == .ok)
            #expect(response.headers[Self.remainingHeader] == "4")
        }
    }

    /// Two applications on one PostgreSQL database, asked in turn: between them they serve the limit, give or
    /// take the one request each may serve before its first claim or leave unused in its last. Claims come
    /// with exchanges, which a loaded machine slows: the test waits for conditions (both instances counted
    /// live by each other, then the limit nearly served), never for a fixed time; all of it well inside the
    /// key's 60 s window.
    @Test(.enabled(if: Backend.available.contains(.postgres)))
    func twoInstancesOnOnePostgreSQLDatabaseShareALimit() async throws {
        let location = Backend.postgres.freshLocation()
        let keyFile = TemporaryFile.path(suffix: ".key")  // instances on one database share the webhook key
        try await withApp(.postgres, location: location, configure: { $0.encryptionKeyFile = keyFile }) { first, ws in
            let token = try await Self.limitedKey(ws, RateLimit(limit: 10, windowSeconds: 60))
            try await withApp(.postgres, location: location, configure: { $0.encryptionKeyFile = keyFile }) { second, _ in
                let store = try #require(ws.store as? SQLKeyStore)
                let database = store.database, dialect = store.dialect
                @Sendable func instances() async throws -> (live: Int, oldest: Int64, now: Int64) {
                    let row = try await database.first("""
                        SELECT count(*) AS n, min(seen_at) AS oldest, \(raw: dialect.now) AS now FROM rate_instances
                        WHERE seen_at > \(raw: dialect.now) - 3000
                        """)
                    return (row?.int("n") ?? 0, row?.integer("oldest") ?? 0, row?.integer("now") ?? 0)
                }
                // Each has seen the other live: both exchanged after a moment when both were.
                #expect(try await eventually(timeout: .seconds(30)) { try await instances().live == 2 })
                let bothLive = try await instances().now
                #expect(try await eventually(timeout: .seconds(30)) {
                    let seen = try await instances()
                    return seen.live == 2 && seen.oldest > bothLive
                }, "each instance exchanged after both were live")
                var served = 0
                var turn = 0
                func ask() async throws {
                    let (status, _, _) = try await (turn % 2 == 0 ? first : second).call(.get, "/v1/auth/whoami", token: token)
                    #expect(status == .ok || status == .tooManyRequests)
                    if status == .ok { served += 1 }
                    turn += 1
                    try await Task.sleep(for: .milliseconds(10))
                }
                let deadline = ContinuousClock.now + .seconds(40)
                while served < 9, ContinuousClock.now < deadline { try await ask() }
                // Past the limit: more asking, over several exchanges, serves at most the one in hand.
                for _ in 0..<60 { try await ask() }
                #expect((9...11).contains(served), "\(served) served of 10 in \(turn) requests")
            }
        }
    }

    @Test(arguments: Backend.available)
    func everyV1RouteCountsAndCarriesTheHeadersErrorsToo(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let token = try await Self.limitedKey(ws, RateLimit(limit: 3, windowSeconds: 60), scope: .admin)
            let (listed, _, listResponse) = try await client.call(.get, "/v1/api-keys", token: token)
            #expect(listed == .ok)
            #expect(listResponse.headers[Self.remainingHeader] == "2")
            let (missing, _, missingResponse) = try await client.call(.get, "/v1/api-keys/zzzzzzzzzzzzzz", token: token)
            #expect(missing == .notFound)
            #expect(missingResponse.headers[Self.remainingHeader] == "1")
            let (verified, _, verifyResponse) = try await client.call(.get, "/v1/auth/verify", token: token)
            #expect(verified == .ok)
            #expect(verifyResponse.headers[Self.remainingHeader] == "0")
            #expect(verifyResponse.headers[Self.limitHeader] == "3")
            for path in ["/v1/auth/verify", "/v1/api-keys", "/v1/webhooks"] {
                let (status, _, response) = try await client.call(.get, path, token: token)
                #expect(status == .tooManyRequests, "\(path)")
                #expect(String(buffer: response.body) == Self.tooManyRequestsBody, "\(path)")
                #expect(Int(response.headers[.retryAfter] ?? "").map { $0 >= 1 } == true, "\(path)")
            }
        }
    }
}
