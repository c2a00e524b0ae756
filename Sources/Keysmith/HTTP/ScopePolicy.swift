import Hummingbird
import HummingbirdAuth

/// The scope a route group needs (every `/v1/api-keys` and `/v1/webhooks` route needs `admin`), checked
/// once by `AuthorizationPolicyMiddleware` instead of in every handler. The refusal names both scopes.
struct ScopePolicy: AuthorizationPolicy {
    let required: Scope

    func isAuthorized(identity: Caller, request: Request) async throws -> Bool {
        let scope = identity.key.key.scope
        guard scope.allows(required) else {
            throw APIError.forbidden("this key has scope '\(scope.rawValue)'; this endpoint needs '\(required.rawValue)'")
        }
        return true
    }
}

extension RouterGroup where Context == KeysmithRequestContext {
    /// Every route added to the group after this needs `scope`.
    func requiring(_ scope: Scope) -> RouterGroup<Context> {
        add(middleware: AuthorizationPolicyMiddleware(ScopePolicy(required: scope), deniedError: APIError.forbidden("scope '\(scope.rawValue)' is required")))
    }
}
