import Hummingbird
import HummingbirdAuth
import NIOCore

/// The request context: Hummingbird's core storage, the peer address, the request's id, and one identity,
/// the key that authenticated (hummingbird-auth's `AuthRequestContext`).
public struct KeysmithRequestContext: AuthRequestContext, RequestIDContext {
    public var coreContext: CoreRequestContextStorage
    /// This request's `X-Request-Id`, the client's or a generated one; set by `RequestIDMiddleware` on every route.
    public var requestID = ""
    /// Set by `BearerAuthenticator` on every `/v1` route.
    public var identity: Caller?
    public let peerAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.peerAddress = source.channel.remoteAddress?.ipAddress
    }

    public var maxUploadSize: Int { RequestBodyLimit.bytes }

    /// The authenticated key, with this request as its last use; only called behind `BearerAuthenticator`.
    func requireCaller() throws -> APIKey {
        guard let identity else { throw APIError.unauthorized }
        var caller = identity.key.key
        caller.lastUsed = identity.use
        return caller
    }
}

/// Who is calling: the verified key, this request's use of it, and, when the key has a rate limit, what
/// is left of it.
public struct Caller: Sendable {
    public let key: VerifiedKey
    public let use: KeyUsage
    public var rateLimit: RateLimitDecision? = nil
}
