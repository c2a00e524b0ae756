import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// Everything `keysmith serve` needs to know; the CLI fills it from flags and environment variables.
public struct ServerOptions: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// A file path, `sqlite:PATH`, or a `postgres://` URL.
    public var database: String = "keysmith.sqlite"
    public var secretPrefix: String = "ks_"
    public var usageFlushInterval: Duration = .seconds(1)
    public var changePollInterval: Duration = .milliseconds(50)
    public var logLevel: Logger.Level = .info
    /// Where the key that seals webhook secrets lives; by default beside the SQLite file, or
    /// `keysmith.key` in the working directory for PostgreSQL. `KEYSMITH_ENCRYPTION_KEY` overrides it.
    public var encryptionKeyFile: String?
    public var encryptionKey: String? = ProcessInfo.processInfo.environment["KEYSMITH_ENCRYPTION_KEY"]
    /// Allow webhooks to loopback and private addresses (development and tests only).
    public var allowPrivateWebhookTargets = false
    /// Resolves webhook hosts (tests give one whose nameserver they control).
    public var webhookResolver = WebhookResolver.shared
    public var webhookRetrySchedule: [Duration] = WebhookDeliverer.standardSchedule
    public var webhookPollInterval: Duration = .seconds(1)
    public var expiryCheckInterval: Duration = .seconds(5)
    /// Proxies whose `X-Forwarded-For` (or `X-Real-IP`) gives the client address (`--trusted-proxy`); none by default.
    public var trustedProxies = TrustedProxies()
    /// Counts the requests of keys that have a `rate_limit`; `nil`: the built-in `RateLimiter`, which
    /// shares each limit with the other instances on the database.
    public var rateLimiter: (any KeyRateLimiting)?
    /// How often instances exchange rate-limit counts while limited keys are in use (`--rate-limit-sync-interval`).
    public var rateLimitSyncInterval: Duration = .milliseconds(100)
    /// A connection with no request in progress for this long is closed (also one that trickles its headers).
    public var idleTimeout: Duration = .seconds(30)
    /// Connections served at once; further ones wait in the listen backlog.
    public var maxConnections = 1000
    /// Database lookups of unknown key ids a client address may cause per second before it gets 429.
    public var lookupBudget = 20
    /// The window `lookupBudget` counts in (tests lengthen it to make the count exact).
    public var lookupWindow: Duration = .seconds(1)
    /// Database lookups of unknown key ids the whole instance may cause per `lookupWindow`, over every address.
    public var unknownKeyLookups = LookupBudget.defaultTotal
    /// Client addresses `lookupBudget` counts one by one; past them, IPv6 by wider prefixes (tests make it small).
    public var lookupAddresses = 10_000
    /// One deadline for a whole webhook send: resolution, connect, request, response head and body.
    public var webhookTimeout: Duration = .seconds(15)
    /// Keys a workspace may hold that are not revoked (`--max-keys-per-workspace`); creates past it are 403.
    public var maxActiveKeysPerWorkspace = 2_000_000
    /// Management requests (`/v1/api-keys`, `/v1/webhooks`, `/v1/audit-events`) a workspace may make per
    /// second on one instance, with bursts of ten times as many (`--management-requests-per-second`).
    public var managementRequestsPerSecond = 100
    /// Per-workspace webhook limits (endpoints, test events per minute).
    public var webhookQuotas = WebhookQuotas()
    /// Webhook events, deliveries and attempts older than this are deleted.
    public var webhookRetention: Duration = .seconds(30 * 86400)
    public var webhookRetentionInterval: Duration = .seconds(3600)
    /// Audit entries older than this are deleted (`--audit-retention-days`, 90 by default).
    public var auditRetention: Duration = .seconds(90 * 86400)
    /// Hourly usage counts older than this are deleted.
    public var usageRetention: Duration = .seconds(90 * 86400)
    /// How long before a key expires its `api_key.expiring` event is sent (`--expiry-warning`).
    public var expiryWarning: Duration = .seconds(7 * 86400)
    /// Memory the key cache may hold, by its estimate of each entry (`--cache-memory`); past it, the least
    /// recently loaded tenth is dropped.
    public var cacheMemory: Int = KeyCache.defaultMemoryBudget
    /// How long a cached key is trusted without a read, whatever the change feed says (`--cache-max-age`).
    public var cacheMaximumAge: Duration = KeyCache.defaultMaximumAge
    /// The one clock of the server: authentication, key expiry, the cache's ages, webhook schedules and
    /// retention all read it (tests move it forward instead of waiting).
    public var clock: @Sendable () -> Timestamp = { .now() }
    /// The port of the Prometheus listener, which serves only `/metrics` (`--metrics-port`); `nil`: none.
    public var metricsPort: Int?
    public var metricsHost = "127.0.0.1"
    /// Where metrics are recorded; `nil`: a registry of this server's own when `metricsPort` is set, else
    /// nothing is recorded. The CLI passes the one it bootstrapped `MetricsSystem` with.
    public var metricsRegistry: PrometheusCollectorRegistry?
    /// The route rules file (`--route-rules`), read at start and on SIGHUP; `nil`: every route allowed.
    public var routeRulesFile: String?

    public init() {}

    /// On PostgreSQL, `nil` unless given: every instance must share one key, so none may make its own.
    var resolvedEncryptionKeyFile: String? {
        if let encryptionKeyFile { return encryptionKeyFile }
        switch StoreLocation(database) {
        case .sqlite(let path): return path + ".key"
        case .postgres: return nil
        }
    }
}

