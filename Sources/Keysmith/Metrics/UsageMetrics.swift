import CoreMetrics

/// `keysmith_usage_flush_duration_seconds` (each batch of last uses written) and
/// `keysmith_usage_flush_failures_total` (batches kept for the next try), by `UsageRecorder`.
struct UsageMetrics: Sendable {
    let flushDuration: Timer
    let flushFailures: Counter

    static let disabled = UsageMetrics(factory: NOOPMetricsHandler.instance)

    init(factory: any MetricsFactory) {
        flushDuration = Timer(label: "keysmith_usage_flush_duration_seconds", factory: factory)
        flushFailures = Counter(label: "keysmith_usage_flush_failures_total", factory: factory)
    }
}
