import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// One tenant's receiver or backlog never holds up another's deliveries, and quotas bound what one can queue.
///
/// Bounded in time: these tests stall receivers on purpose, and one that never came back (a stalled
/// shutdown, say) fails here, named, instead of holding up the whole run.
@Suite(.serialized, .timeLimit(.minutes(3))) struct WebhookFairnessTests {
    static func hostileTenants(deadline: Duration) -> (inout ServerOptions) -> Void {
        { options in
            WebhookTests.fastWebhooks(&options)
            options.webhookTimeout = deadline
            options.webhookRetrySchedule = [.zero, .seconds(60)]
            options.webhookQuotas.testEventsPerWindow = 1_000_000
        }
    }

    /// A receiver sends its head and stalls mid-body: each send ends at the deadline, as a timeout (slot
    /// released), another endpoint's deliveries arrive meanwhile, and shutdown waits for no more than the
    /// sends' deadline. Nothing here depends on the machine's speed: the bounds are cut-offs for a hang.
    @Test(arguments: Backend.available)
    func aReceiverThatStallsMidBodyHoldsUpNobody(_ backend: Backend) async throws {
        let stalling = try await StallingReceiver()
        let inbox = WebhookInbox()
        let deadline = Duration.seconds(3)
        let shutdown = try await withWebhookReceiver(inbox) { url in
            let ended = try await withApp(backend, configure: Self.hostileTenants(deadline: deadline)) { client, ws in
                let (_, bad, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken,
                                                        body: #"{"url": "\#(stalling.url)", "events": ["api_key.revoked"]}"#)
                let (_, good, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken,
                                                         body: #"{"url": "\#(url)", "events": ["api_key.created"]}"#)
                guard let badID = bad["id"].string, good["id"].string != nil else {
                    Issue.record("cannot create the webhooks")
                    return ContinuousClock.now
                }
                for _ in 0..<8 { _ = try await client.call(.post, "/v1/webhooks/\(badID)/test", token: ws.adminToken) }
                #expect(try await eventually(timeout: .seconds(30)) { stalling.requestCount >= 4 }, "the stalling receiver holds 4 sends")
                // Three rounds of good deliveries while the bad endpoint keeps stalling.
                for round in 1...3 {
                    let sent = ContinuousClock.now
                    _ = try await client.createKey(ws.adminToken, #"{"name": "round \#(round)"}"#)
                    let got = try await inbox.wait(for: round, type: "api_key.created", timeout: .seconds(30))
                    print("round \(round) arrived after \(ContinuousClock.now - sent)")
                    #expect(got.count == round)
                }
                // Every stalled send ended at the deadline, as a timeout, and freed its slot for the next.
                #expect(try await eventually(timeout: .seconds(60)) {
                    try await ws.store.deliveryAttempts(webhookID: badID, limit: 20).count >= 8
                })
                let attempts = try await ws.store.deliveryAttempts(webhookID: badID, limit: 20)
                #expect(attempts.allSatisfy { $0.error == "timed out" }, "\(attempts.map(\.error))")
                #expect(attempts.allSatisfy { $0.durationMilliseconds >= deadline.milliseconds - 5 }, "\(attempts.map(\.durationMilliseconds))")
                #expect(stalling.peakInFlight <= 4, "at most 4 in flight for one endpoint: \(stalling.peakInFlight)")
                // Leave sends in flight for the shutdown.
                for _ in 0..<4 { _ = try await client.call(.post, "/v1/webhooks/\(badID)/test", token: ws.adminToken) }
                _ = try await eventually(timeout: .seconds(30)) { stalling.requestCount >= 12 }
                return ContinuousClock.now
            }
            return ContinuousClock.now - ended
        }
        print("graceful shutdown with sends stalled in flight took \(shutdown)")
        // Without the deadline the stalled sends would never end, nor would the shutdown.
        #expect(shutdown < .seconds(60), "graceful shutdown took \(shutdown)")
        await stalling.close()
    }

    /// A backlog of queued test events for endpoint A does not delay a delivery for endpoint B, and A never
    /// has more than 4 sends in flight (counted as the receiver's open requests, not as requests ever made).
    @Test(arguments: Backend.available)
    func oneEndpointsBacklogDoesNotDelayAnother(_ backend: Backend) async throws {
        let stalling = try await StallingReceiver()
        let inbox = WebhookInbox()
        try await withWebhookReceiver(inbox) { url in
            // A's sends outlast the test, so none ends and frees its slot while it runs, however slow the machine.
            try await withApp(backend, configure: Self.hostileTenants(deadline: .seconds(120))) { client, ws in
                let (_, a, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken,
                                                      body: #"{"url": "\#(stalling.url)", "events": ["api_key.revoked"]}"#)
                _ = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)", "events": ["api_key.created"]}"#)
                guard let aID = a["id"].string else { Issue.record("cannot create endpoint A"); return }
                let backlog = 500
                for _ in 0..<backlog {
                    try await ws.store.enqueue(WebhookEvent.test(webhookID: aID, workspaceID: ws.workspace.id), onlyTo: aID)
                }
                #expect(try await eventually(timeout: .seconds(30)) { stalling.inFlight >= 4 }, "A's first sends are stalled")
                let sent = ContinuousClock.now
                _ = try await client.createKey(ws.adminToken, #"{"name": "for B"}"#)
                let got = try await inbox.wait(for: 1, type: "api_key.created", timeout: .seconds(60))
                print("B's delivery arrived \(ContinuousClock.now - sent) after the key was created, behind \(backlog) for A")
                #expect(got.count == 1)
                #expect(stalling.requestCount == stalling.inFlight, "every send to A is still stalled: B did not wait for one to end")
                #expect(stalling.peakInFlight == 4, "A never has more than 4 in flight: \(stalling.peakInFlight)")
                await stalling.close()
            }
        }
    }

    /// Tenant A's 10 endpoints all stall with events due; tenant B's events all arrive while every one of A's
    /// sends is still stalled, because A never holds more than its share of the send slots.
    @Test(arguments: Backend.available)
    func oneTenantsStalledReceiversDoNotHoldUpAnother(_ backend: Backend) async throws {
        let stalling = try await StallingReceiver()
        let inbox = WebhookInbox()
        try await withWebhookReceiver(inbox) { url in
            try await withApp(backend, configure: Self.hostileTenants(deadline: .seconds(120))) { client, a in
                let (_, _, other) = try await KeyIssuer(store: a.store).createWorkspace(named: "tenant B")
                let b = other.bearer
                for index in 0..<10 {
                    let (status, _, _) = try await client.call(.post, "/v1/webhooks", token: a.adminToken,
                                                               body: #"{"url": "\#(stalling.url)/\#(index)", "events": ["api_key.created"]}"#)
                    #expect(status == .created)
                }
                let keys = try BatchCreateTests.body((0..<10).map { ["name": "A \($0)"] })
                #expect(try await client.call(.post, "/v1/api-keys/batch", token: a.adminToken, body: keys).status == .created)
                // A alone takes what one workspace may hold, keeping a share back for whoever comes next.
                let share = DeliverySlots(total: 32).share(active: 1)
                #expect(try await eventually(timeout: .seconds(30)) { stalling.inFlight >= share }, "A's sends are stalled")

                #expect(try await client.call(.post, "/v1/webhooks", token: b, body: #"{"url": "\#(url)", "events": ["api_key.created"]}"#).status == .created)
                let created = ContinuousClock.now
                let bKeys = try BatchCreateTests.body((0..<10).map { ["name": "B \($0)"] })
                #expect(try await client.call(.post, "/v1/api-keys/batch", token: b, body: bKeys).status == .created)
                // A's sends end only at their 120 s deadline: B's events arrive well before, or not at all.
                let got = try await inbox.wait(for: 10, type: "api_key.created", timeout: .seconds(60))
                print("B's 10 events arrived within \(ContinuousClock.now - created) of B's creates, with A's \(stalling.inFlight) sends stalled")
                #expect(got.count == 10)
                #expect(stalling.requestCount == stalling.inFlight, "every send to A is still stalled: B did not wait for one to end")
                #expect(stalling.peakInFlight == share, "A never held more than its share: \(stalling.peakInFlight)")
                await stalling.close()
            }
        }
    }

    /// A finished send claims the next at once: with no poll to help (it is an hour), one batch's poke is
    /// enough for all of a backlog to drain through the endpoint's 4 slots.
    @Test(arguments: Backend.available)
    func aFinishedSendMakesRoomForTheNextAtOnce(_ backend: Backend) async throws {
        let inbox = WebhookInbox()
        try await withWebhookReceiver(inbox) { url in
            try await withApp(backend, configure: { options in
                WebhookTests.fastWebhooks(&options)
                options.webhookPollInterval = .seconds(3600)
            }) { client, ws in
                #expect(try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)", "events": ["api_key.created"]}"#).status == .created)
                let count = 200
                let keys = try BatchCreateTests.body((0..<count).map { ["name": "key \($0)"] })
                let created = ContinuousClock.now
                #expect(try await client.call(.post, "/v1/api-keys/batch", token: ws.adminToken, body: keys).status == .created)
                let got = try await inbox.wait(for: count, type: "api_key.created", timeout: .seconds(60))
                print("\(got.count) events arrived in \(ContinuousClock.now - created)")
                #expect(got.count == count)
                #expect(Set(got.compactMap { $0.json["data"]["name"].string }).count == count, "each once")
            }
        }
    }

    @Test(arguments: Backend.available)
    func aWorkspaceMayHaveTwentyEndpoints(_ backend: Backend) async throws {
        try await withApp(backend, configure: WebhookTests.fastWebhooks) { client, ws in
            for index in 0..<20 {
                let (status, _, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "http://127.0.0.1:9/\#(index)"}"#)
                #expect(status == .created)
            }
            let (status, json, response) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "http://127.0.0.1:9/21"}"#)
            #expect(status == .tooManyRequests)
            expectErrorShape(json, status: .tooManyRequests)
            #expect(Int(response.headers[.retryAfter] ?? "") != nil)
            let (_, list, _) = try await client.call(.get, "/v1/webhooks", token: ws.adminToken)
            #expect(list["meta"]["total"].int == 20)
        }
    }

    @Test(arguments: Backend.available)
    func aWorkspaceMaySendTenTestEventsAMinute(_ backend: Backend) async throws {
        try await withApp(backend, configure: { options in
            WebhookTests.fastWebhooks(&options)
            options.webhookRetrySchedule = [.zero]
        }) { client, ws in
            let (_, hook, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "http://127.0.0.1:9/hook"}"#)
            guard let id = hook["id"].string else { Issue.record("cannot create the webhook"); return }
            for _ in 0..<10 {
                let (status, _, _) = try await client.call(.post, "/v1/webhooks/\(id)/test", token: ws.adminToken)
                #expect(status == .accepted)
            }
            let (status, json, response) = try await client.call(.post, "/v1/webhooks/\(id)/test", token: ws.adminToken)
            #expect(status == .tooManyRequests)
            expectErrorShape(json, status: .tooManyRequests)
            let retryAfter = Int(response.headers[.retryAfter] ?? "") ?? 0
            #expect((1...60).contains(retryAfter), "Retry-After: \(retryAfter)")
            // The refused one queued nothing: ten events, one attempt each.
            _ = try await eventually { try await ws.store.deliveryAttempts(webhookID: id, limit: 50).count >= 10 }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await ws.store.deliveryAttempts(webhookID: id, limit: 50).count == 10)
        }
    }
}
