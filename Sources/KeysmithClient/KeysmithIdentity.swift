import Hummingbird
import NIOCore

/// Who called, as Keysmith's `/v1/auth/verify` told it: the key, its workspace, scope, permissions and
/// service account. Set on the request context by `KeysmithAuthMiddleware`.
public struct KeysmithIdentity: Sendable, Equatable {
    public let keyID: String
    public let workspaceID: String
    /// `read`, `read-write` or `admin`.
    public let scope: String
    /// Such as `["calls.read", "agents.*"]`, or `["*"]` for everything.
    public let permissions: [String]
    public let serviceAccountID: String?

    public init(keyID: String, workspaceID: String, scope: String, permissions: [String], serviceAccountID: String? = nil) {
        self.keyID = keyID
        self.workspaceID = workspaceID
        self.scope = scope
        self.permissions = permissions
        self.serviceAccountID = serviceAccountID
    }

    /// Whether the key's permissions cover `permission`: `*` covers everything, `calls.*` every name under
    /// `calls.`, any other name only itself (Keysmith's own rule).
    public func has(permission: String) -> Bool {
        permissions.contains { granted in
            if granted == "*" { return true }
            if granted.hasSuffix(".*") { return permission != "*" && permission.hasPrefix(granted.dropLast()) }
            return granted == permission
        }
    }
}

/// A request context that can carry a `KeysmithIdentity`, for `KeysmithAuthMiddleware`.
public protocol KeysmithIdentityContext: RequestContext {
    var keysmithIdentity: KeysmithIdentity? { get set }
}

/// The plain context for an application whose only identity is Keysmith's. It keeps the peer's address,
/// which `KeysmithAuthMiddleware` passes on to Keysmith as the client's.
public struct BasicKeysmithIdentityContext: KeysmithIdentityContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var keysmithIdentity: KeysmithIdentity?
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}
