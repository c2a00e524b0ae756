import CoreMetrics
import Metrics
import HTTPTypes
import Synchronization

/// `keysmith_http_requests_total{route, method, status}` and `keysmith_http_request_duration_seconds{route, method}`.
/// `route` is the pattern the router matched (`/v1/api-keys/{id}`), or `unmatched`: never the path itself,
/// so no id or made-up path becomes a series of its own.
final class HTTPMetrics: Sendable {
    private struct RequestKey: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: Int
    }

    private struct RouteKey: Hashable {
        let route: String
        let method: HTTPRequest.Method
    }

    private let factory: any MetricsFactory
    /// Made on first use, then looked up: a series per route, method and status actually seen.
    private let requests = Mutex<[RequestKey: Counter]>([:])
    private let durations = Mutex<[RouteKey: Timer]>([:])

    init(factory: any MetricsFactory) { self.factory = factory }

    func record(route: String?, method: HTTPRequest.Method, status: HTTPResponse.Status, duration: Duration) {
        let route = route.flatMap { $0 == "NotFound" ? nil : $0 } ?? "unmatched"  // "NotFound": Hummingbird's name for no route
        let requestKey = RequestKey(route: route, method: method, status: status.code)
        let counter = requests.withLock { counters in
            if let counter = counters[requestKey] { return counter }
            let counter = Counter(label: "keysmith_http_requests_total",
                                  dimensions: [("route", route), ("method", method.rawValue), ("status", String(status.code))], factory: factory)
            counters[requestKey] = counter
            return counter
        }
        counter.increment()
        let routeKey = RouteKey(route: route, method: method)
        let timer = durations.withLock { timers in
            if let timer = timers[routeKey] { return timer }
            let timer = Timer(label: "keysmith_http_request_duration_seconds", dimensions: [("route", route), ("method", method.rawValue)],
                              factory: factory)
            timers[routeKey] = timer
            return timer
        }
        timer.record(duration: duration)
    }
}
