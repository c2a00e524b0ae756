import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import Keysmith

/// `last_used_at`, `last_used_ip`, `last_used_user_agent`: recorded in memory, flushed in batches.
@Suite struct UsageRecordingTests {
    @Test(arguments: Backend.available)
    func lastUseIsVisibleInTheListWithinTwoSeconds(_ backend: Backend) async throws {
        try await withApp(backend, framework: .live, configure: { $0.usageFlushInterval = .seconds(1) }) { client, ws in
            let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "used", "scope": "read"}"#)
            let id = try #require(created["id"].string)
            let usedAt = Timestamp.now()
            let (status, _, _) = try await client.call(.get, "/v1/auth/whoami", token: token, headers: [.userAgent: "acme-crm/2.1"])
            #expect(status == .ok)

            // Flushed once a second; allow a loaded test machine a second more than the documented two.
            let visible = try await eventually { try await ws.store.key(id: id)?.lastUsed != nil }
            #expect(visible, "last use not written")
            let (_, listed, _) = try await client.call(.get, "/v1/api-keys/\(id)", token: ws.adminToken)
            let lastUsed = try #require(listed["last_used_at"].string.flatMap(Timestamp.init(iso8601:)))
            #expect(lastUsed >= usedAt && lastUsed <= Timestamp.now())
            #expect(listed["last_used_ip"].string == "127.0.0.1")
            #expect(listed["last_used_user_agent"].string == "acme-crm/2.1")
        }
    }

    @Test(arguments: Backend.available)
    func requestsWriteNothingUntilTheFlush(_ backend: Backend) async throws {
        try await withApp(backend, configure: { $0.usageFlushInterval = .seconds(3600) }) { client, ws in
            for _ in 0..<5 {
                let (status, _, _) = try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken)
                #expect(status == .ok)
            }
            #expect(try await ws.store.key(id: ws.adminKeyID)?.lastUsed == nil, "nothing written on the request path")
        }
    }

    @Test(arguments: Backend.available)
    func storedLastUseNeverGoesBackwards(_ backend: Backend) async throws {
        try await withApp(backend) { _, ws in
            let later = Timestamp.now()
            let earlier = later.adding(milliseconds: -60_000)
            try await ws.store.recordUsage([ws.adminKeyID: KeyUsage(at: later, ip: "10.0.0.2", userAgent: "b")])
            try await ws.store.recordUsage([ws.adminKeyID: KeyUsage(at: earlier, ip: "10.0.0.1", userAgent: "a")])
            let stored = try #require(try await ws.store.key(id: ws.adminKeyID))
            #expect(stored.lastUsed == KeyUsage(at: later, ip: "10.0.0.2", userAgent: "b"))
        }
    }

    @Test func pendingUsageIsFlushedOnGracefulShutdown() async throws {
        let location = Backend.sqlite.freshLocation()
        let keyID = try await withApp(.sqlite, location: location, configure: { $0.usageFlushInterval = .seconds(3600) }) { client, ws in
            let (status, _, _) = try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken)
            #expect(status == .ok)
            return ws.adminKeyID
        }
        let stored = try await location.withStore(logger: .init(label: "reopen")) { store in try await store.key(id: keyID) }
        #expect(stored?.lastUsed != nil)
    }

    @Test func forwardedForIsBelievedOnlyFromATrustedProxy() async throws {
        let header = HTTPField.Name("X-Forwarded-For")!
        try await withApp(.sqlite, framework: .live, configure: { $0.trustedProxies = TrustedProxies([IPRange("127.0.0.0/8")!]) }) { client, ws in
            // The right-most entry that is not a trusted proxy is the client; the proxy's own hop is skipped.
            let (_, me, _) = try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken,
                                                   headers: [header: "203.0.113.9, 198.51.100.7, 127.0.0.5"])
            #expect(me["key"]["last_used_ip"].string == "198.51.100.7")
            // A value that is not an IP address is not believed: the peer's address is recorded.
            let (_, forged, _) = try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken,
                                                       headers: [header: "<script>, evil.example"])
            #expect(forged["key"]["last_used_ip"].string == "127.0.0.1")
        }
        // No trusted proxy configured (the default): the header is ignored, whoever sends it.
        try await withApp(.sqlite, framework: .live) { client, ws in
            let (_, me, _) = try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken, headers: [header: "203.0.113.9"])
            #expect(me["key"]["last_used_ip"].string == "127.0.0.1")
        }
        // Trusting some other proxy does not make loopback's header believed.
        try await withApp(.sqlite, framework: .live, configure: { $0.trustedProxies = TrustedProxies([IPRange("10.0.0.0/8")!]) }) { client, ws in
            let (_, me, _) = try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken, headers: [header: "203.0.113.9"])
            #expect(me["key"]["last_used_ip"].string == "127.0.0.1")
        }
    }
}
