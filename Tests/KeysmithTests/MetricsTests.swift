import AsyncHTTPClient
import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Prometheus
import Testing

@testable import Keysmith
@testable import KeysmithCore

/// `keysmith serve --metrics-port`: Prometheus text on a listener of its own, with the requests by route
/// and status, the authentication outcomes, the key cache, the usage flushes and the webhook deliveries.
@Suite struct MetricsTests {
    /// A token with the key id of `token` and a different, well-formed secret: the checksum holds, the hash does not.
    static func wrongSecret(for token: String) -> String {
        let keyID = String(token.split(separator: ":")[0])
        let body = "ks_" + String(repeating: "x", count: 32)
        return keyID + ":" + body + Base62.encode(CRC32.checksum(Array((keyID + ":" + body).utf8)), width: 6)
    }

    @Test func authenticationOutcomesAndRequestsAreCountedByRoutePattern() async throws {
        let registry = PrometheusCollectorRegistry()
        let id = try await withApp(.sqlite, configure: { $0.metricsRegistry = registry }) { client, ws in
            let (created, revokedToken) = try await client.createKey(ws.adminToken, #"{"name": "to revoke"}"#)
            let id = try #require(created["id"].string)
            for _ in 0..<2 {
                #expect(try await client.call(.get, "/v1/api-keys/\(id)", token: ws.adminToken).status == .ok)
            }
            #expect(try await client.call(.delete, "/v1/api-keys/\(id)", token: ws.adminToken).status == .ok)
            #expect(try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken).status == .ok)
            let (_, readToken) = try await client.createKey(ws.adminToken, #"{"name": "reader", "scope": "read"}"#)
            #expect(try await client.call(.get, "/v1/api-keys", token: readToken).status == .forbidden)
            for token in [revokedToken, "not-a-key", APIKeyToken.generate(prefix: "ks_").bearer, Self.wrongSecret(for: ws.adminToken)] {
                #expect(try await client.call(.get, "/v1/auth/whoami", token: token).status == .unauthorized)
            }
            #expect(try await client.call(.get, "/v1/auth/whoami", token: nil).status == .unauthorized)
            #expect(try await client.call(.get, "/no/such/\(id)", token: nil).status == .notFound)
            return id
        }
        let samples = PrometheusSamples(registry.emitToString())
        let outcomes = ["success": 6, "forbidden": 1, "revoked": 1, "malformed": 1, "unknown_key": 1, "wrong_secret": 1, "missing": 1,
                        "expired": 0, "forbidden_address": 0, "rate_limited": 0, "lookup_budget_exceeded": 0]
        for (outcome, count) in outcomes {
            #expect(samples["keysmith_auth_attempts_total", ["outcome": outcome]] == Double(count), "\(outcome)")
        }
        let requests = [
            ("POST", "/v1/api-keys", "201", 2), ("GET", "/v1/api-keys", "403", 1), ("GET", "/v1/api-keys/{id}", "200", 2), ("DELETE", "/v1/api-keys/{id}", "200", 1),
            ("GET", "/v1/auth/whoami", "200", 1), ("GET", "/v1/auth/whoami", "401", 5), ("GET", "unmatched", "404", 1),
        ]
        for (method, route, status, count) in requests {
            #expect(samples["keysmith_http_requests_total", ["route": route, "method": method, "status": status]] == Double(count),
                    "\(method) \(route) \(status)")
            #expect((samples["keysmith_http_request_duration_seconds_count", ["route": route, "method": method]] ?? 0) >= Double(count))
        }
        #expect(!samples.values.keys.contains { $0.contains(id) || $0.contains("no/such") }, "a path is never a label")
        // Every well-formed token was looked up in the cache once: a hit or a miss.
        let lookups = samples.sum("keysmith_key_cache_hits_total") + samples.sum("keysmith_key_cache_misses_total")
        #expect(lookups == 10)
        #expect((samples["keysmith_key_cache_misses_total", ["reason": "unknown"]] ?? 0) >= 1)
    }

    @Test func usageFlushesAndWebhookDeliveriesAreMeasured() async throws {
        let registry = PrometheusCollectorRegistry()
        let inbox = WebhookInbox(script: [.internalServerError])
        try await withWebhookReceiver(inbox) { url in
            try await withApp(.sqlite, configure: { options in
                WebhookTests.fastWebhooks(&options)
                options.metricsRegistry = registry
            }) { client, ws in
                #expect(try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "\#(url)"}"#).status == .created)
                _ = try await client.createKey(ws.adminToken, #"{"name": "announced"}"#)
                // Cut-offs for a hang, not timings: both attempts take well under a second.
                #expect(try await inbox.wait(for: 2, type: "api_key.created", timeout: .seconds(60)).count == 2)  // a 500, then the retry's 200
                let counted = try await eventually(timeout: .seconds(60)) {
                    let samples = PrometheusSamples(registry.emitToString())
                    return samples["keysmith_webhook_deliveries_total", ["outcome": "succeeded"]] == 1
                        && samples["keysmith_webhook_deliveries_total", ["outcome": "retrying"]] == 1
                        && (samples["keysmith_usage_flush_duration_seconds_count"] ?? 0) >= 1
                }
                #expect(counted, "\(registry.emitToString())")
            }
        }
        let samples = PrometheusSamples(registry.emitToString())
        #expect(samples["keysmith_webhook_deliveries_total", ["outcome": "failed"]] == 0)
        #expect(samples["keysmith_webhook_delivery_duration_seconds_count"] == 2)
        #expect(samples["keysmith_usage_flush_failures_total"] == 0)
    }

    /// The real binary: `/metrics` on the metrics port, in Prometheus's text format, and not on the API's port.
    @Test func keysmithServeServesMetricsOnTheirOwnPortOnly() async throws {
        let database = TemporaryFile.path(suffix: ".sqlite")
        let refused = try KeysmithBinary.run(["serve", "--database", database, "--port", "0", "--metrics-port", "70000"])
        #expect(refused.status != 0 && refused.stderr.contains("--metrics-port must be from 0 to 65535"), "\(refused.stderr)")
        let setup = try KeysmithBinary.run(["workspace", "create", "Acme", "--database", database, "--json"])
        let token = try #require(try JSON(ByteBuffer(string: setup.stdout))["secret"].string, "\(setup.stderr)")

        let server = try ServerProcess(database: database, extraArguments: ["--metrics-port", "0"])
        defer { _ = server.stop() }
        try await server.waitUntilReady()
        try await eventually { Self.metricsPort(in: server.logText) != nil }
        let port = try #require(Self.metricsPort(in: server.logText), "no 'metrics served at' line in: \(server.logText.suffix(2000))")
        #expect(port != server.port)

        for _ in 0..<2 { #expect(try await server.request("GET", "/v1/auth/whoami", token: token).0 == 200) }
        #expect(try await server.request("GET", "/v1/auth/whoami", token: APIKeyToken.generate(prefix: "ks_").bearer).0 == 401)
        #expect(try await server.request("GET", "/metrics").0 == 404, "the API's port does not serve metrics")

        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(10))
        #expect(response.status == .ok)
        #expect(response.headers["Content-Type"] == ["text/plain; version=0.0.4; charset=utf-8"])
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        let samples = PrometheusSamples(text)
        #expect(samples["keysmith_auth_attempts_total", ["outcome": "success"]] == 2, "\(text)")
        #expect(samples["keysmith_auth_attempts_total", ["outcome": "unknown_key"]] == 1)
        #expect(samples["keysmith_http_requests_total", ["route": "/v1/auth/whoami", "method": "GET", "status": "200"]] == 2)
        #expect(samples["keysmith_http_requests_total", ["route": "/v1/auth/whoami", "method": "GET", "status": "401"]] == 1)
        #expect(samples["keysmith_http_requests_total", ["route": "unmatched", "method": "GET", "status": "404"]] == 1)
        #expect(text.contains("# TYPE keysmith_http_requests_total counter"))
        #expect(text.contains("# TYPE keysmith_http_request_duration_seconds histogram"))
        // Every metric says what it is, as Prometheus expects: a HELP line with text right before its TYPE line.
        let lines = text.split(separator: "\n").map(String.init)
        for (index, line) in lines.enumerated() where line.hasPrefix("# TYPE ") {
            let name = line.split(separator: " ")[2]
            let help = index > 0 ? lines[index - 1] : ""
            #expect(help.hasPrefix("# HELP \(name) ") && help.count > "# HELP \(name) ".count + 10, "no HELP for \(name): \(help)")
        }
        // Sampled at the scrape: the feed is polled every 50 ms (a loaded machine may delay a poll, so the
        // bound here only says the gauge is the feed's age, not a figure of some other unit).
        #expect((samples["keysmith_change_feed_lag_seconds"] ?? 99) < 10)
        #expect((samples["keysmith_key_cache_entries"] ?? 0) >= 1)
        #expect(samples["keysmith_webhook_deliveries_in_flight"] == 0)
        #expect(samples["keysmith_webhook_queue_depth"] == 0, "no endpoint, nothing queued")
        #expect(samples["keysmith_database_connections_in_use"] != nil)
    }

    /// The port of the listener's "metrics served at http://HOST:PORT/metrics" line.
    static func metricsPort(in log: String) -> Int? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("metrics served at") }),
              let url = line.split(separator: " ").first(where: { $0.hasPrefix("http://") }),
              let port = url.split(separator: ":").last?.split(separator: "/").first
        else { return nil }
        return Int(port)
    }
}

