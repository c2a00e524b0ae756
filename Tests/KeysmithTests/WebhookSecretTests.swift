import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import KeysmithWebhooks
import Logging
import Testing

@testable import Keysmith

/// Rotation grace, sealing bound to the webhook id, the key file, and the key check.
@Suite struct WebhookSecretTests {
    /// Rotating keeps the old secret signing beside the new one (`v1,<new> v1,<old>`) until the grace ends.
    @Test(arguments: Backend.available)
    func aRotatedSecretKeepsSigningDuringTheGrace(_ backend: Backend) async throws {
        let inbox = WebhookInbox()
        let clock = TestClock()
        try await withWebhookReceiver(inbox) { url in
            try await withApp(backend, configure: { options in
                WebhookTests.fastWebhooks(&options)
                options.webhookQuotas.previousSecretGrace = .seconds(60)
                options.clock = clock.now
            }) { client, ws in
                let (_, hook, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)"}"#)
                let (_, rotated, _) = try await client.call(.patch, "/v1/webhooks/\(hook["id"].string ?? "-")", token: ws.adminToken,
                                                            body: #"{"rotate_secret": true}"#)
                guard let id = hook["id"].string, let old = hook["secret"].string, let new = rotated["secret"].string else {
                    Issue.record("cannot create and rotate")
                    return
                }
                _ = try await client.call(.post, "/v1/webhooks/\(id)/test", token: ws.adminToken)
                guard let delivery = try await inbox.wait(for: 1, type: "webhook.test").first else { Issue.record("no delivery"); return }
                let signatures = delivery.headers["webhook-signature"] ?? ""
                #expect(signatures.split(separator: " ").count == 2, "\(signatures)")
                let headers = delivery.headers
                for secret in [old, new] {
                    #expect(throws: Never.self) { try WebhookVerifier(secret: secret).verify(body: delivery.body, headers: headers) }
                }
                #expect(signatures.hasPrefix(WebhookSigner(secret: new).standardSignature(
                    id: headers["webhook-id"] ?? "", timestamp: Int64(headers["webhook-timestamp"] ?? "") ?? 0, body: delivery.body)))
                #expect(delivery.headers["x-dialnexa-signature"] == WebhookSigner(secret: new).dialNexaSignature(body: delivery.body))

                clock.advance(seconds: 61)  // the grace ends (well inside the receiver's five-minute tolerance)
                _ = try await client.call(.post, "/v1/webhooks/\(id)/test", token: ws.adminToken)
                let later = try await inbox.wait(for: 2, type: "webhook.test")
                #expect(later.count == 2 && later[1].headers["webhook-signature"]?.split(separator: " ").count == 1)
                #expect(throws: WebhookVerificationError.invalidSignature) {
                    try WebhookVerifier(secret: old).verify(body: later[1].body, headers: later[1].headers)
                }
            }
        }
    }

    @Test func sealedSecretsAreBoundToTheirWebhook() throws {
        let box = try SecretBox(key: Array(repeating: 7, count: 32))
        let sealed = try box.seal("whsec_abc", webhookID: "wh_a")
        #expect(sealed.hasPrefix("v2:"))
        #expect(try box.open(sealed, webhookID: "wh_a") == "whsec_abc")
        #expect(throws: SecretBoxError.cannotOpen) { try box.open(sealed, webhookID: "wh_b") }
        // Rows sealed before associated data (v1) still open.
        #expect(try box.open(try Self.legacySeal("whsec_old", key: Array(repeating: 7, count: 32)), webhookID: "wh_any") == "whsec_old")
        #expect(throws: SecretBoxError.malformed) { try box.open("v9:AAAA", webhookID: "wh_a") }
    }

    static func legacySeal(_ secret: String, key: [UInt8]) throws -> String {
        let combined = try #require(try AES.GCM.seal(Array(secret.utf8), using: SymmetricKey(data: key)).combined)
        return "v1:" + combined.base64EncodedString()
    }

    /// An endpoint whose secret was sealed by an older Keysmith (v1, no associated data) still gets signed deliveries.
    @Test(arguments: Backend.available)
    func aLegacySealedSecretStillSigns(_ backend: Backend) async throws {
        let inbox = WebhookInbox()
        let keyFile = TemporaryFile.path(suffix: ".key")
        try await withWebhookReceiver(inbox) { url in
            try await withApp(backend, configure: { options in
                WebhookTests.fastWebhooks(&options)
                options.encryptionKey = nil
                options.encryptionKeyFile = keyFile
            }) { client, ws in
                let secret = "a-user-supplied-secret-of-32-bytes"
                let (_, hook, _) = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)", "secret": "\#(secret)"}"#)
                guard let id = hook["id"].string, let text = try? String(contentsOfFile: keyFile, encoding: .utf8),
                      let key = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines))
                else { Issue.record("no webhook or key file"); return }
                var change = WebhookChange()
                change.sealedSecret = try Self.legacySeal(secret, key: Array(key))
                _ = try await ws.store.updateWebhook(id: id, workspaceID: ws.workspace.id, change: change, at: .now())
                _ = try await client.call(.post, "/v1/webhooks/\(id)/test", token: ws.adminToken)
                let delivery = try await inbox.wait(for: 1, type: "webhook.test").first
                #expect(delivery?.headers["x-dialnexa-signature"] == delivery.map { WebhookSigner(secret: secret).dialNexaSignature(body: $0.body) })
            }
        }
    }

    @Test func theKeyFileIsCreatedExclusivelyWithMode0600() throws {
        let file = TemporaryFile.path(suffix: ".key")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let first = try SecretBox.load(environment: nil, file: file)
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // A second load reads the same key rather than making another.
        let second = try SecretBox.load(environment: nil, file: file)
        #expect(try second.open(try first.seal("x", webhookID: "wh_1"), webhookID: "wh_1") == "x")
    }

    @Test(arguments: ["not base64 at all!", "c2hvcnQ=", ""])
    func aKeyFileThatDoesNotDecodeStopsStartUp(contents: String) throws {
        let file = TemporaryFile.path(suffix: ".key")
        defer { try? FileManager.default.removeItem(atPath: file) }
        FileManager.default.createFile(atPath: file, contents: Data(contents.utf8))
        #expect(throws: StoreConfigurationError.self) { try SecretBox.load(environment: nil, file: file) }
        #expect(FileManager.default.contents(atPath: file) == Data(contents.utf8), "the file is never replaced")
    }

    @Test func aKeyFileThatCannotBeReadStopsStartUp() throws {
        let path = TemporaryFile.path(suffix: ".key")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)  // exists, unreadable as a file
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect { try SecretBox.load(environment: nil, file: path) } throws: { error in
            "\(error)".contains("cannot be read")
        }
    }

    @Test func postgresNeedsAnExplicitKey() async throws {
        #expect { try SecretBox.load(environment: nil, file: nil) } throws: { error in "\(error)".contains("KEYSMITH_ENCRYPTION_KEY") }
        var options = ServerOptions()
        options.database = "postgres://keysmith@127.0.0.1:1/none"
        options.encryptionKey = nil
        #expect(options.resolvedEncryptionKeyFile == nil)
        options.encryptionKeyFile = "/tmp/explicit.key"
        #expect(options.resolvedEncryptionKeyFile == "/tmp/explicit.key")
    }

    /// A database remembers its key: starting with another key is a start-up error, with or without webhooks.
    @Test(arguments: Backend.available)
    func aWrongKeyIsAStartUpError(_ backend: Backend) async throws {
        for withWebhook in [false, true] {
            let location = backend.freshLocation()
            let first = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
            let second = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
            try await withApp(backend, location: location, configure: { options in
                WebhookTests.fastWebhooks(&options)
                options.encryptionKey = first
            }) { client, ws in
                if withWebhook { _ = try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "http://127.0.0.1:9/a"}"#) }
            }
            #expect(await Self.startUpError(location, key: second)?.contains("encryption key is not the one") == true, "webhook: \(withWebhook)")
            #expect(await Self.startUpError(location, key: first) == nil, "the right key still starts")
        }
    }

    /// Starts the application on `location` with `key` and returns the start-up error, if any; the store is closed on every path.
    static func startUpError(_ location: StoreLocation, key: String) async -> String? {
        var options = ServerOptions()
        options.port = 0
        options.encryptionKey = key
        let logger = Logger(label: "keysmith-test")
        do {
            let (store, services) = try await location.open(logger: logger)
            do {
                let app = try buildApplication(options: options, store: store, storeServices: services, logger: logger)
                try await app.test(.router) { _ in }
                try await store.close()
                return nil
            } catch {
                try? await store.close()
                return "\(error)"
            }
        } catch {
            return "cannot open the store: \(error)"
        }
    }
}
