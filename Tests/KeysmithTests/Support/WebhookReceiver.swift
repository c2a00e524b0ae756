import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore

/// A real HTTP receiver on loopback that records every delivery and answers with scripted statuses.
actor WebhookInbox {
    struct Delivery: Sendable {
        /// Header values by lowercased name.
        let headers: [String: String]
        let body: [UInt8]
        var bodyText: String { String(decoding: body, as: UTF8.self) }
        var json: JSON { (try? JSON(ByteBuffer(bytes: body))) ?? JSON(value: NSNull()) }
    }

    private(set) var deliveries: [Delivery] = []
    /// Statuses to answer with, in order; 200 once they run out.
    private var script: [HTTPResponse.Status]

    init(script: [HTTPResponse.Status] = []) { self.script = script }

    func receive(_ delivery: Delivery) -> HTTPResponse.Status {
        deliveries.append(delivery)
        return script.isEmpty ? .ok : script.removeFirst()
    }

    /// Waits until `count` deliveries of `type` (any type when nil) arrived, or `timeout` passed.
    func wait(for count: Int, type: String? = nil, timeout: Duration = .seconds(10)) async throws -> [Delivery] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let matching = deliveries.filter { type == nil || $0.json["type"].string == type }
            if matching.count >= count { return matching }
            try await Task.sleep(for: .milliseconds(20))
        }
        return deliveries.filter { type == nil || $0.json["type"].string == type }
    }
}

/// Runs a receiver application on a free loopback port for the duration of `body`.
func withWebhookReceiver<T: Sendable>(
    _ inbox: WebhookInbox,
    port: Int = 0,
    _ body: @escaping @Sendable (_ url: String) async throws -> T
) async throws -> T {
    let router = Router()
    router.post("/hook") { request, context -> Response in
        let bytes = try await request.body.collect(upTo: 1 << 20)
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
        let status = await inbox.receive(.init(headers: headers, body: Array(buffer: bytes)))
        return Response(status: status)
    }
    var logger = Logger(label: "webhook-receiver")
    logger.logLevel = .warning
    let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: port)),
        onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0) },
        logger: logger
    )
    return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
        group.addTask {
            // A receiver that stops (or never starts) ends the port stream: the test then fails on port 0
            // instead of waiting for a port forever.
            defer { portSink.finish() }
            try await app.run()
        }
        defer { group.cancelAll() }
        var iterator = ports.makeAsyncIterator()
        let bound = await iterator.next() ?? port
        return try await body("http://127.0.0.1:\(bound)/hook")
    }
}
