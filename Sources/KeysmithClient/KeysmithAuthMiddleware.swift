import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// Authenticates every request by asking Keysmith (`GET /v1/auth/verify`) with the request's
/// `Authorization` header, method and URI, and puts who called in `context.keysmithIdentity`.
///
/// Keysmith's `401`, `403` and `429` reach the client as Keysmith sent them (body, `WWW-Authenticate`,
/// `Retry-After`, `RateLimit-*`); the handlers run only for a `200`. Nothing is cached here: a key revoked
/// in Keysmith is refused on its next request. When Keysmith cannot be reached the answer is `503`.
///
/// The check carries the client's address in `X-Forwarded-For` (the chain the request came with, then its
/// peer), so that Keysmith applies `allowed_ips` and its lookup budget to the client, not to this service:
/// run Keysmith with `--trusted-proxy` set to this service's own address. A context that conforms to
/// `RemoteAddressRequestContext` (as `BasicKeysmithIdentityContext` does) supplies the peer. Headers named
/// `X-Keysmith-*` that the client sent are removed before the handlers see the request: only Keysmith's
/// answer speaks for the caller.
///
/// ```swift
/// let router = Router(context: BasicKeysmithIdentityContext.self)
/// router.add(middleware: KeysmithAuthMiddleware(keysmithURL: "http://127.0.0.1:8080"))
/// router.get("/v1/agents2") { _, context in "hello \(context.keysmithIdentity!.keyID)" }
/// ```
public struct KeysmithAuthMiddleware<Context: KeysmithIdentityContext>: RouterMiddleware {
    /// Where `/v1/auth/verify` is.
    public let verifyURL: String
    /// Permissions every request through this middleware needs (`X-Keysmith-Require-Permission`).
    public let requiredPermissions: [String]
    let httpClient: HTTPClient
    let timeout: TimeAmount

    /// - Parameters:
    ///   - keysmithURL: Keysmith's base URL, such as `http://127.0.0.1:8080`.
    ///   - requiredPermissions: Permissions the key must have for these routes; all are required.
    ///   - httpClient: The client that calls Keysmith (keep-alive connections are reused).
    ///   - timeout: How long one check may take before the request is answered `503`.
    public init(keysmithURL: String, requiredPermissions: [String] = [], httpClient: HTTPClient = .shared, timeout: Duration = .seconds(5)) {
        var base = keysmithURL
        while base.hasSuffix("/") { base.removeLast() }
        self.verifyURL = base + "/v1/auth/verify"
        self.requiredPermissions = requiredPermissions
        self.httpClient = httpClient
        let (seconds, attoseconds) = timeout.components
        self.timeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var check = HTTPClientRequest(url: verifyURL)
        check.method = .GET
        // Every Authorization header, so that Keysmith refuses two of them as it refuses them everywhere.
        for field in request.headers where field.name == .authorization {
            check.headers.add(name: "Authorization", value: field.value)
        }
        check.headers.add(name: "X-Original-Method", value: request.method.rawValue)
        check.headers.add(name: "X-Original-URI", value: request.uri.description)
        if !requiredPermissions.isEmpty {
            check.headers.add(name: "X-Keysmith-Require-Permission", value: requiredPermissions.joined(separator: ","))
        }
        if let userAgent = request.headers[.userAgent] { check.headers.add(name: "User-Agent", value: userAgent) }
        if let chain = Self.forwardedFor(request, peer: (context as? any RemoteAddressRequestContext)?.remoteAddress?.ipAddress) {
            check.headers.add(name: "X-Forwarded-For", value: chain)
        }

        let answer: HTTPClientResponse
        let body: ByteBuffer
        do {
            answer = try await httpClient.execute(check, timeout: timeout)
            body = try await answer.body.collect(upTo: 1 << 20)
        } catch {
            // The error says where and why (connect, timeout), never what was sent: no secret in the log.
            context.logger.error("Keysmith could not be asked", metadata: ["url": "\(verifyURL)", "error": "\(error)"])
            return Self.unavailable
        }

        switch answer.status.code {
        case 200:
            guard let identity = Self.identity(from: answer.headers) else {
                context.logger.error("Keysmith's answer had no identity headers", metadata: ["url": "\(verifyURL)"])
                return Self.unavailable
            }
            var context = context
            context.keysmithIdentity = identity
            var response = try await next(Self.withoutKeysmithHeaders(request), context)
            for name in Self.rateLimitHeaders {
                if let value = answer.headers.first(name: name), let field = HTTPField.Name(name) { response.headers[field] = value }
            }
            return response
        case 401, 403, 429:
            var headers = HTTPFields()
            for name in ["Content-Type", "WWW-Authenticate", "Retry-After"] + Self.rateLimitHeaders {
                if let value = answer.headers.first(name: name), let field = HTTPField.Name(name) { headers[field] = value }
            }
            return Response(status: .init(code: Int(answer.status.code)), headers: headers, body: .init(byteBuffer: body))
        default:
            context.logger.error("Keysmith answered unexpectedly", metadata: ["url": "\(verifyURL)", "status": "\(answer.status.code)"])
            return Self.unavailable
        }
    }

    static var rateLimitHeaders: [String] { ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] }

    static var xForwardedFor: HTTPField.Name { HTTPField.Name("X-Forwarded-For")! }

    /// The client's `X-Forwarded-For` chain with its peer appended, as a proxy writes it; the peer alone
    /// when the request came with none. Keysmith reads it right to left, trusting only its trusted proxies.
    static func forwardedFor(_ request: Request, peer: String?) -> String? {
        let chain = request.headers[values: Self.xForwardedFor].joined(separator: ", ")
        switch (chain.isEmpty, peer) {
        case (true, nil): return nil
        case (true, let peer?): return peer
        case (false, nil): return chain
        case (false, let peer?): return chain + ", " + peer
        }
    }

    /// The request without any `X-Keysmith-*` header, which only Keysmith's answer may set.
    static func withoutKeysmithHeaders(_ request: Request) -> Request {
        guard request.headers.contains(where: { $0.name.canonicalName.hasPrefix("x-keysmith-") }) else { return request }
        var head = request.head
        head.headerFields = HTTPFields(head.headerFields.filter { !$0.name.canonicalName.hasPrefix("x-keysmith-") })
        return Request(head: head, body: request.body)
    }

    static func identity(from headers: HTTPHeaders) -> KeysmithIdentity? {
        guard let keyID = headers.first(name: "X-Keysmith-Key-Id"), let workspaceID = headers.first(name: "X-Keysmith-Workspace-Id"),
              let scope = headers.first(name: "X-Keysmith-Scope")
        else { return nil }
        let permissions = (headers.first(name: "X-Keysmith-Permissions") ?? "").split(separator: ",").map(String.init)
        return KeysmithIdentity(keyID: keyID, workspaceID: workspaceID, scope: scope, permissions: permissions,
                                serviceAccountID: headers.first(name: "X-Keysmith-Service-Account-Id"))
    }

    /// The seeds' error shape, as Keysmith's gateways answer when Keysmith is out of reach.
    static var unavailable: Response {
        let body = #"{"statusCode":503,"message":"the authentication service is unavailable; try again shortly","error":"Service Unavailable"}"#
        return Response(status: .serviceUnavailable, headers: [.contentType: "application/json; charset=utf-8", .retryAfter: "1"],
                        body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
