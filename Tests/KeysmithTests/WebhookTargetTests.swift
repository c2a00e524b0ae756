import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import Keysmith

/// Where webhooks may go: the address tables, the refusal message, and connecting to the checked address.
@Suite struct WebhookTargetTests {
    static func isPublic(_ ip: String) -> Bool? {
        (try? SocketAddress(ipAddress: ip, port: 443)).map(WebhookTargetPolicy.isPublic)
    }

    @Test(arguments: [
        "0.1.2.3", "10.0.0.1", "100.64.0.1", "127.0.0.1", "168.63.129.16", "169.254.169.254", "172.16.0.1", "172.31.255.255",
        "192.0.0.8", "192.0.2.1", "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.51.100.1", "203.0.113.9", "224.0.0.1",
        "255.255.255.255",
        "::", "::1", "::127.0.0.1", "::8.8.8.8", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "100::1",
        "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::1", "2002::1", "2002:c0a8:101::1", "fc00::1", "fd12::1",
        "fe80::1", "fec0::1", "feff::1", "ff02::1",
    ])
    func nonPublicAddressesAreRefused(ip: String) {
        #expect(Self.isPublic(ip) == false, "\(ip)")
    }

    @Test(arguments: [
        "8.8.8.8", "1.1.1.1", "168.63.129.15", "168.63.129.17", "172.32.0.1", "192.88.98.255", "192.88.100.1", "100.128.0.1",
        "::ffff:8.8.8.8", "2001:4860:4860::8888", "2606:4700:4700::1111", "2001:1::1", "2003::1", "fbff::1", "fe00::1",
    ])
    func publicAddressesAreAllowed(ip: String) {
        #expect(Self.isPublic(ip) == true, "\(ip)")
    }

    /// The message says the URL is not allowed, and never which internal address the name resolved to.
    @Test(arguments: ["http://localhost:9/hook", "http://127.0.0.1:9/hook", "http://[::ffff:10.0.0.1]/hook", "http://[2002::1]/x"])
    func aRefusedURLDoesNotEchoTheResolvedAddress(url: String) async throws {
        try await withApp(.sqlite) { client, ws in
            let (status, json, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)"}"#)
            #expect(status == .badRequest)
            expectErrorShape(json, status: .badRequest)
            let message = json["message"].string ?? ""
            #expect(message.contains("not allowed"), "\(message)")
            for address in ["127.0.0.1", "::1", "10.0.0.1", "2002"] where !url.contains(address) {
                #expect(!message.contains(address), "\(message)")
            }
            let (_, list, _) = try await client.call(.get, "/v1/webhooks", token: ws.adminToken)
            #expect(list["meta"]["total"].int == 0)
        }
    }

