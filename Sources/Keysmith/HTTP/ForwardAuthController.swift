import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/auth/verify`: forward authentication for gateways (nginx `auth_request`, Traefik `forwardAuth`,
/// Caddy `forward_auth`, Envoy `ext_authz`). `BearerAuthenticator` has already authenticated the key (401),
/// checked its allowed addresses (403) and rate limit (429); this decides for the gateway's original
/// request, named by `X-Original-Method` (nginx) or `X-Forwarded-Method` (Traefik, Caddy), else `GET`:
/// scope `read` allows only `GET`, `HEAD` and `OPTIONS`; the route rules (`--route-rules`), matched
/// against the original method and URI, name the permissions the route needs (or deny it); and every
/// permission named in `X-Keysmith-Require-Permission` is needed as well. Everything is decided in
/// memory, as for whoami.
struct ForwardAuthController {
    typealias Context = KeysmithRequestContext

    let auth: AuthController
    /// `nil`: no `--route-rules`, every route allowed to a valid key.
    var routeRules: RouteRulesFile? = nil

    /// Envoy's HTTP `ext_authz` sends the check with the client's own method to `path_prefix` + the
    /// client's path, so below `/v1/auth/verify/` the original method is the request's.
    static let envoyMethods: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete, .options]

    func addRoutes(to group: RouterGroup<Context>) {
        group.get(use: { try await verify($0, $1, envoy: false) })  // and HEAD, which the router derives
        group.post(use: { try await verify($0, $1, envoy: false) })
        for method in Self.envoyMethods {
            group.on("**", method: method, use: { try await verify($0, $1, envoy: true) })
        }
    }

    func verify(_ request: Request, _ context: Context, envoy: Bool) async throws -> Response {
        guard let identity = context.identity else { throw APIError.unauthorized }
        let key = identity.key.key
        let method = try Self.originalMethod(of: request, envoy: envoy)
        if key.scope == .read, !Self.readMethods.contains(method) {
            throw APIError.forbidden("this key has scope 'read', which allows only GET, HEAD and OPTIONS requests; this request is \(method.rawValue)")
        }
        var required: [String] = []
        if let routeRules {
            let uri = try Self.originalURI(of: request, envoy: envoy)
            switch routeRules.current.decide(method: method.rawValue, path: uri) {
            case .require(let permissions, _): required = permissions
            case .deny: throw APIError.forbidden("no route rule allows this request's method and path, and the route rules deny the routes they do not name")
            }
        }
        required += try Self.requiredPermissions(of: request)
        if let missing = Permissions.firstUncovered(required, by: key.permissions) {
            throw APIError.forbidden("this key does not have the permission '\(missing)' that this request requires")
        }
        // A gateway that asks with HEAD (nginx, which reads no body) gets the headers alone: no body to write.
        var response = request.method == .head
            ? Response(status: .ok, headers: JSONWriter.headers)
            : try await auth.whoami(request, context: context).response(from: request, context: context)
        response.headers.append(contentsOf: Self.identityHeaders(of: key))
        if let decision = identity.rateLimit { response.headers.append(contentsOf: decision.headers) }
        return response
    }

    static let readMethods: Set<HTTPRequest.Method> = [.get, .head, .options]

    /// nginx's `X-Original-Method`, else Traefik's and Caddy's `X-Forwarded-Method`, else Envoy's own
    /// method, else `GET`. Each header given must hold one method, once, and when both are given they
    /// must agree: a gateway sets one of them and may pass the client's own other one on (Traefik and
    /// Caddy forward every client header to the check unless told otherwise), so a `read` key's `POST`
    /// sent with its own `X-Original-Method: GET` is refused (403) instead of being taken for a `GET`.
    static func originalMethod(of request: Request, envoy: Bool) throws -> HTTPRequest.Method {
        let original = try method(in: ForwardAuthHeader.originalMethod, of: request)
        let forwarded = try method(in: ForwardAuthHeader.forwardedMethod, of: request)
        if let original, let forwarded, original != forwarded {
            // 403, not 400: the request is refused (a gateway denies it), and nginx's auth_request would
            // turn a 400 into its own 500.
            throw APIError.forbidden("X-Original-Method and X-Forwarded-Method name different methods; a gateway sets one, so the other came from the client")
        }
        return original ?? forwarded ?? (envoy ? request.method : .get)
    }

    /// The path the route rules judge: nginx's `X-Original-URI`, else Traefik's and Caddy's
    /// `X-Forwarded-Uri`, else Envoy's path below `/v1/auth/verify`, else `/`; normalised (`RequestPath`).
    /// As with the method, each header must be given once, and when both are given they must name one path.
    static func originalURI(of request: Request, envoy: Bool) throws -> RequestPath {
        let original = try uri(in: ForwardAuthHeader.originalURI, of: request)
        let forwarded = try uri(in: ForwardAuthHeader.forwardedURI, of: request)
        if let original, let forwarded, original != forwarded {
            throw APIError.forbidden("X-Original-URI and X-Forwarded-Uri name different paths; a gateway sets one, so the other came from the client")
        }
        if let chosen = original ?? forwarded { return chosen }
        guard envoy, let target = request.head.path, target.hasPrefix(Self.envoyPrefix) else { return RequestPath("/") }
        return RequestPath(target.dropFirst(Self.envoyPrefix.count))
    }

    static let envoyPrefix = "/v1/auth/verify"

    private static func uri(in name: HTTPField.Name, of request: Request) throws -> RequestPath? {
        let values = request.headers[values: name]
        guard !values.isEmpty else { return nil }
        guard values.count == 1, values[0].utf8.count <= 8192 else {
            throw APIError.badRequest("\(name) must be the original request's URI, given once")
        }
        return RequestPath(values[0])
    }

    private static func method(in name: HTTPField.Name, of request: Request) throws -> HTTPRequest.Method? {
        let values = request.headers[values: name]
        guard !values.isEmpty else { return nil }
        guard values.count == 1, values[0].utf8.count <= 32, let method = HTTPRequest.Method(values[0]) else {
            throw APIError.badRequest("\(name) must be one HTTP method such as GET or POST, given once")
        }
        return method
    }

    /// HTTP's OWS around list entries.
    static let optionalWhitespace = CharacterSet(charactersIn: " \t")

    /// Every permission named in `X-Keysmith-Require-Permission`, comma-separated (the header may repeat):
    /// all are required. An empty entry or header is the gateway's mistake, not "nothing required".
    static func requiredPermissions(of request: Request) throws -> [String] {
        var required: [String] = []
        for field in request.headers where field.name == ForwardAuthHeader.requirePermission {
            for part in field.value.split(separator: ",", omittingEmptySubsequences: false) {
                let name = part.trimmingCharacters(in: Self.optionalWhitespace)
                guard Permissions.isValid(name) else {
                    throw APIError.badRequest("X-Keysmith-Require-Permission must list permissions such as calls.write or agents.*, separated by commas; '\(name.prefix(Permissions.maxLength))' is not one")
                }
                required.append(name)
            }
        }
        return required
    }

    /// What a gateway passes on to its upstream: who is calling.
    static func identityHeaders(of key: APIKey) -> HTTPFields {
        var headers: HTTPFields = [
            ForwardAuthHeader.keyID: key.id,
            ForwardAuthHeader.workspaceID: key.workspaceID,
            ForwardAuthHeader.scope: key.scope.rawValue,
        ]
        if let serviceAccount = key.serviceAccountID { headers[ForwardAuthHeader.serviceAccountID] = serviceAccount }
        headers[ForwardAuthHeader.permissions] = key.permissions.joined(separator: ",")
        return headers
    }
}

enum ForwardAuthHeader {
    static let keyID = HTTPField.Name("X-Keysmith-Key-Id")!
    static let workspaceID = HTTPField.Name("X-Keysmith-Workspace-Id")!
    static let scope = HTTPField.Name("X-Keysmith-Scope")!
    static let serviceAccountID = HTTPField.Name("X-Keysmith-Service-Account-Id")!
    static let permissions = HTTPField.Name("X-Keysmith-Permissions")!
    static let requirePermission = HTTPField.Name("X-Keysmith-Require-Permission")!
    static let originalMethod = HTTPField.Name("X-Original-Method")!
    static let forwardedMethod = HTTPField.Name("X-Forwarded-Method")!
    static let originalURI = HTTPField.Name("X-Original-URI")!
    static let forwardedURI = HTTPField.Name("X-Forwarded-Uri")!
    /// The error body, repeated as a header: nginx's `auth_request` cannot pass a subrequest's body on, but
    /// can read its headers (see deploy/nginx/keysmith.conf).
    static let error = HTTPField.Name("X-Keysmith-Error")!
}

/// On the verify routes, outside the authenticator: every error answer also carries its body in
/// `X-Keysmith-Error`, so a gateway that sees only headers can still give the client the exact body.
struct ForwardAuthErrorHeader<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw Self.withHeader(error)
        } catch let error as FieldError {
            throw Self.withHeader(APIError.badRequest(error.message))
        }
    }

    static func withHeader(_ error: APIError) -> APIError {
        var headers = error.headers
        headers[ForwardAuthHeader.error] = error.body
        return APIError(error.status, error.message, headers: headers)
    }
}