/// The samples of a Prometheus text exposition, by series: `name{label="value",...}` with the labels sorted.
struct PrometheusSamples {
    private(set) var values: [String: Double] = [:]

    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            guard let open = series.firstIndex(of: "{") else {
                values[String(series)] = value
                continue
            }
            values[Self.key(String(series[..<open]), Self.labels(series[series.index(after: open)...].dropLast()))] = value
        }
    }

    subscript(name: String, labels: [String: String] = [:]) -> Double? { values[Self.key(name, labels)] }

    /// The total of every series of `name`.
    func sum(_ name: String) -> Double {
        values.filter { $0.key == name || $0.key.hasPrefix(name + "{") }.values.reduce(0, +)
    }

    private static func key(_ name: String, _ labels: [String: String]) -> String {
        labels.isEmpty ? name : name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",") + "}"
    }

    /// `a="x",b="y"`, with `\"` and `\\` escapes in the values.
    private static func labels(_ text: Substring) -> [String: String] {
        var labels: [String: String] = [:]
        var rest = text[...]
        while let equals = rest.firstIndex(of: "=") {
            let name = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ", "))
            var value = ""
            var index = rest.index(equals, offsetBy: 2)  // past `="`
            while index < rest.endIndex, rest[index] != "\"" {
                if rest[index] == "\\", rest.index(after: index) < rest.endIndex { index = rest.index(after: index) }
                value.append(rest[index])
                index = rest.index(after: index)
            }
            labels[name] = value
            rest = index < rest.endIndex ? rest[rest.index(after: index)...] : ""
        }
        return labels
    }
}