    /// A host name is resolved by Keysmith, checked, and pinned: the request goes to that address with the
    /// URL's own host in the Host header.
    @Test(arguments: Backend.available)
    func aDeliveryToAHostNameKeepsItsHostHeader(_ backend: Backend) async throws {
        let receiver = try await StallingReceiver()
        let named = receiver.url.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        try await withApp(backend, configure: { options in
            WebhookTests.fastWebhooks(&options)
            options.webhookTimeout = .milliseconds(500)
        }) { client, ws in
            let (status, _, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(named)"}"#)
            #expect(status == .created)
            _ = try await client.createKey(ws.adminToken, #"{"name": "by name"}"#)
            #expect(try await eventually { receiver.requestCount >= 1 })
            let port = URLComponents(string: receiver.url)?.port ?? 0
            #expect(receiver.firstRequest.lowercased().contains("host: localhost:\(port)\r\n"), "\(receiver.firstRequest.prefix(300))")
        }
        await receiver.close()
    }

    /// Resolution is bounded per workspace: a workspace whose lookups hang fails its own further lookups at
    /// once, while another workspace's resolve, and an IP literal needs no lookup at all.
    @Test func resolutionIsBoundedPerWorkspace() async throws {
        let nameserver = TestNameserver()
        defer { nameserver.release() }
        nameserver.kill("hooks.a.test")
        let resolver = nameserver.resolver
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group throws in
            for _ in 0..<resolver.perWorkspace {
                group.addTask { _ = try? await resolver.resolve(host: "hooks.a.test", port: 80, workspaceID: "ws_a", timeout: .seconds(60)) }
            }
            #expect(try await eventually { nameserver.lookupsHanging == resolver.perWorkspace })
            // Past its bound, A's next lookup fails at once, not after the timeout.
            await #expect(throws: WebhookResolver.ResolutionFailed.busy) {
                _ = try await resolver.resolve(host: "other.a.test", port: 80, workspaceID: "ws_a", timeout: .seconds(60))
            }
            #expect(ContinuousClock.now - started < .seconds(30))
            let b = try? await resolver.resolve(host: "hooks.b.test", port: 8080, workspaceID: "ws_b", timeout: .seconds(30))
            #expect(b?.first?.ipAddress == "127.0.0.1" && b?.first?.port == 8080)
            let literal = try? await resolver.resolve(host: "::1", port: 80, workspaceID: "ws_a", timeout: .seconds(30))
            #expect(literal?.first?.ipAddress == "::1", "an IP literal is no lookup, so A's bound does not apply")
            nameserver.release()
        }
        #expect(try await eventually { resolver.pendingCount == 0 }, "a released lookup gives its place back")
        #expect(nameserver.peakLookupsHanging == resolver.perWorkspace)
    }

    /// One tenant's nameserver stops answering: its own webhook creations fail, every other tenant's
    /// creations and deliveries go on, on a resolver that counts each tenant's pending lookups apart.
    @Test(arguments: Backend.available)
    func aTenantsDeadNameserverFailsNoOtherTenantsWebhooks(_ backend: Backend) async throws {
        let nameserver = TestNameserver()
        defer { nameserver.release() }
        let inbox = WebhookInbox()
        try await withWebhookReceiver(inbox) { url in
            let port = URLComponents(string: url)?.port ?? 0
            try await withApp(backend, configure: { options in
                WebhookTests.fastWebhooks(&options)
                options.webhookResolver = nameserver.resolver
            }) { client, a in
                // A's endpoints are registered while its nameserver answers; then it stops answering, with A's events due.
                for index in 0..<3 {
                    let (status, _, _) = try await client.call(.post, "/v1/webhooks", token: a.adminToken,
                                                               body: #"{"url": "http://hooks.tenant-a.test:\#(port)/hook/\#(index)"}"#)
                    #expect(status == .created)
                }
                nameserver.kill("hooks.tenant-a.test")
                let keys = try BatchCreateTests.body((0..<10).map { ["name": "A \($0)"] })
                #expect(try await client.call(.post, "/v1/api-keys/batch", token: a.adminToken, body: keys).status == .created)
                #expect(try await eventually(timeout: .seconds(30)) { nameserver.lookupsHanging >= 4 }, "A's deliveries hang in resolution")
                let refused = try await client.call(.post, "/v1/webhooks", token: a.adminToken, body: #"{"url": "http://hooks.tenant-a.test/more"}"#)
                #expect(refused.status == .badRequest && refused.json["message"].string?.contains("does not resolve") == true)

                let (_, _, other) = try await KeyIssuer(store: a.store).createWorkspace(named: "tenant B")
                let (status, _, _) = try await client.call(.post, "/v1/webhooks", token: other.bearer,
                                                           body: #"{"url": "http://hooks.tenant-b.test:\#(port)/hook"}"#)
                #expect(status == .created, "B's webhook host resolves while A's lookups hang")
                _ = try await client.createKey(other.bearer, #"{"name": "for B"}"#)
                let got = try await inbox.wait(for: 1, type: "api_key.created", timeout: .seconds(30))
                #expect(got.first?.json["data"]["name"].string == "for B")
                #expect(nameserver.lookupsHanging >= 4, "B got through while A's lookups were still hanging")
                #expect(nameserver.peakLookupsHanging <= 4, "A never had more than its 4 lookups pending")
                nameserver.release()
            }
        }
    }
}
