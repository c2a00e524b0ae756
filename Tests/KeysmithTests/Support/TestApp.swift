import Foundation
import Hummingbird
import HummingbirdTesting
import Keysmith
import Logging
import NIOCore
import Testing

/// The databases every behaviour test runs against: a fresh SQLite file always, and the PostgreSQL server
/// started by `scripts/test.sh` when `KEYSMITH_TEST_POSTGRES_URL` is set.
enum Backend: String, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    static let postgresURL = ProcessInfo.processInfo.environment["KEYSMITH_TEST_POSTGRES_URL"]
    static let available: [Backend] = postgresURL == nil ? [.sqlite] : [.sqlite, .postgres]

    var testDescription: String { rawValue }

    /// A new, empty store location: a new SQLite file, or a new database on the test PostgreSQL server,
    /// so that no test's background services (webhook delivery above all) see another test's rows.
    func freshLocation() -> StoreLocation {
        switch self {
        case .sqlite: return .sqlite(path: TemporaryFile.path(suffix: ".sqlite"))
        case .postgres: return .postgres(url: Backend.createPostgresDatabase())
        }
    }

    /// Creates a database with `psql` and returns its URL.
    static func createPostgresDatabase() -> String {
        let base = postgresURL!
        let name = "ks_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", base, "-qc", "CREATE DATABASE \(name)"]
        try? process.run()
        process.waitUntilExit()
        var components = URLComponents(string: base)!
        components.path = "/" + name
        // Hundreds of tests run at once, each with a pool of its own: a small one keeps them all under
        // the test server's max_connections. Under that load a request may queue for a connection for
        // longer than the production bound of 5 s, which is about an unreachable database (tested on
        // its own, in tests/integration/test_multi_instance.py), not what these tests are about: the
        // longest wait the URL allows, 120 s, only ends a wait that would otherwise be endless.
        components.queryItems = (components.queryItems ?? []) + [
            URLQueryItem(name: "pool_size", value: "8"), URLQueryItem(name: "pool_timeout", value: "120"),
        ]
        return components.string!
    }
}

enum TemporaryFile {
    static func path(suffix: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("keysmith-test-\(UUID().uuidString)\(suffix)").path
    }
}

/// A workspace of the test's own and its first admin key.
struct TestWorkspace: Sendable {
    let workspace: Workspace
    let adminKeyID: String
    let adminToken: String
    let store: any KeyStore

    var bearer: HTTPFields { [.authorization: "Bearer \(adminToken)"] }
}

/// Builds the real application on a real store and runs `body` against it.
func withApp<T: Sendable>(
    _ backend: Backend,
    location: StoreLocation? = nil,
    framework: TestingSetup = .router,
    configure: (inout ServerOptions) -> Void = { _ in },
    logger: Logger = Logger(label: "keysmith-test"),
    routes: RouteTable = RouteTable(),
    _ body: @escaping @Sendable (any TestClientProtocol, TestWorkspace) async throws -> T
) async throws -> T {
    var options = ServerOptions()
    options.port = 0
    options.usageFlushInterval = .milliseconds(100)
    options.encryptionKeyFile = TemporaryFile.path(suffix: ".key")
    configure(&options)
    let location = if let location { location } else { await offThePool { backend.freshLocation() } }
    let (store, services) = try await location.open(logger: logger)
    // Closed on every path: a store left open when a test throws would trap in its deinit and end the run.
    do {
        let app = try buildApplication(options: options, store: store, storeServices: services, logger: logger, routes: routes)
        let result = try await app.test(framework) { client in
            let (workspace, key, token) = try await KeyIssuer(store: store).createWorkspace(named: "test-\(UUID().uuidString.prefix(12))")
            return try await body(client, TestWorkspace(workspace: workspace, adminKeyID: key.id, adminToken: token.bearer, store: store))
        }
        try await store.close()
        return result
    } catch {
        try? await store.close()
        throw error
    }
}

/// Runs blocking work (`psql` creating a test database) on a thread of its own. On the concurrency pool
/// (two threads on a two-core machine) the waits of the dozens of tests that start at once stalled every
/// test's async work, background services and deadline waits included, for seconds.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}

/// A parsed JSON body.
struct JSON: @unchecked Sendable {
    let value: Any

    init(_ buffer: ByteBuffer) throws {
        value = try JSONSerialization.jsonObject(with: Data(buffer: buffer), options: [.fragmentsAllowed])
    }

    init(value: Any) { self.value = value }

    subscript(key: String) -> JSON { JSON(value: (value as? [String: Any])?[key] ?? NSNull()) }
    subscript(index: Int) -> JSON { JSON(value: (value as? [Any]).flatMap { index < $0.count ? $0[index] : nil } ?? NSNull()) }

    var string: String? { value as? String }
    var int: Int? { (value as? NSNumber).map(\.intValue) }
    var bool: Bool? { value as? Bool }
    var isNull: Bool { value is NSNull }
    var array: [JSON] { (value as? [Any])?.map { JSON(value: $0) } ?? [] }
    var keys: Set<String> { Set((value as? [String: Any])?.keys.map { $0 } ?? []) }
}

extension TestClientProtocol {
    /// Sends a request with an optional JSON body and returns status and parsed body.
    func call(
        _ method: HTTPRequest.Method, _ uri: String, token: String?, body: String? = nil, headers extra: HTTPFields = [:]
    ) async throws -> (status: HTTPResponse.Status, json: JSON, response: TestResponse) {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if body != nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
            let json = (try? JSON(response.body)) ?? JSON(value: NSNull())
            return (response.status, json, response)
        }
    }

    /// Creates a key through the API and returns its JSON and bearer token.
    func createKey(_ token: String, _ body: String) async throws -> (json: JSON, token: String) {
        let (status, json, response) = try await call(.post, "/v1/api-keys", token: token, body: body)
        #expect(status == .created, "create failed: \(String(buffer: response.body))")
        return (json, try #require(json["secret"].string))
    }
}

/// The exact 401 body of seed 001.
let unauthorizedBody = #"{"statusCode":401,"message":"Unauthorized","error":"Unauthorized"}"#

/// The seeds' error shape: exactly `statusCode`, `message` and `error`, with the status repeated.
func expectErrorShape(_ json: JSON, status: HTTPResponse.Status, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(json.keys == ["statusCode", "message", "error"], sourceLocation: sourceLocation)
    #expect(json["statusCode"].int == status.code, sourceLocation: sourceLocation)
    #expect(json["error"].string == status.reasonPhrase, sourceLocation: sourceLocation)
    #expect(!(json["message"].string ?? "").isEmpty, sourceLocation: sourceLocation)
}

/// Polls `condition` until it holds or `timeout` passes, for effects of background services (usage
/// flushes, webhook attempts) whose timing depends on the machine's load. The deadline only ends a wait that
/// would otherwise be endless, so it is generous; when it passes, the test fails here, naming the caller.
@discardableResult
func eventually(
    timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: @Sendable () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(25))
    }
    if try await condition() { return true }
    Issue.record("the condition did not hold within \(timeout)", sourceLocation: sourceLocation)
    return false
}
