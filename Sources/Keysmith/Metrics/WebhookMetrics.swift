import CoreMetrics
import Metrics

/// `keysmith_webhook_deliveries_total{outcome}` (each attempt, by what came of it) and
/// `keysmith_webhook_delivery_duration_seconds` (the whole send), by `WebhookDeliverer`.
struct WebhookMetrics: Sendable {
    private let succeeded: Counter
    private let retrying: Counter
    private let failed: Counter
    private let gone: Counter
    let duration: Timer

    static let disabled = WebhookMetrics(factory: NOOPMetricsHandler.instance)

    init(factory: any MetricsFactory) {
        func counter(_ outcome: String) -> Counter {
            Counter(label: "keysmith_webhook_deliveries_total", dimensions: [("outcome", outcome)], factory: factory)
        }
        succeeded = counter("succeeded")
        retrying = counter("retrying")  // failed, and will be tried again
        failed = counter("failed")  // failed, no tries left
        gone = counter("gone")  // 410: the endpoint is disabled
        duration = Timer(label: "keysmith_webhook_delivery_duration_seconds", factory: factory)
    }

    func record(_ outcome: DeliveryOutcome, after elapsed: Duration) {
        switch outcome {
        case .succeeded: succeeded.increment()
        case .retry: retrying.increment()
        case .failed: failed.increment()
        case .gone: gone.increment()
        }
        duration.record(duration: elapsed)
    }
}
