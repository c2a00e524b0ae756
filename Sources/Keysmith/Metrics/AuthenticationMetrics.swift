import CoreMetrics

/// How `BearerAuthenticator` ended a request: the `outcome` of `keysmith_auth_attempts_total`.
enum AuthenticationOutcome: String, CaseIterable, Sendable {
    case success
    /// No `Authorization` header, or more than one.
    case missing
    /// Not `Bearer <key_id>:<secret>`, or a checksum that does not match.
    case malformed
    /// Well formed, but no key has this id.
    case unknownKey = "unknown_key"
    case wrongSecret = "wrong_secret"
    case revoked
    case expired
    /// A good key without the scope or a permission the route needs (403).
    case forbidden
    /// A good key used from outside its `allowed_ips` (403).
    case forbiddenAddress = "forbidden_address"
    /// A good key past its `rate_limit` (429).
    case rateLimited = "rate_limited"
    /// An unknown id from an address past its lookup budget (429, no lookup made).
    case lookupBudgetExceeded = "lookup_budget_exceeded"
}

/// `keysmith_auth_attempts_total{outcome}`, every outcome present from the start (at 0).
struct AuthenticationMetrics: Sendable {
    private let attempts: [AuthenticationOutcome: Counter]

    static let disabled = AuthenticationMetrics(factory: NOOPMetricsHandler.instance)

    init(factory: any MetricsFactory) {
        attempts = Dictionary(uniqueKeysWithValues: AuthenticationOutcome.allCases.map {
            ($0, Counter(label: "keysmith_auth_attempts_total", dimensions: [("outcome", $0.rawValue)], factory: factory))
        })
    }

    func record(_ outcome: AuthenticationOutcome) { attempts[outcome]?.increment() }

    /// Records a refusal and returns the one 401, for `throw refused(.wrongSecret)`.
    func refused(_ outcome: AuthenticationOutcome) -> APIError {
        record(outcome)
        return .unauthorized
    }
}
