import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// How one application records and serves its metrics, from `ServerOptions`: into `metricsRegistry`
/// (or a new registry when only `metricsPort` is set), served at `/metrics` when `metricsPort` is set;
/// neither, and nothing is recorded.
struct ServerMetrics {
    let metrics: KeysmithMetrics
    let registry: PrometheusCollectorRegistry?
    let host: String
    let port: Int?

    init(_ options: ServerOptions) {
        registry = options.metricsRegistry ?? options.metricsPort.map { _ in PrometheusCollectorRegistry() }
        metrics = registry.map(KeysmithMetrics.init(registry:)) ?? .disabled
        host = options.metricsHost
        port = options.metricsPort
    }

    /// Counts and times every request, when anything is recorded; added right after `RequestIDMiddleware`.
    func addMiddleware<Context: RequestContext>(to router: some RouterMethods<Context>) {
        guard metrics.isEnabled else { return }
        _ = router.add(middleware: RequestMetricsMiddleware<Context>(metrics: metrics.http))
    }

    /// The `/metrics` listener, when there is a port to serve it on.
    func services(cache: KeyCache, deliverer: WebhookDeliverer, store: any KeyStore, logger: Logger) -> [any Service] {
        guard let registry, let port else { return [] }
        let sampler = MetricsSampler(metrics: metrics.sampled, cache: cache, deliverer: deliverer, store: store, started: cache.clock())
        return [MetricsListener.application(registry: registry, host: host, port: port, logger: logger, beforeScrape: sampler.sample)]
    }
}
