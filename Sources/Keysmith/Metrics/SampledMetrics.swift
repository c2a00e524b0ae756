import CoreMetrics

/// Gauges read when `/metrics` is scraped rather than kept up to date on every change: the key cache's
/// size, the change feed's lag, the webhook sends in flight and queued, and the database operations
/// running (connections in use).
struct SampledMetrics: Sendable {
    let cacheEntries: Gauge
    let cacheBytes: Gauge
    let changeFeedLag: Gauge
    let webhookSendsInFlight: Gauge
    let webhookQueueDepth: Gauge
    let databaseOperationsInFlight: Gauge

    init(factory: any MetricsFactory) {
        cacheEntries = Gauge(label: "keysmith_key_cache_entries", factory: factory)
        cacheBytes = Gauge(label: "keysmith_key_cache_memory_bytes", factory: factory)
        changeFeedLag = Gauge(label: "keysmith_change_feed_lag_seconds", factory: factory)
        webhookSendsInFlight = Gauge(label: "keysmith_webhook_deliveries_in_flight", factory: factory)
        webhookQueueDepth = Gauge(label: "keysmith_webhook_queue_depth", factory: factory)
        databaseOperationsInFlight = Gauge(label: "keysmith_database_connections_in_use", factory: factory)
    }
}

/// Fills `SampledMetrics` from the running services, just before each scrape.
struct MetricsSampler: Sendable {
    let metrics: SampledMetrics
    let cache: KeyCache
    let deliverer: WebhookDeliverer
    let store: any KeyStore
    /// Stands in for the last poll until the first one: the feed is as far behind as the server is old.
    let started: Timestamp

    func sample() async {
        metrics.cacheEntries.record(cache.count)
        metrics.cacheBytes.record(cache.memoryUsed)
        // Time since the last successful poll of the change feed began, on the application's clock.
        let lastPoll = cache.lastSynchronised ?? started
        metrics.changeFeedLag.record(Double(max(0, cache.clock().milliseconds - lastPoll.milliseconds)) / 1000)
        metrics.webhookSendsInFlight.record(deliverer.sendsInFlight)
        metrics.databaseOperationsInFlight.record(store.operationsInFlight)
        // One count query per scrape; a database out of reach leaves the last figure (the pool gives up in 5 s).
        if let depth = try? await store.pendingDeliveryCount() { metrics.webhookQueueDepth.record(depth) }
    }
}
