import CoreMetrics

/// `keysmith_key_cache_hits_total{entry}` (a fresh key, or an id known not to exist) and
/// `keysmith_key_cache_misses_total{reason}` (an id not in memory, or one to be read again), by
/// `KeyCache.lookup`; `keysmith_key_cache_queries_total{result}`: the database reads of the miss path, by
/// whether they found the key (`found`) or not (`absent`).
struct KeyCacheMetrics: Sendable {
    let keyHits: Counter
    let absentHits: Counter
    let unknownMisses: Counter
    let staleMisses: Counter
    let foundQueries: Counter
    let absentQueries: Counter

    static let disabled = KeyCacheMetrics(factory: NOOPMetricsHandler.instance)

    init(factory: any MetricsFactory) {
        keyHits = Counter(label: "keysmith_key_cache_hits_total", dimensions: [("entry", "key")], factory: factory)
        absentHits = Counter(label: "keysmith_key_cache_hits_total", dimensions: [("entry", "absent")], factory: factory)
        unknownMisses = Counter(label: "keysmith_key_cache_misses_total", dimensions: [("reason", "unknown")], factory: factory)
        staleMisses = Counter(label: "keysmith_key_cache_misses_total", dimensions: [("reason", "stale")], factory: factory)
        foundQueries = Counter(label: "keysmith_key_cache_queries_total", dimensions: [("result", "found")], factory: factory)
        absentQueries = Counter(label: "keysmith_key_cache_queries_total", dimensions: [("result", "absent")], factory: factory)
    }

    func record(_ lookup: KeyCache.Lookup) {
        switch lookup {
        case .hit: keyHits.increment()
        case .absent: absentHits.increment()
        case .unknown: unknownMisses.increment()
        case .stale: staleMisses.increment()
        }
    }

    func recordQuery(found: Bool) {
        (found ? foundQueries : absentQueries).increment()
    }
}
