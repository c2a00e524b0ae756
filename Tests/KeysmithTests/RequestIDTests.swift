import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@testable import Keysmith

/// `X-Request-Id`: on every response, the client's when it is a sound one, else a new one.
@Suite struct RequestIDTests {
    static let header = HTTPField.Name("X-Request-Id")!

    static func isWellFormed(_ id: String?) -> Bool {
        guard let id, (1...128).contains(id.utf8.count) else { return false }
        return id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._:-".contains($0)) }
    }

    @Test func everyResponseCarriesAGeneratedIDOfItsOwn() async throws {
        try await withApp(.sqlite) { client, ws in
            var seen = Set<String>()
            for (uri, token) in [("/healthz", nil), ("/v1/auth/whoami", ws.adminToken), ("/v1/api-keys", ws.adminToken), ("/healthz", nil)] {
                let (status, _, response) = try await client.call(.get, uri, token: token)
                #expect(status == .ok)
                let id = response.headers[Self.header]
                #expect(Self.isWellFormed(id), "\(uri): \(id ?? "no X-Request-Id")")
                seen.insert(id ?? "")
            }
            #expect(seen.count == 4, "each request gets an id of its own")
        }
    }

    @Test(arguments: ["a", "req-7f3a9c", "2024-03-01T10:00:00.000Z_trace.42", String(repeating: "Z", count: 128)])
    func aSoundIncomingIDIsKept(_ id: String) async throws {
        try await withApp(.sqlite) { client, ws in
            let (status, _, response) = try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken, headers: [Self.header: id])
            #expect(status == .ok)
            #expect(response.headers[Self.header] == id)
        }
    }

    @Test(arguments: [
        String(repeating: "Z", count: 129), "", "has space", "semi;colon", "slash/ed", "quo\"te", "naïve", "line\r\nX-Injected: 1", "tab\there",
    ])
    func anUnsoundIncomingIDIsReplaced(_ id: String) async throws {
        try await withApp(.sqlite) { client, _ in
            let (status, _, response) = try await client.call(.get, "/healthz", token: nil, headers: HTTPFields([HTTPField(name: Self.header, value: id)]))
            #expect(status == .ok)
            let answered = response.headers[Self.header]
            #expect(Self.isWellFormed(answered))
            #expect(answered != id)
            #expect(response.headers[HTTPField.Name("X-Injected")!] == nil)
        }
    }

    @Test func twoIncomingIDsAreReplacedByOne() async throws {
        try await withApp(.sqlite) { client, _ in
            var headers = HTTPFields()
            headers.append(HTTPField(name: Self.header, value: "first"))
            headers.append(HTTPField(name: Self.header, value: "second"))
            let (_, _, response) = try await client.call(.get, "/healthz", token: nil, headers: headers)
            let answered = response.headers[values: Self.header]
            #expect(answered.count == 1 && answered != ["first"] && answered != ["second"] && Self.isWellFormed(answered.first))
        }
    }

    /// Errors are answered with the id too: a missing key, no route, a method the path does not serve,
    /// and the lookup budget's 429.
    @Test func errorsCarryTheID() async throws {
        try await withApp(.sqlite, configure: { $0.lookupBudget = 1; $0.lookupWindow = .seconds(60) }) { client, ws in
            let cases: [(HTTPRequest.Method, String, String?, HTTPResponse.Status)] = [
                (.get, "/v1/api-keys/abcdefghijklmn", ws.adminToken, .notFound),
                (.get, "/v1/auth/whoami", nil, .unauthorized),
                // The first unknown key spends the budget of 1, so the next one is 429.
                (.get, "/v1/auth/whoami", APIKeyToken.generate(prefix: "ks_").bearer, .unauthorized),
                (.get, "/v1/auth/whoami", APIKeyToken.generate(prefix: "ks_").bearer, .tooManyRequests),
                (.get, "/no/such/route", nil, .notFound),
                (.delete, "/healthz", nil, .methodNotAllowed),
            ]
            for (index, (method, uri, token, expected)) in cases.enumerated() {
                let sent = "error-case-\(index)"
                let (status, json, response) = try await client.call(method, uri, token: token, headers: [Self.header: sent])
                #expect(status == expected, "\(method) \(uri)")
                expectErrorShape(json, status: expected)
                #expect(response.headers[Self.header] == sent, "\(method) \(uri) answered \(status.code)")
                let (again, _, generated) = try await client.call(method, uri, token: token)
                #expect(again.code >= 400 && Self.isWellFormed(generated.headers[Self.header]), "\(method) \(uri) without an id of its own")
            }
        }
    }

    /// Behind the middleware, the id is on the context (the audit log reads it there) and in the metadata
    /// of every line logged with the context's logger.
    @Test func theIDIsOnTheContextAndInLogLines() async throws {
        let lines = LogLines()
        let router = Router(context: KeysmithRequestContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.get("/echo") { _, context -> String in
            context.logger.info("handled")
            return context.requestID
        }
        let app = Application(router: router, logger: Logger(label: "request-id-test") { _ in RecordingLogHandler(sink: lines) })
        try await app.test(.router) { client in
            try await client.execute(uri: "/echo", method: .get, headers: [Self.header: "trace-1234"]) { response in
                #expect(String(buffer: response.body) == "trace-1234")
                #expect(response.headers[Self.header] == "trace-1234")
            }
            try await client.execute(uri: "/echo", method: .get) { response in
                let id = String(buffer: response.body)
                #expect(Self.isWellFormed(id) && response.headers[Self.header] == id)
                #expect(lines.requestIDs(of: "handled") == ["trace-1234", id])
            }
        }
    }
}

/// What a `RecordingLogHandler` was given: each line's message and metadata, the logger's own included.
final class LogLines: Sendable {
    private let lines = Mutex<[(message: String, metadata: Logger.Metadata)]>([])

    func append(_ message: String, _ metadata: Logger.Metadata) { lines.withLock { $0.append((message, metadata)) } }

    /// The `request_id` of each line with this message, in order.
    func requestIDs(of message: String) -> [String] {
        lines.withLock { $0.filter { $0.message == message }.map { $0.metadata["request_id"]?.description ?? "none" } }
    }
}

/// A log handler for tests that read log lines; a value, as swift-log requires, writing into one `LogLines`.
struct RecordingLogHandler: LogHandler {
    let sink: LogLines
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        sink.append(event.message.description, metadata.merging(event.metadata ?? [:]) { $1 })
    }
}
