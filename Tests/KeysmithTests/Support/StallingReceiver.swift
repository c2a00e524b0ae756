import NIOCore
import NIOPosix
import Synchronization

/// A hostile receiver on real sockets: to every request it answers `200` with `Content-Length: 100`, then
/// sends nothing more and keeps the connection open.
///
/// It counts the requests it got, and the ones in flight: those whose connection the sender has not
/// closed yet (with the most there were at once), which is what a sender's in-flight limit bounds.
final class StallingReceiver: Sendable {
    let channel: any Channel
    private let requests = Counter()
    var url: String { "http://127.0.0.1:\(channel.localAddress?.port ?? 0)/stall" }
    var requestCount: Int { requests.value.withLock { $0 } }
    /// Requests received whose connection is still open, now and at most.
    var inFlight: Int { requests.open.withLock { $0.now } }
    var peakInFlight: Int { requests.open.withLock { $0.peak } }
    /// The first bytes of the first request, as received.
    var firstRequest: String { requests.first.withLock { $0 } }

    init() async throws {
        let counter = requests
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                counter.connections.withLock { $0.append(channel) }
                return channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler(counter: counter)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    /// Stops listening and closes every connection: a sender's stalled sends end now (connection closed), and
    /// new ones are refused.
    func close() async {
        try? await channel.close()
        for connection in requests.connections.withLock({ $0 }) { try? await connection.close() }
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let counter: Counter
        var answered = false
        init(counter: Counter) { self.counter = counter }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !answered else { return }
            answered = true
            let text = String(buffer: unwrapInboundIn(data))
            counter.first.withLock { if $0.isEmpty { $0 = text } }
            counter.value.withLock { $0 += 1 }
            counter.open.withLock { open in
                open.now += 1
                open.peak = max(open.peak, open.now)
            }
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly part of the body"
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: head)), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            if answered { counter.open.withLock { $0.now -= 1 } }
            context.fireChannelInactive()
        }
    }
}

final class Counter: Sendable {
    let value = Mutex(0)
    let first = Mutex("")
    let open = Mutex((now: 0, peak: 0))
    let connections = Mutex<[any Channel]>([])
}
