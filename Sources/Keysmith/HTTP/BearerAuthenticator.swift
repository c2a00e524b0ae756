import Hummingbird

/// The authentication path, in order: parse, checksum, look up, compare, record use.
///
/// Every failure is the same 401 (seed 001). Nothing here writes to the database: the lookup is served
/// by `KeyCache` and the use is recorded in memory by `UsageRecorder`.
struct BearerAuthenticator: RouterMiddleware {
    typealias Context = KeysmithRequestContext

    let cache: KeyCache
    let usage: UsageRecorder
    /// Behind a reverse proxy: take the client address from the last `X-Forwarded-For` entry, the one the
    /// proxy appended, instead of the proxy's own address.
    var trustForwardedFor = false

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization],
              Self.hasBearerScheme(header),
              let token = APIKeyToken(bearer: header.dropFirst(7))
        else { throw APIError.unauthorized }
        // The cache hit is synchronous: no suspension on the common path.
        var found = cache.cachedKey(id: token.keyID)
        if found == nil { found = try await cache.key(id: token.keyID) }
        guard let verified = found, verified.key.secretHash.matches(secret: token.secret) else { throw APIError.unauthorized }

        let now = Timestamp.now()
        guard verified.key.isUsable(at: now) else { throw APIError.unauthorized }

        let userAgent = request.headers[.userAgent].map { $0.utf8.count <= 512 ? $0 : String($0.prefix(512)) }
        let use = KeyUsage(at: now, ip: clientAddress(request, context), userAgent: userAgent)
        usage.record(keyID: verified.key.id, usage: use)
        var context = context
        context.verifiedCaller = verified
        context.callerUse = use
        return try await next(request, context)
    }

    private func clientAddress(_ request: Request, _ context: Context) -> String? {
        guard trustForwardedFor, let header = request.headers[.init("X-Forwarded-For")!],
              let last = header.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty
        else { return context.peerAddress }
        return String(last.prefix(64))
    }

    /// `Bearer ` in any case (RFC 9110: the scheme is case-insensitive), without allocating.
    static func hasBearerScheme(_ header: String) -> Bool {
        let expected = "bearer ".utf8
        var bytes = header.utf8.makeIterator()
        for letter in expected {
            guard let byte = bytes.next(), byte | 0x20 == letter else { return false }  // ASCII case folding; ' ' | 0x20 == ' '
        }
        return true
    }
}
