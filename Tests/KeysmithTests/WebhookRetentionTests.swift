import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import Keysmith

/// Old webhook history is pruned; the clock is injected, so the test ages rows instead of waiting.
@Suite struct WebhookRetentionTests {
    @Test(arguments: Backend.available)
    func historyOlderThanTheRetentionIsPruned(_ backend: Backend) async throws {
        let inbox = WebhookInbox()
        let clock = TestClock()
        try await withWebhookReceiver(inbox) { url in
            try await withApp(backend, configure: { options in
                WebhookTests.fastWebhooks(&options)
                options.webhookRetention = .seconds(30 * 86400)
                options.webhookRetentionInterval = .seconds(3600)  // one pass at start-up; the rest are called here
                options.clock = clock.now
            }) { client, ws in
                let (_, hook, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)"}"#)
                guard let id = hook["id"].string else { Issue.record("cannot create the webhook"); return }
                for name in ["one", "two", "three"] { _ = try await client.createKey(ws.adminToken, #"{"name": "\#(name)"}"#) }
                _ = try await inbox.wait(for: 3, type: "api_key.created")
                #expect(try await eventually { try await ws.store.deliveryAttempts(webhookID: id, limit: 10).count == 3 })

                // At today's time nothing is old enough.
                let service = WebhookRetention(store: ws.store, retention: .seconds(30 * 86400), interval: .seconds(3600),
                                               migrated: MigrationGate(), logger: Logger(label: "test"), clock: clock.now)
                #expect(await service.prune() == WebhookPruneCount())
                #expect(try await ws.store.deliveryAttempts(webhookID: id, limit: 10).count == 3)

                // 29 days on, still kept; 31 days on, events, deliveries and attempts all go.
                clock.advance(seconds: 29 * 86400)
                #expect(await service.prune() == WebhookPruneCount())
                clock.advance(seconds: 2 * 86400)
                let pruned = await service.prune()
                #expect(pruned.attempts == 3 && pruned.deliveries == 3 && pruned.events >= 3, "\(pruned)")
                let (_, attempts, _) = try await client.call(.get, "/v1/webhooks/\(id)/deliveries", token: ws.adminToken)
                #expect(attempts["data"].array.isEmpty)
                #expect(await service.prune() == WebhookPruneCount())
                // The endpoint itself stays and keeps receiving (the whole application is 31 days on).
                _ = try await client.createKey(ws.adminToken, #"{"name": "four"}"#)
                #expect(try await inbox.wait(for: 4, type: "api_key.created").count == 4)
            }
        }
    }
}
