import Hummingbird
import Logging

/// Turns every error into the seeds' shape: `APIError` as it is, Hummingbird's own errors (unknown route,
/// body too large) with their status, and anything else into a bare 500 that is logged, never shown.
/// A path that exists with other methods is `405` with `Allow`, not `404`.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as FieldError {
            throw APIError.badRequest(error.message)
        } catch let error as KeyAuthority.Refusal {
            throw APIError.forbidden(error.message)
        } catch let error as KeyStoreError {
            throw Self.apiError(error)
        } catch let error as any HTTPResponseError {
            switch error.status {
            case .notFound:
                let allowed = routes.methods(at: request.uri.path)
                guard allowed.isEmpty else {
                    throw APIError(.methodNotAllowed, "\(request.method) is not supported here; use \(allowed.map(\.rawValue).joined(separator: ", "))",
                                   headers: [.allow: allowed.map(\.rawValue).joined(separator: ", ")])
                }
                throw APIError.notFound("no route for \(request.method) \(String(request.uri.path.prefix(200)))")
            case .contentTooLarge: throw APIError(.contentTooLarge, "request body must be at most \(RequestBodyLimit.bytes / 1024) KiB")
            case let status where status.code < 500: throw APIError(status, status.reasonPhrase)
            default:
                context.logger.error("request failed", metadata: ["status": "\(error.status.code)"])
                throw APIError(.internalServerError, "Internal Server Error")
            }
        } catch let error as StoreUnavailable {
            context.logger.error("database unavailable", metadata: ["error": "\(error.underlying)"])
            throw APIError(.serviceUnavailable, "the database is unavailable; try again shortly")
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            throw APIError(.internalServerError, "Internal Server Error")
        }
    }
}

extension ErrorMiddleware {
    /// The store's refusals, in the seeds' shape: the one place they are worded.
    static func apiError(_ error: KeyStoreError) -> APIError {
        switch error {
        case .activeKeyQuota(let limit):
            APIError.forbidden("this workspace has reached its quota of \(limit) active keys; revoke keys it no longer needs, or ask the operator to raise the quota")
        case .lastAdminKey:
            APIError.conflict("this is the workspace's last usable admin key; revoking or disabling it would lock the workspace out. Create another admin key first, or revoke with ?force=true")
        case .expiredKey:
            APIError.conflict("this API key has expired; an expired key cannot be rolled")
        case .duplicateWorkspaceName:
            APIError.conflict("a workspace with this name exists")
        case .unknownWorkspace:
            APIError.notFound("no such workspace")
        case .duplicateKeyID:
            APIError(.internalServerError, "Internal Server Error")  // retried by the issuer; never reaches a client
        }
    }
}

enum RequestBodyLimit {
    static let bytes = 64 * 1024
}
