import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage, the peer address, and the key that authenticated.
public struct KeysmithRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `BearerAuthenticator` on every `/v1` route: the key, and this request's use of it.
    public var verifiedCaller: VerifiedKey?
    public var callerUse: KeyUsage?
    public let peerAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.peerAddress = source.channel.remoteAddress?.ipAddress
    }

    public var maxUploadSize: Int { RequestBodyLimit.bytes }

    /// The authenticated key; only called behind `BearerAuthenticator`.
    func requireCaller() throws -> APIKey {
        guard var caller = verifiedCaller?.key else { throw APIError.unauthorized }
        caller.lastUsed = callerUse ?? caller.lastUsed
        return caller
    }

    /// The authenticated key, if its scope allows `scope`; else 403.
    func requireCaller(scope: Scope) throws -> APIKey {
        let caller = try requireCaller()
        guard caller.scope.allows(scope) else {
            throw APIError.forbidden("this key has scope '\(caller.scope.rawValue)'; this endpoint needs '\(scope.rawValue)'")
        }
        return caller
    }
}
