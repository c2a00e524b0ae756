import Hummingbird

/// Refuses a workspace's management requests past its `WorkspaceRequestBudget` with a `429` in the seeds'
/// shape and `Retry-After`, before the handler touches the database. Added after the scope policy, so the
/// caller is known.
struct WorkspaceRequestLimit: RouterMiddleware {
    typealias Context = KeysmithRequestContext

    let budget: WorkspaceRequestBudget

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let caller = try context.requireCaller()
        if let wait = budget.take(workspaceID: caller.workspaceID) {
            throw APIError.tooManyRequests(retryAfter: wait, "too many management requests for this workspace (at most \(budget.perSecond) a second); retry later")
        }
        return try await next(request, context)
    }
}
