import ArgumentParser
import Foundation
import Hummingbird
import Keysmith
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the HTTP server.")

    @Option(help: "Address to listen on. Env: KEYSMITH_HOST.")
    var host: String = ProcessInfo.processInfo.environment["KEYSMITH_HOST"] ?? "127.0.0.1"

    @Option(help: "Port to listen on. Env: KEYSMITH_PORT.")
    var port: Int = ProcessInfo.processInfo.environment["KEYSMITH_PORT"].flatMap(Int.init) ?? 8080

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Prefix of every new secret, for secret scanners. Env: KEYSMITH_SECRET_PREFIX.")
    var secretPrefix: String = ProcessInfo.processInfo.environment["KEYSMITH_SECRET_PREFIX"] ?? "ks_"

    @Flag(help: "Allow webhooks to loopback and private addresses (development only). Env: KEYSMITH_ALLOW_PRIVATE_WEBHOOK_TARGETS=1.")
    var allowPrivateWebhookTargets = ProcessInfo.processInfo.environment["KEYSMITH_ALLOW_PRIVATE_WEBHOOK_TARGETS"] == "1"

    @Flag(help: "Behind a reverse proxy: record the client address from X-Forwarded-For. Env: KEYSMITH_TRUST_FORWARDED_FOR=1.")
    var trustForwardedFor = ProcessInfo.processInfo.environment["KEYSMITH_TRUST_FORWARDED_FOR"] == "1"

    @Option(help: "File holding the key that seals webhook secrets (created if missing; required on PostgreSQL unless KEYSMITH_ENCRYPTION_KEY is set). Env: KEYSMITH_ENCRYPTION_KEY_FILE; KEYSMITH_ENCRYPTION_KEY gives the key itself.")
    var encryptionKeyFile: String?

    @Option(help: "Days to keep webhook events, deliveries and attempts. Env: KEYSMITH_WEBHOOK_RETENTION_DAYS.")
    var webhookRetentionDays: Int = ProcessInfo.processInfo.environment["KEYSMITH_WEBHOOK_RETENTION_DAYS"].flatMap(Int.init) ?? 30

    @Option(help: "trace, debug, info, notice, warning, error or critical. Env: KEYSMITH_LOG_LEVEL.")
    var logLevel: String = ProcessInfo.processInfo.environment["KEYSMITH_LOG_LEVEL"] ?? "info"

    func validate() throws {
        guard KeyIssuer.isValidPrefix(secretPrefix) else {
            throw ValidationError("--secret-prefix must be 2 to 16 lowercase letters or digits ending in '_', such as ks_")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
        guard (1...3650).contains(webhookRetentionDays) else { throw ValidationError("--webhook-retention-days must be from 1 to 3650") }
    }

    func run() async throws {
        CommandLogging.bootstrap()
        var options = ServerOptions()
        options.host = host
        options.port = port
        options.database = database.database
        options.secretPrefix = secretPrefix
        options.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        options.allowPrivateWebhookTargets = allowPrivateWebhookTargets
        options.encryptionKeyFile = encryptionKeyFile ?? ProcessInfo.processInfo.environment["KEYSMITH_ENCRYPTION_KEY_FILE"]
        options.trustForwardedFor = trustForwardedFor
        options.webhookRetention = .seconds(webhookRetentionDays * 86400)
        let logger = CommandLogging.logger(level: options.logLevel)

        let (store, services) = try await database.location.open(logger: logger)
        let issuer = KeyIssuer(store: store, secretPrefix: secretPrefix)
        let app = try buildApplication(options: options, store: store, storeServices: services, logger: logger) {
            try await Self.bootstrapFirstWorkspace(issuer: issuer)
        }
        try await app.runService()
        try await store.close()
    }

    /// On a database without workspaces: creates `default` and one admin key, printed once, never logged.
    static func bootstrapFirstWorkspace(issuer: KeyIssuer) async throws {
        guard try await issuer.store.workspaceCount() == 0 else { return }
        do {
            let (workspace, _, token) = try await issuer.createWorkspace(named: "default")
            let rule = String(repeating: "=", count: 72)
            // Written unbuffered, so it is there at once even when stdout is a pipe or a file.
            FileHandle.standardOutput.write(Data("""
                \(rule)
                Keysmith created workspace "\(workspace.name)" (\(workspace.id)) and its first admin key.
                This key is shown ONLY ONCE and is not stored anywhere. Copy it now:

                    \(token.bearer)

                Use it as: Authorization: Bearer <key>
                \(rule)

                """.utf8))
        } catch KeyStoreError.duplicateWorkspaceName {
            return  // another instance bootstrapped the same database first
        }
    }
}
