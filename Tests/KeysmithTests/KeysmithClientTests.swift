import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KeysmithClient
import Testing

/// `KeysmithClient`'s middleware in a real Hummingbird application, asking a real `keysmith serve`.
@Suite struct KeysmithClientTests {
    /// The application a platform team would write: its routes see who called.
    static func application(keysmith: String) -> some ApplicationProtocol {
        let router = Router(context: BasicKeysmithIdentityContext.self)
        router.add(middleware: KeysmithAuthMiddleware(keysmithURL: keysmith))
        let whoCalled: @Sendable (Request, BasicKeysmithIdentityContext) async throws -> String = { request, context in
            guard let identity = context.keysmithIdentity else { return "no identity" }
            return "\(request.method) \(identity.keyID) \(identity.workspaceID) \(identity.scope) \(identity.permissions.joined(separator: ",")) \(identity.serviceAccountID ?? "-")"
        }
        router.get("/v1/agents2", use: whoCalled)
        router.get("/v1/headers") { request, _ in
            request.headers.filter { $0.name.canonicalName.hasPrefix("x-keysmith-") }.map { "\($0.name)=\($0.value)" }.joined(separator: ";")
        }
        router.post("/v1/agents2", use: whoCalled)
        router.group("/v1/calls")
            .add(middleware: KeysmithAuthMiddleware(keysmithURL: keysmith, requiredPermissions: ["calls.write"]))
            .post(use: whoCalled)
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    @Test func aHummingbirdAppSeesTheCallerAndPassesKeysmithsRefusalsOn() async throws {
        let database = TemporaryFile.path(suffix: ".sqlite")
        let workspace = try KeysmithBinary.run(["workspace", "create", "client", "--database", database, "--json"])
        #expect(workspace.status == 0, "\(workspace.stderr)")
        let admin = try #require(try JSON(ByteBuffer(string: workspace.stdout))["secret"].string)
        let keysmith = try ServerProcess(database: database)
        try await keysmith.waitUntilReady()
        func create(_ body: String) async throws -> JSON {
            let (status, text) = try await keysmith.request("POST", "/v1/api-keys", token: admin, body: body)
            #expect(status == 201, "\(text)")
            return try JSON(ByteBuffer(string: text))
        }
        let reader = try await create(#"{"name": "reader", "scope": "read", "service_account_id": "svc-dash", "permissions": ["agents.*"]}"#)
        let writer = try await create(#"{"name": "writer", "scope": "read-write", "permissions": ["calls.*"]}"#)
        let agents = try await create(#"{"name": "agents", "scope": "read-write", "permissions": ["agents.*"]}"#)
        let readerToken = try #require(reader["secret"].string), writerToken = try #require(writer["secret"].string)
        let agentsToken = try #require(agents["secret"].string)

        try await Self.application(keysmith: keysmith.baseURL).test(.live) { client in
            func call(_ method: HTTPRequest.Method, _ uri: String, _ token: String?) async throws -> (HTTPResponse.Status, String, HTTPFields) {
                let headers: HTTPFields = token.map { [.authorization: "Bearer \($0)"] } ?? [:]
                return try await client.execute(uri: uri, method: method, headers: headers) { ($0.status, String(buffer: $0.body), $0.headers) }
            }
            // The identity reaches the handler.
            let (status, body, _) = try await call(.get, "/v1/agents2", readerToken)
            #expect(status == .ok)
            #expect(body == "GET \(reader["id"].string!) \(reader["workspace_id"].string!) read agents.* svc-dash")
            let (adminStatus, adminBody, _) = try await call(.post, "/v1/agents2", admin)
            #expect(adminStatus == .ok && adminBody.hasPrefix("POST ") && adminBody.hasSuffix(" admin * -"), "\(adminBody)")

            // Keysmith's refusals, as Keysmith sent them.
            for token in [nil, "abcdefghijklmn:123456a1b1234b", admin + "x"] {
                let (refused, text, headers) = try await call(.get, "/v1/agents2", token)
                #expect(refused == .unauthorized)
                #expect(text == unauthorizedBody)
                #expect(headers[.wwwAuthenticate] == "Bearer")
            }
            let (forbidden, reason, _) = try await call(.post, "/v1/agents2", readerToken)
            #expect(forbidden == .forbidden)
            #expect(reason.contains("scope 'read'") && reason.contains(#""statusCode":403"#), "\(reason)")

            // A route that needs a permission.
            let (noPermission, why, _) = try await call(.post, "/v1/calls", agentsToken)
            #expect(noPermission == .forbidden && why.contains("calls.write"), "\(why)")
            let (permitted, _, _) = try await call(.post, "/v1/calls", writerToken)
            #expect(permitted == .ok)

            // No cache in the client: a revoked key is refused on its next request.
            let (revoked, _) = try await keysmith.request("DELETE", "/v1/api-keys/\(writer["id"].string!)", token: admin)
            #expect(revoked == 200)
            let (afterRevoke, text, _) = try await call(.post, "/v1/calls", writerToken)
            #expect(afterRevoke == .unauthorized && text == unauthorizedBody)

            // Keysmith gone: 503 in the seeds' shape, and no secret in what the server logged.
            _ = keysmith.stop()
            let (unavailable, unavailableBody, headers) = try await call(.get, "/v1/agents2", readerToken)
            #expect(unavailable == .serviceUnavailable)
            #expect(unavailableBody.contains(#""statusCode":503"#) && headers[.retryAfter] != nil)
        }
    }

    /// A key past its rate limit gets Keysmith's 429 with `Retry-After` through the middleware.
    @Test func aKeyPastItsRateLimitGets429WithRetryAfter() async throws {
        let database = TemporaryFile.path(suffix: ".sqlite")
        let workspace = try KeysmithBinary.run(["workspace", "create", "client", "--database", database, "--json"])
        let admin = try #require(try JSON(ByteBuffer(string: workspace.stdout))["secret"].string)
        let keysmith = try ServerProcess(database: database)
        try await keysmith.waitUntilReady()
        defer { _ = keysmith.stop() }
        let (status, text) = try await keysmith.request("POST", "/v1/api-keys", token: admin, body: #"{"name": "limited", "rate_limit": {"limit": 2, "window_seconds": 60}}"#)
        #expect(status == 201)
        let token = try #require(try JSON(ByteBuffer(string: text))["secret"].string)
        try await Self.application(keysmith: keysmith.baseURL).test(.live) { client in
            var statuses: [HTTPResponse.Status] = []
            var last: (String, HTTPFields) = ("", [:])
            for _ in 0..<3 {
                try await client.execute(uri: "/v1/agents2", method: .get, headers: [.authorization: "Bearer \(token)"]) { response in
                    statuses.append(response.status)
                    last = (String(buffer: response.body), response.headers)
                }
            }
            #expect(statuses == [.ok, .ok, .tooManyRequests])
            #expect(last.0 == #"{"statusCode":429,"message":"Too Many Requests","error":"Too Many Requests"}"#)
            #expect(Int(last.1[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(last.1[HTTPField.Name("RateLimit-Limit")!] == "2")
        }
    }

    /// Keysmith sees the client's address, not the service's: the service is Keysmith's trusted proxy and
    /// passes the chain on. And a client cannot speak for Keysmith with headers of its own.
    @Test func theClientsAddressReachesKeysmithAndItsOwnKeysmithHeadersDoNotReachTheHandlers() async throws {
        let database = TemporaryFile.path(suffix: ".sqlite")
        let workspace = try KeysmithBinary.run(["workspace", "create", "client", "--database", database, "--json"])
        let admin = try #require(try JSON(ByteBuffer(string: workspace.stdout))["secret"].string)
        let keysmith = try ServerProcess(database: database, extraArguments: ["--trusted-proxy", "127.0.0.0/8"])
        try await keysmith.waitUntilReady()
        defer { _ = keysmith.stop() }
        let (status, text) = try await keysmith.request("POST", "/v1/api-keys", token: admin, body: #"{"name": "office", "allowed_ips": ["203.0.113.0/24"]}"#)
        #expect(status == 201)
        let token = try #require(try JSON(ByteBuffer(string: text))["secret"].string)
        let forwardedFor = HTTPField.Name("X-Forwarded-For")!
        try await Self.application(keysmith: keysmith.baseURL).test(.live) { client in
            // The chain a trusted load balancer in front of the service would write, then the service's peer.
            let inside = try await client.execute(uri: "/v1/agents2", method: .get,
                                                  headers: [.authorization: "Bearer \(token)", forwardedFor: "203.0.113.9"]) { $0.status }
            #expect(inside == .ok)
            let outside = try await client.execute(uri: "/v1/agents2", method: .get,
                                                   headers: [.authorization: "Bearer \(token)", forwardedFor: "198.51.100.1"]) { ($0.status, String(buffer: $0.body)) }
            #expect(outside.0 == .forbidden && outside.1.contains("allowed_ips"), "\(outside.1)")
            // Without a chain, Keysmith sees the service's peer (here 127.0.0.1), outside the key's networks.
            let direct = try await client.execute(uri: "/v1/agents2", method: .get, headers: [.authorization: "Bearer \(token)"]) { $0.status }
            #expect(direct == .forbidden)

            let forged: HTTPFields = [.authorization: "Bearer \(admin)", HTTPField.Name("X-Keysmith-Key-Id")!: "forged",
                                      HTTPField.Name("X-Keysmith-Scope")!: "admin", HTTPField.Name("x-keysmith-permissions")!: "*"]
            let seen = try await client.execute(uri: "/v1/headers", method: .get, headers: forged) { ($0.status, String(buffer: $0.body)) }
            #expect(seen.0 == .ok && seen.1.isEmpty, "the handler saw: \(seen.1)")
        }
    }
}
