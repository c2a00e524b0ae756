import Hummingbird

/// Behind `BearerAuthenticator` on the `/v1` routes: the answers to a key that has a rate limit carry
/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`, successes and errors alike (the request
/// was counted either way). The refusal itself (429 with `Retry-After`) comes from the authenticator.
struct RateLimitHeaders: RouterMiddleware {
    typealias Context = KeysmithRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let decision = context.identity?.rateLimit else { return try await next(request, context) }
        do {
            var response = try await next(request, context)
            if response.headers[RateLimitHeader.limit] == nil { response.headers.append(contentsOf: decision.headers) }
            return response
        } catch let error as APIError where error.headers[RateLimitHeader.limit] == nil {
            throw Self.adding(decision, to: error)
        } catch let error as FieldError {
            throw Self.adding(decision, to: APIError.badRequest(error.message))
        }
    }

    static func adding(_ decision: RateLimitDecision, to error: APIError) -> APIError {
        var headers = error.headers
        headers.append(contentsOf: decision.headers)
        return APIError(error.status, error.message, headers: headers)
    }
}
