import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Resolves webhook hosts on threads of its own, never on `NIOThreadPool.singleton` (which SQLite uses), and
/// gives up after a timeout: a nameserver that never answers costs one of these threads, not the database.
public final class WebhookResolver: Sendable {
    /// Blocking `getaddrinfo` calls run here; kept for the life of the process, like `NIOThreadPool.singleton`.
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()
    /// Lookups queued or running; past `maxPending` a lookup fails at once instead of queueing behind stuck ones.
    private static let pending = Atomic<Int>(0)
    static let maxPending = 64

    public static let shared = WebhookResolver()

    /// Every address of `host` (IP literals included), or an error after `timeout`.
    func resolve(host: String, port: Int, timeout: Duration) async throws -> [SocketAddress] {
        guard Self.pending.add(1, ordering: .relaxed).newValue <= Self.maxPending else {
            Self.pending.subtract(1, ordering: .relaxed)
            throw ResolutionFailed.busy
        }
        let once = OneShot<[SocketAddress]>()
        let lookup = Self.pool.runIfActive(eventLoop: MultiThreadedEventLoopGroup.singleton.any()) {
            try Self.lookup(host: host, port: port)
        }
        lookup.whenComplete { result in
            Self.pending.subtract(1, ordering: .relaxed)
            once.complete(result.mapError { $0 })
        }
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

    static func lookup(host: String, port: Int) throws -> [SocketAddress] {
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
