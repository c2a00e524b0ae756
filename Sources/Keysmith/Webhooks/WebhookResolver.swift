import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Resolves webhook hosts, each workspace within a bound of its own, and gives up after a timeout.
///
/// A lookup runs on a thread of its own, never on `NIOThreadPool.singleton` (which SQLite uses) nor on a
/// pool shared by every tenant: a nameserver that never answers keeps the thread of each of its lookups
/// until `getaddrinfo` returns, and those lookups count against their workspace's `perWorkspace` until
/// then. So one tenant's dead nameserver fails only that tenant's lookups, and nobody else's.
public final class WebhookResolver: Sendable {
    /// The blocking lookup of a host name (`getaddrinfo` outside tests).
    public typealias Lookup = @Sendable (_ host: String, _ port: Int) throws -> [SocketAddress]

    let lookup: Lookup
    /// Lookups a workspace may have queued or running; past it, its lookups fail at once.
    let perWorkspace: Int
    /// Lookups of every workspace together (each a thread): a bound on threads stuck on dead nameservers.
    let maxPending: Int
    private let pending = Mutex<[String: Int]>([:])

    public static let shared = WebhookResolver()

    public init(perWorkspace: Int = 4, maxPending: Int = 256, lookup: @escaping Lookup = { try WebhookResolver.systemLookup(host: $0, port: $1) }) {
        self.perWorkspace = perWorkspace
        self.maxPending = maxPending
        self.lookup = lookup
    }

    /// Lookups now queued or running, in all.
    var pendingCount: Int { pending.withLock { $0.values.reduce(0, +) } }

    /// Every address of `host` (IP literals included, without a lookup), or an error after `timeout`.
    func resolve(host: String, port: Int, workspaceID: String, timeout: Duration) async throws -> [SocketAddress] {
        if let literal = try? SocketAddress(ipAddress: host, port: port) { return [literal] }
        let admitted = pending.withLock { pending in
            guard pending[workspaceID, default: 0] < perWorkspace, pending.values.reduce(0, +) < maxPending else { return false }
            pending[workspaceID, default: 0] += 1
            return true
        }
        guard admitted else { throw ResolutionFailed.busy }
        let once = OneShot<[SocketAddress]>()
        let thread = Thread { [self] in
            let result = Result { try self.lookup(host, port) }
            self.pending.withLock { pending in
                pending[workspaceID, default: 1] -= 1
                if pending[workspaceID] == 0 { pending[workspaceID] = nil }
            }
            once.complete(result)
        }
        thread.stackSize = 512 * 1024
        thread.start()
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(Int64(timeout.milliseconds) * 1_000_000)) {
            once.complete(.failure(ResolutionFailed.timedOut))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await once.value
        } onCancel: {
            once.complete(.failure(CancellationError()))
        }
    }

    enum ResolutionFailed: Error { case busy, timedOut, noAddress }

    /// `getaddrinfo`: every TCP address of `host`.
    public static func systemLookup(host: String, port: Int) throws -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw ResolutionFailed.noAddress
        }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let address = info.pointee.ai_addr {
                switch Int32(info.pointee.ai_family) {
                case AF_INET:
                    addresses.append(address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                case AF_INET6:
                    addresses.append(address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                default: break
                }
            }
            cursor = info.pointee.ai_next
        }
        guard !addresses.isEmpty else { throw ResolutionFailed.noAddress }
        return addresses
    }
}

/// A value that is set once, by whichever of several racers comes first, and awaited once.
final class OneShot<Value: Sendable>: Sendable {
    private enum State { case empty, waiting(CheckedContinuation<Value, any Error>), done(Result<Value, any Error>) }
    private let state = Mutex<State>(.empty)

    func complete(_ result: Result<Value, any Error>) {
        let waiter: CheckedContinuation<Value, any Error>? = state.withLock { state in
            switch state {
            case .empty: state = .done(result); return nil
            case .waiting(let continuation): state = .done(result); return continuation
            case .done: return nil
            }
        }
        waiter?.resume(with: result)
    }

    var value: Value {
        get async throws {
            try await withCheckedThrowingContinuation { continuation in
                let ready: Result<Value, any Error>? = state.withLock { state in
                    switch state {
                    case .empty: state = .waiting(continuation); return nil
                    case .done(let result): return result
                    case .waiting: return .failure(CancellationError())
                    }
                }
                if let ready { continuation.resume(with: ready) }
            }
        }
    }
}
