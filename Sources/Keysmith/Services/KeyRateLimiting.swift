import HTTPTypes

/// What the authentication path asks before it lets a request of a key with a `rateLimit` through: count
/// the request and decide, in memory and without suspending (nothing on that path waits for a database).
/// `ServerOptions.rateLimiter` supplies one; without one, keys are not limited.
public protocol KeyRateLimiting: Sendable {
    /// Counts one request of the key against `limit` and says whether it may go ahead.
    func admit(keyID: String, limit: RateLimit) -> RateLimitDecision
}

/// A rate limiter's answer for one request.
public struct RateLimitDecision: Sendable, Equatable {
    public var allowed: Bool
    /// The key's limit per window (`RateLimit-Limit`).
    public var limit: Int
    /// Requests left in the current window after this one (`RateLimit-Remaining`).
    public var remaining: Int
    /// Seconds until requests are available again (`RateLimit-Reset`, and `Retry-After` when refused).
    public var resetSeconds: Int

    public init(allowed: Bool, limit: Int, remaining: Int, resetSeconds: Int) {
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.resetSeconds = resetSeconds
    }

    /// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (the IETF draft's names).
    public var headers: HTTPFields {
        [
            RateLimitHeader.limit: String(limit),
            RateLimitHeader.remaining: String(max(0, remaining)),
            RateLimitHeader.reset: String(max(0, resetSeconds)),
        ]
    }
}

public enum RateLimitHeader {
    public static let limit = HTTPField.Name("RateLimit-Limit")!
    public static let remaining = HTTPField.Name("RateLimit-Remaining")!
    public static let reset = HTTPField.Name("RateLimit-Reset")!
}