/// Builds the application around an open store: the router, the authentication path, and the services
/// (usage flushing, cache invalidation) that run beside the HTTP server.
public func buildApplication(
    options: ServerOptions,
    store: any KeyStore,
    storeServices: [any Service] = [],
    logger: Logger,
    routes: RouteTable = RouteTable(),
    beforeServing: @escaping @Sendable () async throws -> Void = {}
) throws -> some ApplicationProtocol {
    let migrated = MigrationGate()
    let clock = options.clock
    let observed = ServerMetrics(options)
    let cache = KeyCache(store: store, memoryBudget: options.cacheMemory, maximumAge: options.cacheMaximumAge, clock: clock,
                         metrics: observed.metrics)
    let secrets = try SecretBox.load(environment: options.encryptionKey, file: options.resolvedEncryptionKeyFile)
    let policy = WebhookTargetPolicy(allowPrivateTargets: options.allowPrivateWebhookTargets, resolver: options.webhookResolver)
    let deliverer = WebhookDeliverer(store: store, secrets: secrets, policy: policy, schedule: options.webhookRetrySchedule,
                                     pollInterval: options.webhookPollInterval, timeout: options.webhookTimeout, migrated: migrated, logger: logger,
                                     clock: clock, metrics: observed.metrics)
    let retention = WebhookRetention(store: store, retention: options.webhookRetention, interval: options.webhookRetentionInterval,
                                     migrated: migrated, logger: logger, clock: clock)
    let expiry = ExpiryNotifier(store: store, deliverer: deliverer, interval: options.expiryCheckInterval, migrated: migrated, logger: logger,
                                clock: clock, warning: options.expiryWarning)
    let auditRetention = AuditRetention(store: store, auditRetention: options.auditRetention, usageRetention: options.usageRetention,
                                        interval: options.webhookRetentionInterval, migrated: migrated, logger: logger, clock: clock)
    let rateLimiter = RateLimiter(interval: options.rateLimitSyncInterval, clock: clock)
    let rateSync = RateLimitSync(limiter: rateLimiter, store: store, migrated: migrated, logger: logger)
    let usage = UsageRecorder(store: store, interval: options.usageFlushInterval, logger: logger, metrics: observed.metrics)
    let watcher = KeyChangeWatcher(store: store, cache: cache, interval: options.changePollInterval, migrated: migrated, logger: logger)
    let issuer = KeyIssuer(store: store, secretPrefix: options.secretPrefix, clock: clock, activeKeyLimit: options.maxActiveKeysPerWorkspace)
    let managementLimit = WorkspaceRequestLimit(budget: WorkspaceRequestBudget(perSecond: options.managementRequestsPerSecond, clock: clock))
    // A bad file stops start-up here, before anything listens, with the message naming its line.
    let routeRules = try options.routeRulesFile.map { try RouteRulesFile(path: $0) }
    let routeRulesReloader = routeRules.map { RouteRulesReloader(file: $0, logger: logger) }
    if routeRules != nil { RouteRulesReloader.ignoreHangUp() }

    let router = RouteRecorder(router: Router(context: KeysmithRequestContext.self, options: .autoGenerateHeadEndpoints), table: routes)
    router.add(middleware: RequestIDMiddleware())  // first, so that every answer carries the id, errors included
    observed.addMiddleware(to: router)
    router.add(middleware: ErrorMiddleware(routes: routes))
    router.get("/healthz") { _, _ in JSONWriter.response { $0.object { $0.field("status", "ok") } } }
    router.get("/openapi.yaml") { _, _ in try OpenAPIDocument.response() }
    DashboardController().addRoutes(to: router)

    let budget = LookupBudget(perAddress: options.lookupBudget, total: options.unknownKeyLookups, window: options.lookupWindow,
                              maxAddresses: options.lookupAddresses, clock: clock)
    let authenticator = BearerAuthenticator(cache: cache, usage: usage, budget: budget,
                                            proxies: options.trustedProxies, clock: clock, rateLimiter: options.rateLimiter ?? rateLimiter,
                                            metrics: observed.metrics.authentication)
    let v1 = router.group("v1").add(middleware: authenticator).add(middleware: RateLimitHeaders())
    let auth = AuthController(store: store)
    auth.addRoutes(to: v1)
    // Gateways read the error body from a header there, so that header is added outside the authenticator.
    ForwardAuthController(auth: auth, routeRules: routeRules).addRoutes(to: router.group("v1/auth/verify").add(middleware: ForwardAuthErrorHeader()).add(middleware: authenticator)
        .add(middleware: RateLimitHeaders()))
    let apiKeys = v1.group("api-keys").requiring(.admin).add(middleware: managementLimit)
    let keys = KeyService(issuer: issuer, cache: cache, deliverer: deliverer)
    APIKeyController(keys: keys).addRoutes(to: apiKeys)
    KeyLifecycleController(keys: keys).addRoutes(to: apiKeys)
    AuditController(store: store).addRoutes(to: v1.group("audit-events").requiring(.admin).add(middleware: managementLimit))
    WebhookController(store: store, secrets: secrets, policy: policy, deliverer: deliverer, quotas: options.webhookQuotas,
                      clock: clock).addRoutes(to: v1.group("webhooks").requiring(.admin).add(middleware: managementLimit))

    var app = Application(
        router: router.router,
        server: .http1(configuration: .init(idleTimeout: .init(options.idleTimeout))),
        configuration: .init(
            address: .hostname(options.host, port: options.port), serverName: nil,
            availableConnectionsDelegate: MaximumAvailableConnections(options.maxConnections)
        ),
        services: storeServices + [rateSync, watcher, usage, deliverer, expiry, retention, auditRetention]
            + observed.services(cache: cache, deliverer: deliverer, store: store, logger: logger)
            + (routeRulesReloader.map { [$0 as any Service] } ?? []),
        logger: logger
    )
    // Migrations run once the store's services (a PostgreSQL pool) are up, before the first request.
    app.beforeServerStarts {
        try await store.migrate()
        try await store.migrateWebhooks()
        try? await rateLimiter.exchange(with: store)  // learn how many instances share the limits before the first request
        try await WebhookKeyCheck.verify(secrets, store: store)
        migrated.open()
        try await beforeServing()
    }
    return app
}

/// The API contract, served as written.
enum OpenAPIDocument {
    static let bytes: ByteBuffer? = Bundle.module.url(forResource: "openapi", withExtension: "yaml")
        .flatMap { FileManager.default.contents(atPath: $0.path) }
        .map { ByteBuffer(bytes: $0) }

    static func response() throws -> Response {
        guard let bytes else { throw APIError.notFound("the OpenAPI document is not bundled with this build") }
        return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: bytes))
    }
}
