import HTTPTypes
import Hummingbird

/// The authentication path, in order: parse, checksum, look up, compare, check the key's address rule
/// and rate limit, record use.
///
/// Every bad credential is the same 401 (seed 001). Nothing here writes to the database: the lookup is served
/// by `KeyCache` and the use is recorded in memory by `UsageRecorder`. Ids the cache does not know cost a
/// query, so each client address, and the instance, has a `LookupBudget` of failed ones; past it the answer is
/// 429, from memory.
/// A good key used from outside its `allowedIPs` is 403; past its `rateLimit`, 429 with `Retry-After`.
struct BearerAuthenticator: RouterMiddleware {
    typealias Context = KeysmithRequestContext

    let cache: KeyCache
    let usage: UsageRecorder
    let budget: LookupBudget
    let proxies: TrustedProxies
    /// The application's clock: expiry, the cache's ages and the recorded use, all at one reading per request.
    let clock: @Sendable () -> Timestamp
    /// Counts requests of keys that have a `rateLimit`; `nil`: no key is limited.
    var rateLimiter: (any KeyRateLimiting)? = nil
    /// `keysmith_auth_attempts_total`: each request counts once, with the step that decided it.
    var metrics: AuthenticationMetrics = .disabled

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard var header = Self.onlyValue(of: .authorization, in: request.headers) else { throw metrics.refused(.missing) }
        guard let token = header.withUTF8(Self.bearerToken) else { throw metrics.refused(.malformed) }
        let address = clientAddress(request, context)
        let now = clock()
        let found: VerifiedKey?
        switch cache.lookup(id: token.keyID, at: now) {
        case .hit(let key): found = key  // synchronous: no suspension on the common path
        case .absent: found = nil
        case .stale: found = try await cache.load(id: token.keyID)
        case .unknown:
            var ticket: LookupBudget.Ticket?
            do {
                found = try await cache.load(id: token.keyID) {
                    guard let admitted = budget.begin(address) else {
                        metrics.record(.lookupBudgetExceeded)
                        throw APIError.tooManyRequests(retryAfter: budget.secondsToReset, "too many requests with unknown keys from this address; retry later")
                    }
                    ticket = admitted
                }
            } catch {
                if let ticket { budget.end(ticket, found: true) }  // the database failed, not the client
                throw error
            }
            if let ticket { budget.end(ticket, found: found != nil) }
        }
        guard let verified = found else { throw metrics.refused(.unknownKey) }
        let keyID = verified.key.id
        guard verified.key.secretHash.matches(secret: token.secret) else {
            // A key id is no secret, so a wrong secret costs the address a failure, as an unknown id does:
            // no one can count a key's wrong_secret up faster than an address's budget, and past it the
            // answer is 429 from memory, counted nowhere.
            guard let ticket = budget.begin(address) else {
                metrics.record(.lookupBudgetExceeded)
                throw APIError.tooManyRequests(retryAfter: budget.secondsToReset, "too many requests with unknown keys from this address; retry later")
            }
            budget.end(ticket, found: false)
            usage.count(keyID: keyID, outcome: .wrongSecret, at: now)
            throw metrics.refused(.wrongSecret)
        }

        guard verified.key.isUsable(at: now) else {
            usage.count(keyID: keyID, outcome: .inactive, at: now)
            throw metrics.refused(verified.key.revokedAt != nil ? .revoked : .expired)
        }
        if let allowed = verified.key.allowedIPs {
            guard let client = address.flatMap(IPAddress.init), allowed.contains(where: { $0.contains(client) }) else {
                usage.count(keyID: keyID, outcome: .ip, at: now)
                metrics.record(.forbiddenAddress)
                throw APIError.forbidden("this key may not be used from \(address.map { "address \($0)" } ?? "this address"); see its allowed_ips")
            }
        }
        var decision: RateLimitDecision?
        if let limit = verified.key.rateLimit, let rateLimiter {
            let answer = rateLimiter.admit(keyID: verified.key.id, limit: limit)
            guard answer.allowed else {
                usage.count(keyID: keyID, outcome: .rateLimited, at: now)
                metrics.record(.rateLimited)
                var headers = answer.headers
                headers[.retryAfter] = String(max(1, answer.resetSeconds))
                throw APIError(.tooManyRequests, "Too Many Requests", headers: headers)
            }
            decision = answer
        }

        let userAgent = request.headers.first(where: { $0.name == .userAgent }).map { field in
            field.value.utf8.count <= 512 ? field.value : String(field.value.prefix(512))
        }
        let use = KeyUsage(at: now, ip: address, userAgent: userAgent)
        usage.record(keyID: keyID, usage: use)
        var context = context
        context.identity = Caller(key: verified, use: use, rateLimit: decision)
        var outcome = AuthenticationOutcome.success
        defer { metrics.record(outcome) }
        do {
            return try await next(request, context)
        } catch let error as APIError where error.status == .forbidden {
            usage.reclassifyAsForbidden(keyID: keyID, at: now)  // the scope or a required permission refused it
            outcome = .forbidden
            throw error
        }
    }

    private func clientAddress(_ request: Request, _ context: Context) -> String? {
        guard !proxies.ranges.isEmpty else { return context.peerAddress }
        return proxies.clientAddress(peer: context.peerAddress, forwardedFor: request.headers[Self.forwardedFor],
                                     realIP: request.headers[Self.realIP])
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let realIP = HTTPField.Name("X-Real-IP")!

    /// The value of a header that must appear once: nil when it is absent or repeated.
    static func onlyValue(of name: HTTPField.Name, in fields: HTTPFields) -> String? {
        var value: String?
        for field in fields where field.name == name {
            guard value == nil else { return nil }
            value = field.value
        }
        return value
    }

    /// The token of `Bearer <token>`, the scheme in any case (RFC 9110), read from the header's bytes.
    static func bearerToken(_ header: UnsafeBufferPointer<UInt8>) -> APIKeyToken? {
        let scheme: StaticString = "bearer "
        let length = scheme.utf8CodeUnitCount
        guard header.count > length,
              (0..<length).allSatisfy({ header[$0] | 0x20 == scheme.utf8Start[$0] })  // ASCII case folding; ' ' | 0x20 == ' '
        else { return nil }
        return APIKeyToken.parse(UnsafeBufferPointer(rebasing: header[length...]))
    }
}
