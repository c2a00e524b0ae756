import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import Keysmith
import Logging
import Metrics
import Prometheus

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the HTTP server.")

    @Option(help: "Address to listen on. Env: KEYSMITH_HOST.")
    var host: String = ProcessInfo.processInfo.environment["KEYSMITH_HOST"] ?? "127.0.0.1"

    @Option(help: "Port to listen on. Env: KEYSMITH_PORT.")
    var port: Int = ProcessInfo.processInfo.environment["KEYSMITH_PORT"].flatMap(Int.init) ?? 8080

    @OptionGroup var database: DatabaseOptions

    @OptionGroup var prefix: SecretPrefixOption

    @Flag(help: "Allow webhooks to loopback and private addresses (development only). Env: KEYSMITH_ALLOW_PRIVATE_WEBHOOK_TARGETS=1.")
    var allowPrivateWebhookTargets = ProcessInfo.processInfo.environment["KEYSMITH_ALLOW_PRIVATE_WEBHOOK_TARGETS"] == "1"

    @Option(name: .customLong("trusted-proxy"), help: ArgumentHelp(
        "A proxy address or CIDR whose X-Forwarded-For gives the client address (repeatable). Env: KEYSMITH_TRUSTED_PROXIES, comma-separated.",
        valueName: "CIDR"))
    var trustedProxies: [String] = (ProcessInfo.processInfo.environment["KEYSMITH_TRUSTED_PROXIES"] ?? "")
        .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }

    @Option(help: "Seconds after which a connection with no request in progress is closed. Env: KEYSMITH_IDLE_TIMEOUT.")
    var idleTimeout: Int = ProcessInfo.processInfo.environment["KEYSMITH_IDLE_TIMEOUT"].flatMap(Int.init) ?? 30

    @Option(help: "Connections served at once. Env: KEYSMITH_MAX_CONNECTIONS.")
    var maxConnections: Int = ProcessInfo.processInfo.environment["KEYSMITH_MAX_CONNECTIONS"].flatMap(Int.init) ?? 1000

    @Option(help: "Lookups of unknown key ids per client address per second before 429. Env: KEYSMITH_LOOKUP_BUDGET.")
    var lookupBudget: Int = ProcessInfo.processInfo.environment["KEYSMITH_LOOKUP_BUDGET"].flatMap(Int.init) ?? 20

    @Option(help: "Keys a workspace may hold that are not revoked; creates past it are 403. Env: KEYSMITH_MAX_KEYS_PER_WORKSPACE.")
    var maxKeysPerWorkspace: Int = ProcessInfo.processInfo.environment["KEYSMITH_MAX_KEYS_PER_WORKSPACE"].flatMap(Int.init) ?? 2_000_000

    @Option(help: "Webhook endpoints a workspace may register. Env: KEYSMITH_MAX_WEBHOOKS_PER_WORKSPACE.")
    var maxWebhooksPerWorkspace: Int = ProcessInfo.processInfo.environment["KEYSMITH_MAX_WEBHOOKS_PER_WORKSPACE"].flatMap(Int.init) ?? 20

    @Option(help: "Management requests (/v1/api-keys, /v1/webhooks, /v1/audit-events) a workspace may make per second on one instance, in bursts of up to ten times as many; past it 429. Env: KEYSMITH_MANAGEMENT_REQUESTS_PER_SECOND.")
    var managementRequestsPerSecond: Int = ProcessInfo.processInfo.environment["KEYSMITH_MANAGEMENT_REQUESTS_PER_SECOND"].flatMap(Int.init) ?? 100

    @Option(help: "Lookups of unknown key ids per second for the whole instance, over every address, before 429. Env: KEYSMITH_UNKNOWN_KEY_LOOKUPS_PER_SECOND.")
    var unknownKeyLookupsPerSecond: Int = ProcessInfo.processInfo.environment["KEYSMITH_UNKNOWN_KEY_LOOKUPS_PER_SECOND"].flatMap(Int.init)
        ?? LookupBudget.defaultTotal

    @Option(help: "File holding the key that seals webhook secrets (created if missing; required on PostgreSQL unless KEYSMITH_ENCRYPTION_KEY is set). Env: KEYSMITH_ENCRYPTION_KEY_FILE; KEYSMITH_ENCRYPTION_KEY gives the key itself.")
    var encryptionKeyFile: String?

    @Option(help: "Days to keep webhook events, deliveries and attempts. Env: KEYSMITH_WEBHOOK_RETENTION_DAYS.")
    var webhookRetentionDays: Int = ProcessInfo.processInfo.environment["KEYSMITH_WEBHOOK_RETENTION_DAYS"].flatMap(Int.init) ?? 30

    @Option(help: "Seconds a cached key is trusted without being read again, whatever the change feed says (5 to 86400). Env: KEYSMITH_CACHE_MAX_AGE.")
    var cacheMaxAge: Int = ProcessInfo.processInfo.environment["KEYSMITH_CACHE_MAX_AGE"].flatMap(Int.init) ?? 300

    @Option(help: "Days to keep the audit log and hourly usage counts. Env: KEYSMITH_AUDIT_RETENTION_DAYS.")
    var auditRetentionDays: Int = ProcessInfo.processInfo.environment["KEYSMITH_AUDIT_RETENTION_DAYS"].flatMap(Int.init) ?? 90

    @Option(help: ArgumentHelp(
        "How long before a key expires its api_key.expiring event is sent: 7d, 12h, 30m or 90s. Env: KEYSMITH_EXPIRY_WARNING.",
        valueName: "DURATION"))
    var expiryWarning: String = ProcessInfo.processInfo.environment["KEYSMITH_EXPIRY_WARNING"] ?? "7d"

    @Option(help: ArgumentHelp(
        "Memory for the key cache, estimated per entry (about 1.3 KB a key, 230 bytes an unknown id); KiB, MiB or GiB. Env: KEYSMITH_CACHE_MEMORY.",
        valueName: "SIZE"))
    var cacheMemory: String = ProcessInfo.processInfo.environment["KEYSMITH_CACHE_MEMORY"] ?? MemorySize.describe(KeyCache.defaultMemoryBudget)

    @Option(help: ArgumentHelp(
        "Milliseconds between two exchanges of rate-limit counts with the other instances, 10 to 250. Env: KEYSMITH_RATE_LIMIT_SYNC_INTERVAL.",
        valueName: "MS"))
    var rateLimitSyncInterval: Int = ProcessInfo.processInfo.environment["KEYSMITH_RATE_LIMIT_SYNC_INTERVAL"].flatMap(Int.init) ?? 100

    @Option(help: "Port of a listener of its own that serves Prometheus metrics at /metrics; none unless given. Env: KEYSMITH_METRICS_PORT.")
    var metricsPort: Int?

    @Option(help: "Address the metrics listener binds. Env: KEYSMITH_METRICS_HOST.")
    var metricsHost: String = ProcessInfo.processInfo.environment["KEYSMITH_METRICS_HOST"] ?? "127.0.0.1"

    /// `--metrics-port`, else `KEYSMITH_METRICS_PORT`.
    var resolvedMetricsPort: Int? { metricsPort ?? ProcessInfo.processInfo.environment["KEYSMITH_METRICS_PORT"].flatMap(Int.init) }

    @Option(help: ArgumentHelp(
        "Where a first start writes the bootstrap admin key when stdout is not a terminal (a new file, mode 0600); by default keysmith-admin-key-<workspace id> in the working directory. Env: KEYSMITH_BOOTSTRAP_KEY_FILE.",
        valueName: "PATH"))
    var bootstrapKeyFile: String? = ProcessInfo.processInfo.environment["KEYSMITH_BOOTSTRAP_KEY_FILE"]

    @Option(help: ArgumentHelp(
        "A JSON file of route rules: which permissions /v1/auth/verify requires by method and path (docs/gateways.md); reloaded on SIGHUP. Env: KEYSMITH_ROUTE_RULES.",
        valueName: "FILE"))
    var routeRules: String? = ProcessInfo.processInfo.environment["KEYSMITH_ROUTE_RULES"].flatMap { $0.isEmpty ? nil : $0 }

    @Option(help: "trace, debug, info, notice, warning, error or critical. Env: KEYSMITH_LOG_LEVEL.")
    var logLevel: String = ProcessInfo.processInfo.environment["KEYSMITH_LOG_LEVEL"] ?? "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
        for proxy in trustedProxies where IPRange(proxy) == nil {
            throw ValidationError("--trusted-proxy '\(proxy)' is not an IP address or CIDR block such as 10.0.0.0/8")
        }
        guard (1...3600).contains(idleTimeout) else { throw ValidationError("--idle-timeout must be from 1 to 3600 seconds") }
        guard (1...100_000).contains(maxConnections) else { throw ValidationError("--max-connections must be from 1 to 100000") }
        guard (1...100_000).contains(lookupBudget) else { throw ValidationError("--lookup-budget must be from 1 to 100000") }
        guard (1...100_000_000).contains(maxKeysPerWorkspace) else { throw ValidationError("--max-keys-per-workspace must be from 1 to 100000000") }
        guard (0...10_000).contains(maxWebhooksPerWorkspace) else { throw ValidationError("--max-webhooks-per-workspace must be from 0 to 10000") }
        guard (1...1_000_000).contains(managementRequestsPerSecond) else {
            throw ValidationError("--management-requests-per-second must be from 1 to 1000000")
        }
        guard (1...1_000_000).contains(unknownKeyLookupsPerSecond) else {
            throw ValidationError("--unknown-key-lookups-per-second must be from 1 to 1000000")
        }
        guard (1...3650).contains(webhookRetentionDays) else { throw ValidationError("--webhook-retention-days must be from 1 to 3650") }
        guard (5...86400).contains(cacheMaxAge) else { throw ValidationError("--cache-max-age must be from 5 to 86400 seconds") }
        guard (1...3650).contains(auditRetentionDays) else { throw ValidationError("--audit-retention-days must be from 1 to 3650") }
        guard let warning = Self.duration(expiryWarning), warning <= 365 * 86400, warning >= 0 else {
            throw ValidationError("--expiry-warning must be a duration such as 7d, 12h, 30m or 90s, at most 365d")
        }
        if let metricsPort = resolvedMetricsPort {
            guard (0...65535).contains(metricsPort) else { throw ValidationError("--metrics-port must be from 0 to 65535") }
            guard metricsPort == 0 || metricsPort != port else { throw ValidationError("--metrics-port must differ from --port") }
        }
        guard (10...250).contains(rateLimitSyncInterval) else { throw ValidationError("--rate-limit-sync-interval must be from 10 to 250 milliseconds") }
        guard let cacheBytes = MemorySize.bytes(cacheMemory), cacheBytes >= 1 << 20 else {
            throw ValidationError("--cache-memory '\(cacheMemory)' must be at least 1MiB, written like 512MiB or 2GiB")
        }
    }

    func run() async throws {
        CommandLogging.bootstrap()
        var options = ServerOptions()
        options.host = host
        options.port = port
        options.database = database.database
        options.secretPrefix = prefix.secretPrefix
        options.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        options.allowPrivateWebhookTargets = allowPrivateWebhookTargets
        options.encryptionKeyFile = encryptionKeyFile ?? ProcessInfo.processInfo.environment["KEYSMITH_ENCRYPTION_KEY_FILE"]
        options.trustedProxies = TrustedProxies(trustedProxies.compactMap(IPRange.init))
        options.idleTimeout = .seconds(idleTimeout)
        options.maxConnections = maxConnections
        options.lookupBudget = lookupBudget
        options.maxActiveKeysPerWorkspace = maxKeysPerWorkspace
        options.webhookQuotas.endpointsPerWorkspace = maxWebhooksPerWorkspace
        options.managementRequestsPerSecond = managementRequestsPerSecond
        options.unknownKeyLookups = unknownKeyLookupsPerSecond
        options.webhookRetention = .seconds(webhookRetentionDays * 86400)
        options.auditRetention = .seconds(auditRetentionDays * 86400)
        options.usageRetention = .seconds(auditRetentionDays * 86400)
        options.expiryWarning = .seconds(Self.duration(expiryWarning) ?? 7 * 86400)
        options.rateLimitSyncInterval = .milliseconds(rateLimitSyncInterval)
        options.cacheMemory = MemorySize.bytes(cacheMemory) ?? KeyCache.defaultMemoryBudget
        options.cacheMaximumAge = .seconds(cacheMaxAge)
        options.routeRulesFile = routeRules
        if let metricsPort = resolvedMetricsPort {
            // Once per process: libraries that record through swift-metrics land in the same registry.
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            options.metricsRegistry = registry
            options.metricsPort = metricsPort
            options.metricsHost = metricsHost
        }
        let logger = CommandLogging.logger(level: options.logLevel)

        let (store, services) = try await database.location.open(logger: logger)
        // The store is closed on every path: a start-up error must not leave connections to be torn down on deinit.
        do {
            let issuer = KeyIssuer(store: store, secretPrefix: options.secretPrefix)
            let app = try buildApplication(options: options, store: store, storeServices: services, logger: logger) {
                try await Self.bootstrapFirstWorkspace(issuer: issuer, keyFile: bootstrapKeyFile, logger: logger)
            }
            try await app.runService()
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    }

    /// On a database without workspaces: creates `default` and one admin key, shown once and never logged.
    /// At a terminal it is printed. Otherwise stdout is usually a log (systemd, Docker), so the key goes to a
    /// new file only its owner can read, and the log says where.
    static func bootstrapFirstWorkspace(issuer: KeyIssuer, keyFile: String?, logger: Logger) async throws {
        guard try await issuer.store.workspaceCount() == 0 else { return }
        let (workspace, token): (Workspace, APIKeyToken)
        do {
            (workspace, _, token) = try await issuer.createWorkspace(named: "default")
        } catch KeyStoreError.duplicateWorkspaceName {
            return  // another instance bootstrapped the same database first
        }
        let rule = String(repeating: "=", count: 72)
        let banner = """
            \(rule)
            Keysmith created workspace "\(workspace.name)" (\(workspace.id)) and its first admin key.
            This key is shown ONLY ONCE and is not stored anywhere. Copy it now:

                \(token.bearer)

            Use it as: Authorization: Bearer <key>
            \(rule)

            """
        if isatty(STDOUT_FILENO) == 1 {
            // Written unbuffered, so it is there at once.
            FileHandle.standardOutput.write(Data(banner.utf8))
            return
        }
        let path = keyFile ?? "keysmith-admin-key-\(workspace.id)"
        do {
            try BootstrapKeyFile.write(banner + "Delete this file once the key is stored safely.\n", to: path)
        } catch {
            // The workspace exists and its key is lost: say how to get another, never the key.
            logger.critical("could not write the bootstrap admin key", metadata: [
                "path": "\(path)", "error": "\(error)",
                "next": "create an admin key with: keysmith workspace create NAME, or keysmith keys create",
            ])
            return
        }
        logger.notice("created workspace \(workspace.id) and its first admin key; the key was written to a new file readable by this user only (mode 0600): read it, store it, delete the file", metadata: [
            "bootstrap_key_file": "\(path)",
        ])
    }
}

/// A new file, created with mode 0600 and never over an existing one, so that nothing else can read it
/// between its creation and the write.
enum BootstrapKeyFile {
    struct WriteError: Error, CustomStringConvertible {
        let description: String
    }

    static func write(_ text: String, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw WriteError(description: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { throw WriteError(description: String(cString: strerror(errno))) }
            written += count
        }
    }
}

extension ServeCommand {
    /// `7d`, `12h`, `30m`, `90s` or a number of seconds, in seconds; `nil` for anything else.
    static func duration(_ text: String) -> Int? {
        let units: [Character: Int] = ["d": 86400, "h": 3600, "m": 60, "s": 1]
        var digits = Substring(text)
        var unit = 1
        if let last = text.last, let seconds = units[last] {
            unit = seconds
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let value = Int(digits), value >= 0, value <= 100_000_000 / unit else { return nil }
        return value * unit
    }
}
