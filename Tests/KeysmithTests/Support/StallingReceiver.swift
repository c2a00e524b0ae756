import NIOCore
import NIOPosix
import Synchronization

/// A hostile receiver on real sockets: to every request it answers `200` with `Content-Length: 100`, then
/// sends nothing more and keeps the connection open.
final class StallingReceiver: Sendable {
    let channel: any Channel
    private let requests = Counter()
    var url: String { "http://127.0.0.1:\(channel.localAddress?.port ?? 0)/stall" }
    var requestCount: Int { requests.value.withLock { $0 } }
    /// The first bytes of the first request, as received.
    var firstRequest: String { requests.first.withLock { $0 } }

    init() async throws {
        let counter = requests
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler(counter: counter)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func close() async { try? await channel.close() }

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
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly part of the body"
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: head)), promise: nil)
        }
    }
}

final class Counter: Sendable {
    let value = Mutex(0)
    let first = Mutex("")
}
