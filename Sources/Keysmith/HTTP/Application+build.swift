import Foundation
import Hummingbird
import Logging
import NIOCore
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

    public init() {}
}

/// Builds the application around an open store: the router, the authentication path, and the services
/// (usage flushing, cache invalidation) that run beside the HTTP server.
public func buildApplication(
    options: ServerOptions,
    store: any KeyStore,
    storeServices: [any Service] = [],
    logger: Logger,
    beforeServing: @escaping @Sendable () async throws -> Void = {}
) -> some ApplicationProtocol {
    let cache = KeyCache(store: store)
    let usage = UsageRecorder(store: store, interval: options.usageFlushInterval, logger: logger)
    let watcher = KeyChangeWatcher(store: store, cache: cache, interval: options.changePollInterval, logger: logger)
    let issuer = KeyIssuer(store: store, secretPrefix: options.secretPrefix)

    let router = Router(context: KeysmithRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    router.get("/healthz") { _, _ in JSONWriter.response { $0.object { $0.field("status", "ok") } } }
    router.get("/openapi.yaml") { _, _ in try OpenAPIDocument.response() }
    DashboardController().addRoutes(to: router)

    let v1 = router.group("v1").add(middleware: BearerAuthenticator(cache: cache, usage: usage))
    AuthController(store: store).addRoutes(to: v1)
    APIKeyController(issuer: issuer, cache: cache).addRoutes(to: v1.group("api-keys"))

    var app = Application(
        router: router,
        configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
        services: storeServices + [watcher, usage],
        logger: logger
    )
    // Migrations run once the store's services (a PostgreSQL pool) are up, before the first request.
    app.beforeServerStarts {
        try await store.migrate()
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
