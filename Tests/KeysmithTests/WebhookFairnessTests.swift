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

    /// A receiver sends its head and stalls mid-body: each send ends at the deadline (slot released),
    /// another endpoint's deliveries arrive on time meanwhile, and shutdown ends within its bound.
    @Test(arguments: Backend.available)
    func aReceiverThatStallsMidBodyHoldsUpNobody(_ backend: Backend) async throws {
        let stalling = try await StallingReceiver()
        let inbox = WebhookInbox()
        // Long enough that waiting behind a stalled send would show, short enough for a quick test.
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
                #expect(try await eventually(timeout: .seconds(5)) { stalling.requestCount >= 4 }, "the stalling receiver holds 4 sends")
                // Three rounds of good deliveries while the bad endpoint keeps stalling.
                for round in 1...3 {
                    let sent = ContinuousClock.now
                    _ = try await client.createKey(ws.adminToken, #"{"name": "round \#(round)"}"#)
                    let got = try await inbox.wait(for: round, type: "api_key.created", timeout: .seconds(5))
                    let latency = ContinuousClock.now - sent
                    #expect(got.count == round)
                    #expect(latency < .seconds(2), "round \(round) took \(latency)")
                }
                // Every stalled send ended at the deadline, as a timeout, and freed its slot for the next.
                #expect(try await eventually(timeout: .seconds(15)) {
                    try await ws.store.deliveryAttempts(webhookID: badID, limit: 20).count >= 8
                })
                let attempts = try await ws.store.deliveryAttempts(webhookID: badID, limit: 20)
                #expect(attempts.allSatisfy { $0.error == "timed out" }, "\(attempts.map(\.error))")
                #expect(attempts.allSatisfy { $0.durationMilliseconds < 4_500 }, "\(attempts.map(\.durationMilliseconds))")
                // Leave sends in flight for the shutdown.
                for _ in 0..<4 { _ = try await client.call(.post, "/v1/webhooks/\(badID)/test", token: ws.adminToken) }
                _ = try await eventually(timeout: .seconds(5)) { stalling.requestCount >= 12 }
                return ContinuousClock.now
            }
            return ContinuousClock.now - ended
        }
        print("graceful shutdown with sends stalled in flight took \(shutdown)")
        #expect(shutdown < deadline + .seconds(2), "graceful shutdown took \(shutdown)")
        await stalling.close()
    }

    /// Thousands of queued test events for endpoint A do not delay a delivery for endpoint B.
    @Test(arguments: Backend.available)
    func oneEndpointsBacklogDoesNotDelayAnother(_ backend: Backend) async throws {
        let stalling = try await StallingReceiver()
        let inbox = WebhookInbox()
        try await withWebhookReceiver(inbox) { url in
            // The deadline outlasts queueing the backlog (4.5 s on PostgreSQL on a busy machine), so every
            // request A's receiver counts is one of the first claim's, none a retry after a timeout.
            try await withApp(backend, configure: Self.hostileTenants(deadline: .seconds(10))) { client, ws in
                let (_, a, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken,
                                                      body: #"{"url": "\#(stalling.url)", "events": ["api_key.revoked"]}"#)
                _ = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)", "events": ["api_key.created"]}"#)
                guard let aID = a["id"].string else { Issue.record("cannot create endpoint A"); return }
                let backlog = 2_000
                let queued = ContinuousClock.now
                for _ in 0..<backlog {
                    try await ws.store.enqueue(WebhookEvent.test(webhookID: aID, workspaceID: ws.workspace.id), onlyTo: aID)
                }
                print("queued \(backlog) test events for A in \(ContinuousClock.now - queued)")
                _ = try await eventually(timeout: .seconds(5)) { stalling.requestCount >= 4 }
                let sent = ContinuousClock.now
                _ = try await client.createKey(ws.adminToken, #"{"name": "for B"}"#)
                let got = try await inbox.wait(for: 1, type: "api_key.created", timeout: .seconds(10))
                let latency = ContinuousClock.now - sent
                print("B's delivery arrived \(latency) after the key was created, behind \(backlog) for A")
                #expect(got.count == 1)
                #expect(latency < .seconds(1), "B waited \(latency)")
                #expect(stalling.requestCount <= 4, "A never has more than 4 in flight: \(stalling.requestCount)")
            }
        }
        await stalling.close()
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
