import Hummingbird

/// The authentication path, in order: parse, checksum, look up, compare, record use.
///
/// Every failure is the same 401 (seed 001). Nothing here writes to the database: the lookup is served
/// by `KeyCache` and the use is recorded in memory by `UsageRecorder`.
struct BearerAuthenticator: RouterMiddleware {
    typealias Context = KeysmithRequestContext

    let cache: KeyCache
    let usage: UsageRecorder

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization],
              header.count > 7, header.prefix(7).lowercased() == "bearer ",
              let token = APIKeyToken(bearer: header.dropFirst(7)),
              let key = try await cache.key(id: token.keyID),
              key.secretHash.matches(secret: token.secret)
        else { throw APIError.unauthorized }

        let now = Timestamp.now()
        guard key.isUsable(at: now) else { throw APIError.unauthorized }

        let use = KeyUsage(at: now, ip: context.peerAddress, userAgent: request.headers[.userAgent].map { String($0.prefix(512)) })
        usage.record(keyID: key.id, usage: use)
        var context = context
        context.caller = key
        context.caller?.lastUsed = use
        return try await next(request, context)
    }
}
