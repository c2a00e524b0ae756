import Hummingbird
import Logging
import NIOCore
import Prometheus

/// `GET /metrics` in Prometheus's text format, on an address of its own (`--metrics-host`, `--metrics-port`),
/// so that it can stay on loopback or an internal network while the API faces clients. A second small
/// Hummingbird application, run as one of the main application's services.
enum MetricsListener {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func application(
        registry: PrometheusCollectorRegistry, host: String, port: Int, logger: Logger, beforeScrape: @escaping @Sendable () async -> Void
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { _, _ in
            await beforeScrape()
            return Response(status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(bytes: MetricHelp.annotate(registry.emitToBuffer()))))
        }
        // Hummingbird's "listening on" line stays the API server's alone (tests and scripts read its port
        // there), so this listener's own start is logged in other words.
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                logger.info("metrics served at http://\(host):\(channel.localAddress?.port ?? port)/metrics")
            },
            logger: quiet
        )
    }
}
