import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// Seed 001's webhook signatures, Standard Webhooks headers, and delivery that loses nothing.
@Suite struct WebhookTests {
    static func fastWebhooks(_ options: inout ServerOptions) {
        options.allowPrivateWebhookTargets = true
        options.webhookPollInterval = .milliseconds(50)
        options.webhookRetrySchedule = [.zero, .milliseconds(200), .milliseconds(200), .milliseconds(200)]
        options.expiryCheckInterval = .milliseconds(200)
    }

    @Test(arguments: Backend.available)
    func deliveriesCarryBothSignaturesOverTheExactBody(_ backend: Backend) async throws {
        let inbox = WebhookInbox()
        try await withWebhookReceiver(inbox) { url in
            try await withApp(backend, configure: Self.fastWebhooks) { client, ws in
                let (status, hook, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)"}"#)
                #expect(status == .created)
                let secret = try #require(hook["secret"].string)
                #expect(secret.hasPrefix("whsec_") && Data(base64Encoded: String(secret.dropFirst(6)))?.count == 32)
                let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "Production Server"}"#)

                let delivery = try #require(try await inbox.wait(for: 1, type: "api_key.created").first)
                // X-DialNexa-Signature, computed here independently: hex HMAC-SHA256 keyed with the secret's UTF-8 bytes.
                let expectedHex = HMAC<SHA256>.authenticationCode(for: delivery.body, using: SymmetricKey(data: Array(secret.utf8)))
                    .map { String(format: "%02x", $0) }.joined()
                #expect(delivery.headers["x-dialnexa-signature"] == expectedHex)
                // Standard Webhooks: v1,base64(HMAC(base64-decoded secret, "id.timestamp.body")).
                let id = try #require(delivery.headers["webhook-id"])
                let timestamp = try #require(delivery.headers["webhook-timestamp"])
                let signed = Array("\(id).\(timestamp).".utf8) + delivery.body
                let key = SymmetricKey(data: Data(base64Encoded: String(secret.dropFirst(6)))!)
                let expectedStandard = "v1," + Data(HMAC<SHA256>.authenticationCode(for: signed, using: key)).base64EncodedString()
                #expect(delivery.headers["webhook-signature"] == expectedStandard)
                #expect(abs(Int(timestamp)! - Int(Date().timeIntervalSince1970)) < 30)

                let event = delivery.json
                #expect(event.keys == ["id", "type", "created_at", "workspace_id", "data"])
                #expect(event["id"].string == id && id.hasPrefix("evt_"))
                #expect(event["workspace_id"].string == ws.workspace.id)
                #expect(event["data"]["id"].string == created["id"].string)
                // Nothing of the secret past its key_prefix (the fixed prefix and four characters).
                let secretPart = String(token.split(separator: ":")[1])
                #expect(event["data"]["secret"].isNull && !delivery.bodyText.contains(String(secretPart.prefix(12))))
                #expect(event["data"]["key_prefix"].string == String(secretPart.prefix(7)))

                // A Python receiver as seed 001 describes it (written here, so a clone alone runs it) accepts it.
                #expect(PythonReceiver.verify(body: delivery.body, signature: expectedHex, secret: secret, function: PythonReceiver.seedDescribed) == true)
                #expect(PythonReceiver.verify(body: delivery.body + [0x20], signature: expectedHex, secret: secret, function: PythonReceiver.seedDescribed) == false)
            }
        }
    }

    /// The seed's own `verify_webhook`, copied from `../shared/seeds`; skipped (not passed) when the file is absent.
    @Test(.enabled(if: PythonReceiver.seedFunction() != nil, "needs ../shared/seeds/001_4e67c54c8d7b2ec3.txt beside the repository"))
    func theSeedsOwnReceiverAcceptsDeliveries() async throws {
        let inbox = WebhookInbox()
        try await withWebhookReceiver(inbox) { url in
            try await withApp(.sqlite, configure: Self.fastWebhooks) { client, ws in
                let (_, hook, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)"}"#)
                _ = try await client.createKey(ws.adminToken, #"{"name": "Production Server"}"#)
                guard let secret = hook["secret"].string, let delivery = try await inbox.wait(for: 1, type: "api_key.created").first,
                      let signature = delivery.headers["x-dialnexa-signature"], let seed = PythonReceiver.seedFunction()
                else { Issue.record("no delivery or no secret"); return }
                #expect(PythonReceiver.verify(body: delivery.body, signature: signature, secret: secret, function: seed) == true)
                #expect(PythonReceiver.verify(body: delivery.body + [0x20], signature: signature, secret: secret, function: seed) == false)
            }
        }
    }

    @Test(arguments: Backend.available)
    func renameRevokeAndExpiryAreEachSentOnce(_ backend: Backend) async throws {
        let inbox = WebhookInbox()
        let clock = TestClock()
        try await withWebhookReceiver(inbox) { url in
            try await withApp(backend, configure: { Self.fastWebhooks(&$0); $0.clock = clock.now }) { client, ws in
                _ = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)", "events": ["api_key.renamed", "api_key.revoked", "api_key.expired"]}"#)
                let expiry = clock.read().adding(milliseconds: 60_000).description
                let (created, _) = try await client.createKey(ws.adminToken, #"{"name": "short", "expires_at": "\#(expiry)"}"#)
                let id = try #require(created["id"].string)
                _ = try await client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: #"{"name": "renamed"}"#)
                let (other, _) = try await client.createKey(ws.adminToken, #"{"name": "to revoke"}"#)
                _ = try await client.call(.delete, "/v1/api-keys/\(try #require(other["id"].string))", token: ws.adminToken)

                let renamed = try await inbox.wait(for: 1, type: "api_key.renamed")
                #expect(renamed.first?.json["data"]["name"].string == "renamed")
                let revoked = try await inbox.wait(for: 1, type: "api_key.revoked")
                #expect(revoked.first?.json["data"]["revoked_at"].string != nil)
                clock.advance(seconds: 61)  // the short key expires
                let expired = try await inbox.wait(for: 1, type: "api_key.expired")
                #expect(expired.first?.json["data"]["id"].string == id)
                #expect(expired.first?.json["data"]["is_expired"].bool == true)
                try await Task.sleep(for: .milliseconds(800))
                let all = await inbox.deliveries
                #expect(all.filter { $0.json["type"].string == "api_key.expired" }.count == 1, "expired is sent once")
                #expect(all.filter { $0.json["type"].string == "api_key.created" }.isEmpty, "not subscribed")
            }
        }
    }

    @Test(arguments: Backend.available)
    func aFailingReceiverGetsRetriesUntilItRecovers(_ backend: Backend) async throws {
        let inbox = WebhookInbox(script: [.internalServerError, .serviceUnavailable])
        try await withWebhookReceiver(inbox) { url in
            try await withApp(backend, configure: Self.fastWebhooks) { client, ws in
                let (_, hook, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)"}"#)
                let hookID = try #require(hook["id"].string)
                let (_, test, _) = try await client.call(.post, "/v1/webhooks/\(hookID)/test", token: ws.adminToken)
                // Cut-offs for a hang, not timings: the three attempts take well under a second.
                let received = try await inbox.wait(for: 3, type: "webhook.test", timeout: .seconds(60))
                #expect(received.count == 3)
                #expect(Set(received.map { $0.headers["webhook-id"] }).count == 1, "one event id on every retry")
                #expect(Set(received.map { $0.headers["x-dialnexa-signature"] }).count == 1, "the same body signature on every retry")
                #expect(received.first?.json["id"].string == test["event_id"].string)

                try await eventually(timeout: .seconds(60)) { try await ws.store.deliveryAttempts(webhookID: hookID, limit: 10).count >= 3 }
                let (_, attempts, _) = try await client.call(.get, "/v1/webhooks/\(hookID)/deliveries", token: ws.adminToken)
                let rows = attempts["data"].array.reversed().map { $0 }
                #expect(rows.count == 3, "\(rows.map { $0["error"].string ?? "-" })")
                #expect(rows.map { $0["status_code"].int } == [500, 503, 200])
                #expect(rows.map { $0["attempt"].int } == [1, 2, 3])
                #expect(rows[0]["next_retry_at"].string != nil && rows[2]["next_retry_at"].isNull)
                #expect(rows[0]["error"].string == "HTTP 500" && rows[2]["error"].isNull)
                #expect(rows.allSatisfy { $0["duration_ms"].int != nil && $0["event_type"].string == "webhook.test" })
            }
        }
    }

    @Test func aDeadReceiverIsMarkedFailedAfterTheLastRetry() async throws {
        let inbox = WebhookInbox(script: Array(repeating: .badGateway, count: 10))
        try await withWebhookReceiver(inbox) { url in
            try await withApp(.sqlite, configure: Self.fastWebhooks) { client, ws in
                let (_, hook, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)"}"#)
                let hookID = try #require(hook["id"].string)
                _ = try await client.call(.post, "/v1/webhooks/\(hookID)/test", token: ws.adminToken)
                _ = try await inbox.wait(for: 4)
                try await eventually { try await ws.store.deliveryAttempts(webhookID: hookID, limit: 10).count >= 4 }
                try await Task.sleep(for: .milliseconds(600))
                #expect(await inbox.deliveries.count == 4, "the schedule has four attempts, then no more")
                let (_, attempts, _) = try await client.call(.get, "/v1/webhooks/\(hookID)/deliveries", token: ws.adminToken)
                #expect(attempts["data"][0]["attempt"].int == 4 && attempts["data"][0]["next_retry_at"].isNull)
            }
        }
    }

    @Test(arguments: Backend.available)
    func a410GoneDisablesTheEndpoint(_ backend: Backend) async throws {
        let inbox = WebhookInbox(script: [.gone])
        try await withWebhookReceiver(inbox) { url in
            try await withApp(backend, configure: Self.fastWebhooks) { client, ws in
                let (_, hook, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)"}"#)
                let hookID = try #require(hook["id"].string)
                _ = try await client.createKey(ws.adminToken, #"{"name": "one"}"#)
                _ = try await inbox.wait(for: 1)
                try await eventually {
                    try await ws.store.webhook(id: hookID, workspaceID: ws.workspace.id)?.enabled == false
                }
                let (_, after, _) = try await client.call(.get, "/v1/webhooks/\(hookID)", token: ws.adminToken)
                #expect(after["enabled"].bool == false)
                #expect(after["disabled_reason"].string?.contains("410") == true)
                _ = try await client.createKey(ws.adminToken, #"{"name": "two"}"#)
                try await Task.sleep(for: .milliseconds(400))
                #expect(await inbox.deliveries.count == 1, "a disabled endpoint receives nothing")
            }
        }
    }

    @Test func pendingDeliveriesSurviveARestart() async throws {
        let location = Backend.sqlite.freshLocation()
        let clock = TestClock()
        let keyFile = TemporaryFile.path(suffix: ".key")
        // First life: nothing listens on the receiver's port yet, so the delivery fails and waits for its retry.
        let port = Int.random(in: 40_000..<60_000)
        let hookURL = "http://127.0.0.1:\(port)/hook"
        let admin = try await withApp(.sqlite, location: location, configure: { options in
            Self.fastWebhooks(&options)
            options.encryptionKeyFile = keyFile
            options.webhookRetrySchedule = [.zero, .seconds(60)]
            options.clock = clock.now
        }) { client, ws in
            _ = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(hookURL)"}"#)
            _ = try await client.createKey(ws.adminToken, #"{"name": "made while the receiver was down"}"#)
            let hooks = try await ws.store.listWebhooks(workspaceID: ws.workspace.id, page: 1, limit: 1).webhooks
            var attempts: [DeliveryAttempt] = []
            for _ in 0..<100 where attempts.isEmpty {
                try await Task.sleep(for: .milliseconds(50))
                attempts = try await ws.store.deliveryAttempts(webhookID: try #require(hooks.first?.id), limit: 10)
            }
            #expect(attempts.count == 1 && attempts.first?.statusCode == nil, "the first attempt failed: \(attempts)")
            return ws.adminToken
        }
        // Second life, a new application on the same database, once the retry is due: the receiver is up now.
        clock.advance(seconds: 60)
        let inbox = WebhookInbox()
        try await withWebhookReceiver(inbox, port: port) { _ in
            try await withApp(.sqlite, location: location, configure: { options in
                Self.fastWebhooks(&options)
                options.encryptionKeyFile = keyFile
                options.clock = clock.now
            }) { client, _ in
                let delivered = try await inbox.wait(for: 1, type: "api_key.created", timeout: .seconds(15))
                #expect(delivered.first?.json["data"]["name"].string == "made while the receiver was down")
                let (status, _, _) = try await client.call(.get, "/v1/auth/whoami", token: admin)
                #expect(status == .ok)
            }
        }
    }

    @Test(arguments: [
        ("ftp://example.com/hook", "http or https"), ("not a url", "absolute"), ("http://127.0.0.1:9/hook", "non-public"),
        ("http://169.254.169.254/latest/meta-data", "non-public"), ("http://10.1.2.3/hook", "non-public"), ("http://[::1]/hook", "non-public"),
        ("http://user:pw@example.com/hook", "credentials"),
    ])
    func unsafeWebhookURLsAreRefused(url: String, message: String) async throws {
        try await withApp(.sqlite) { client, ws in
            let (status, json, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)"}"#)
            #expect(status == .badRequest)
            expectErrorShape(json, status: .badRequest)
            #expect(json["message"].string?.contains(message) == true, "\(json["message"].string ?? "")")
            let (_, list, _) = try await client.call(.get, "/v1/webhooks", token: ws.adminToken)
            #expect(list["meta"]["total"].int == 0)
        }
    }

    @Test(arguments: Backend.available)
    func webhooksAreManagedLikeKeys(_ backend: Backend) async throws {
        try await withApp(backend, configure: Self.fastWebhooks) { client, ws in
            let (status, created, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken,
                body: #"{"url": "http://127.0.0.1:9/a", "description": "audit", "secret": "my-own-secret-123456789012"}"#)
            #expect(status == .created && created["secret"].string == "my-own-secret-123456789012")
            #expect(created["events"].array.count == WebhookEventType.subscribable.count && created["enabled"].bool == true)
            let id = try #require(created["id"].string)

            let (_, shown, _) = try await client.call(.get, "/v1/webhooks/\(id)", token: ws.adminToken)
            #expect(shown["secret"].isNull && shown["description"].string == "audit")
            let (_, listed, _) = try await client.call(.get, "/v1/webhooks", token: ws.adminToken)
            #expect(listed["meta"]["total"].int == 1 && listed["data"][0]["secret"].isNull)

            let (_, changed, _) = try await client.call(.patch, "/v1/webhooks/\(id)", token: ws.adminToken,
                body: #"{"events": ["api_key.revoked"], "enabled": false, "rotate_secret": true}"#)
            #expect(changed["events"].array.compactMap(\.string) == ["api_key.revoked"] && changed["enabled"].bool == false)
            #expect(changed["secret"].string?.hasPrefix("whsec_") == true)

            for (body, message) in [(#"{"events": ["api_key.deleted"]}"#, "unknown event"), (#"{"events": []}"#, "must not be empty"),
                                    (#"{}"#, "at least one"), (#"{"enabled": "yes"}"#, "true or false"), (#"{"secret": "short"}"#, "24 to 256"),
                                    (#"{"secret": "twenty-three-bytes-long"}"#, "24 to 256")] {
                let (bad, json, _) = try await client.call(.patch, "/v1/webhooks/\(id)", token: ws.adminToken, body: body)
                #expect(bad == .badRequest, "\(body)")
                #expect(json["message"].string?.contains(message) == true, "\(body): \(json["message"].string ?? "")")
            }

            let (readStatus, _, _) = try await client.call(.get, "/v1/webhooks", token: try await client.createKey(ws.adminToken, #"{"name": "r", "scope": "read"}"#).token)
            #expect(readStatus == .forbidden)
            let (deleted, _, _) = try await client.call(.delete, "/v1/webhooks/\(id)", token: ws.adminToken)
            #expect(deleted == .ok)
            let (gone, json, _) = try await client.call(.get, "/v1/webhooks/\(id)", token: ws.adminToken)
            #expect(gone == .notFound)
            expectErrorShape(json, status: .notFound)
        }
    }

    @Test func webhookSecretsAreSealedInTheDatabase() async throws {
        let location = Backend.sqlite.freshLocation()
        guard case .sqlite(let path) = location else { return }
        try await withApp(.sqlite, location: location, configure: Self.fastWebhooks) { client, ws in
            _ = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "http://127.0.0.1:9/a", "secret": "plain-text-secret-abcdef"}"#)
        }
        for file in [path, path + "-wal"] where FileManager.default.fileExists(atPath: file) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(bytes.range(of: Data("plain-text-secret-abcdef".utf8)) == nil)
        }
    }
}

/// Runs a Python `verify_webhook(payload_body, signature_header, secret)` on a delivery.
enum PythonReceiver {
    /// What seed 001 describes: hex HMAC-SHA256 over the raw body, keyed with the secret's UTF-8, compared in constant time.
    static let seedDescribed = """
        import hmac
        import hashlib

        def verify_webhook(payload_body: bytes, signature_header: str, secret: str) -> bool:
            expected = hmac.new(secret.encode(), payload_body, hashlib.sha256).hexdigest()
            return hmac.compare_digest(expected, signature_header)
        """

    /// The seed's own function, copied from the seed file; `nil` when `../shared/seeds` is not beside the repository.
    static func seedFunction() -> String? {
        let seed = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/seeds/001_4e67c54c8d7b2ec3.txt")
        guard let text = try? String(contentsOf: seed, encoding: .utf8), let start = text.range(of: "import hmac"),
              let end = text.range(of: "return hmac.compare_digest(expected, signature_header)")
        else { return nil }
        return String(text[start.lowerBound..<end.upperBound])
    }

    /// The function's answer, or `nil` (recorded as an issue) when python3 could not run it.
    static func verify(body: [UInt8], signature: String, secret: String, function: String) -> Bool? {
        let script = function + """

            import sys
            body = bytes.fromhex(sys.argv[1])
            print(verify_webhook(body, sys.argv[2], sys.argv[3]))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, body.map { String(format: "%02x", $0) }.joined(), signature, secret]
        let out = Pipe()
        process.standardOutput = out
        do { try process.run() } catch {
            Issue.record("cannot run python3: \(error)")
            return nil
        }
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        switch output.trimmingCharacters(in: .whitespacesAndNewlines) {
        case "True": return true
        case "False": return false
        default:
            Issue.record("python3 printed '\(output)' (status \(process.terminationStatus))")
            return nil
        }
    }
}
