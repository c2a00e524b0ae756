import Foundation
import Keysmith
import NIOCore
import Synchronization

/// The nameserver behind a test's webhook hosts, at the resolver's boundary (`WebhookResolver.Lookup`):
/// every name under `.test` is 127.0.0.1, except names killed with `kill`, whose lookups hang as a query to
/// a nameserver that drops them does, until `release()`.
final class TestNameserver: Sendable {
    private let dead = Mutex<Set<String>>([])
    private let released = Mutex(false)
    private let hanging = Mutex((now: 0, peak: 0))

    /// Lookups hanging now, and the most there were at once.
    var lookupsHanging: Int { hanging.withLock { $0.now } }
    var peakLookupsHanging: Int { hanging.withLock { $0.peak } }

    var resolver: WebhookResolver { WebhookResolver(lookup: { host, port in try self.lookup(host: host, port: port) }) }

    func kill(_ host: String) { dead.withLock { _ = $0.insert(host) } }

    /// Lets every hanging lookup (and every later one) end, unresolved.
    func release() { released.withLock { $0 = true } }

    struct NoAnswer: Error {}

    private func lookup(host: String, port: Int) throws -> [SocketAddress] {
        guard dead.withLock({ $0.contains(host) }) else {
            guard host.hasSuffix(".test") else { throw NoAnswer() }
            return [try SocketAddress(ipAddress: "127.0.0.1", port: port)]
        }
        hanging.withLock { hanging in
            hanging.now += 1
            hanging.peak = max(hanging.peak, hanging.now)
        }
        defer { hanging.withLock { $0.now -= 1 } }
        // A thread of the resolver's own, blocked as in getaddrinfo; polled, as it is a test's stand-in.
        while !released.withLock({ $0 }) { usleep(5_000) }
        throw NoAnswer()
    }
}
