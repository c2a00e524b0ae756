import CoreMetrics
import Prometheus

/// Everything Keysmith measures, made once through one swift-metrics factory: Prometheus's for
/// `keysmith serve --metrics-port`, a no-op one otherwise, where recording costs a call that does nothing.
///
/// Names follow Prometheus's conventions: the `keysmith_` prefix, `_total` on counters, the base unit
/// (`_seconds`, `_bytes`) in the name. Label values are fixed words or route patterns, never ids. Each
/// application gets the factory it is given, so tests build many apps in one process without the global
/// `MetricsSystem`; the CLI bootstraps that with the same registry, for the metrics of libraries.
public final class KeysmithMetrics: Sendable {
    /// Whether anything is recorded; the HTTP middleware is installed only then.
    let isEnabled: Bool
    let http: HTTPMetrics
    let authentication: AuthenticationMetrics
    let keyCache: KeyCacheMetrics
    let usage: UsageMetrics
    let webhooks: WebhookMetrics
    let sampled: SampledMetrics

    /// Records nothing.
    public static let disabled = KeysmithMetrics(factory: NOOPMetricsHandler.instance, enabled: false)

    /// Records into `registry`, with histogram buckets fit for a service that answers in well under a millisecond.
    public convenience init(registry: PrometheusCollectorRegistry) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        self.init(factory: factory, enabled: true)
    }

    init(factory: any MetricsFactory, enabled: Bool) {
        isEnabled = enabled
        http = HTTPMetrics(factory: factory)
        authentication = AuthenticationMetrics(factory: factory)
        keyCache = KeyCacheMetrics(factory: factory)
        usage = UsageMetrics(factory: factory)
        webhooks = WebhookMetrics(factory: factory)
        sampled = SampledMetrics(factory: factory)
    }

    /// 100 µs to 10 s.
    static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]
}
