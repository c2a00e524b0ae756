import AsyncHTTPClient
import NIOCore
import Synchronization

/// HTTP clients that each connect one host name to one checked address.
///
/// AsyncHTTPClient 1.37 pins a name to an address only per client (`Configuration.dnsOverride`, which keeps
/// the Host header and TLS SNI), and its pool keys connections by that pinned target anyway; so one client
/// per (host, address) keeps connection reuse, and idle ones are shut down.
final class PinnedHTTPClients: Sendable {
    private struct Entry {
        let client: HTTPClient
        var users: Int
        var lastUsed: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    /// Idle clients beyond this many are shut down, oldest first.
    let maxIdle = 32
    let idleTimeout: Duration = .seconds(60)
    /// The most sends in flight at once (the deliverer's slots), so also the most connections one client needs.
    let connectionsPerHost: Int

    init(connectionsPerHost: Int) { self.connectionsPerHost = connectionsPerHost }

    /// A client for `target`, to be given back with `release`.
    func acquire(_ target: WebhookTargetPolicy.Target) -> HTTPClient {
        let key = target.host + "|" + target.address
        let now = ContinuousClock.now
        let (client, retired): (HTTPClient, [HTTPClient]) = entries.withLock { entries in
            let client: HTTPClient
            if var entry = entries[key] {
                entry.users += 1
                entry.lastUsed = now
                entries[key] = entry
                client = entry.client
            } else {
                client = Self.makeClient(target, connectionsPerHost: connectionsPerHost)
                entries[key] = Entry(client: client, users: 1, lastUsed: now)
            }
            return (client, Self.retire(from: &entries, now: now, maxIdle: maxIdle, idleTimeout: idleTimeout))
        }
        for old in retired { old.shutdown { _ in } }
        return client
    }

    func release(_ target: WebhookTargetPolicy.Target) {
        let key = target.host + "|" + target.address
        entries.withLock { entries in
            guard var entry = entries[key] else { return }
            entry.users -= 1
            entry.lastUsed = .now
            entries[key] = entry
        }
    }

    /// Shuts every client down; call once no send is running.
    func shutdown() async {
        let all = entries.withLock { entries in
            defer { entries = [:] }
            return entries.values.map(\.client)
        }
        for client in all { try? await client.shutdown() }
    }

    private static func retire(from entries: inout [String: Entry], now: ContinuousClock.Instant, maxIdle: Int, idleTimeout: Duration) -> [HTTPClient] {
        var idle = entries.filter { $0.value.users == 0 }.sorted { $0.value.lastUsed < $1.value.lastUsed }
        var retired: [HTTPClient] = []
        while let oldest = idle.first, idle.count > maxIdle || now - oldest.value.lastUsed > idleTimeout {
            retired.append(oldest.value.client)
            entries[oldest.key] = nil
            idle.removeFirst()
        }
        return retired
    }

    private static func makeClient(_ target: WebhookTargetPolicy.Target, connectionsPerHost: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)), decompression: .disabled)
        // A refused connection is a failed attempt now, not retried inside the client until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        // Endpoints (of any tenants) on one host share this client: its pool must never queue one endpoint's send
        // behind another's stalled ones. The deliverer's own limits bound the connections (at most `connectionsPerHost`).
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connectionsPerHost
        if target.host != target.address { configuration.dnsOverride = [target.host: target.address] }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}
