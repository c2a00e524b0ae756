import Hummingbird
import Synchronization

/// Every route the application serves, recorded as it is added: so that a method a path does not support
/// gets `405` with `Allow` instead of `404`, and so that a test can hold the routes against `openapi.yaml`.
public final class RouteTable: Sendable {
    public struct Route: Sendable, Hashable {
        public let method: HTTPRequest.Method
        /// The path as registered, captures written `:name`.
        public let path: String
    }

    private let routes = Mutex<[Route]>([])

    public init() {}

    public var all: [Route] { routes.withLock { $0 } }

    func insert(_ method: HTTPRequest.Method, _ path: RouterPath) {
        let route = Route(method: method, path: "/" + path.components.map(\.description).joined(separator: "/"))
        routes.withLock { $0.append(route) }
    }

    /// The methods served at this path (`HEAD` wherever `GET` is), in a stable order. As in the router, a
    /// literal segment wins over a capture: `/v1/api-keys/batch` is not `/v1/api-keys/{id}`.
    func methods(at path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        let matching = all.compactMap { route in Self.literalSegments(of: route.path, matching: segments).map { (route, $0) } }
        guard let best = matching.map(\.1).max() else { return [] }
        var methods = Set<String>()
        for (route, literals) in matching where literals == best {
            methods.insert(route.method.rawValue)
            if route.method == .get { methods.insert(HTTPRequest.Method.head.rawValue) }
        }
        return methods.sorted().compactMap { HTTPRequest.Method($0) }
    }

    /// How many literal segments of the pattern the path matches; `nil` when it does not match.
    private static func literalSegments(of pattern: String, matching segments: [Substring]) -> Int? {
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == segments.count else { return nil }
        var literals = 0
        for (part, segment) in zip(parts, segments) {
            if isCapture(part) { continue }
            guard part == segment else { return nil }
            literals += 1
        }
        return literals
    }

    /// `:id` or `{id}`: Hummingbird accepts both spellings of a captured segment.
    static func isCapture(_ part: Substring) -> Bool {
        part.hasPrefix(":") || (part.hasPrefix("{") && part.hasSuffix("}"))
    }
}

/// The router as controllers see it: each route is added to Hummingbird's router and to the table.
struct RouteRecorder<Context: RequestContext>: RouterMethods {
    let router: Router<Context>
    let table: RouteTable

    @discardableResult func on<Responder: HTTPResponder>(_ path: RouterPath, method: HTTPRequest.Method, responder: Responder) -> Self
    where Responder.Context == Context {
        table.insert(method, path)
        router.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        router.add(middleware: middleware)
        return self
    }
}
