/// The `# HELP` text of every metric. swift-prometheus takes help text only through its own registry calls
/// (`makeCounter(name:labels:help:)`), and its swift-metrics factory, which Keysmith and its libraries record
/// through, passes none; a name registered with two different texts is a fatal error there. So the text is
/// added where the exposition is written: one `# HELP` line before each metric's `# TYPE` line.
enum MetricHelp {
    static let text: [String: String] = [
        "keysmith_auth_attempts_total": "Requests that presented credentials, by the step that decided them (outcome).",
        "keysmith_http_requests_total": "HTTP requests answered, by route template, method and status.",
        "keysmith_http_request_duration_seconds": "Time to answer an HTTP request, by route template and method.",
        "keysmith_key_cache_hits_total": "Authentication lookups answered from memory, by entry (a key, or a remembered absence).",
        "keysmith_key_cache_misses_total": "Authentication lookups that read the database, by reason (unknown id, or an entry past its age).",
        "keysmith_key_cache_queries_total": "Database lookups of key ids the cache could not answer, by result (found, or absent).",
        "keysmith_key_cache_entries": "Entries in the key cache (keys and remembered absences).",
        "keysmith_key_cache_memory_bytes": "Estimated memory held by the key cache.",
        "keysmith_change_feed_lag_seconds": "Age of the last successful read of the key change feed.",
        "keysmith_webhook_deliveries_in_flight": "Webhook sends in progress on this instance.",
        "keysmith_webhook_queue_depth": "Webhook deliveries waiting to be sent, all instances together.",
        "keysmith_database_connections_in_use": "Database operations running now, each holding a connection.",
        "keysmith_usage_flush_duration_seconds": "Time to write a batch of recorded key uses to the database.",
        "keysmith_usage_flush_failures_total": "Batches of key uses that could not be written (kept for the next flush).",
        "keysmith_webhook_deliveries_total": "Webhook send attempts, by outcome.",
        "keysmith_webhook_delivery_duration_seconds": "Time of a webhook send attempt, from resolution to the end of the response.",
    ]

    /// The exposition with a `# HELP` line before each `# TYPE` line whose metric has text here.
    static func annotate(_ exposition: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(exposition.count + 2048)
        for line in exposition.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let typePrefix = Array("# TYPE ".utf8)
            if line.starts(with: typePrefix) {
                let name = String(decoding: line.dropFirst(typePrefix.count).prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
                if let help = text[name] { result += Array("# HELP \(name) \(help)\n".utf8) }
            }
            result += line
            result.append(UInt8(ascii: "\n"))
        }
        result.removeLast()  // the split's last piece got a line end it did not have
        return result
    }
}
