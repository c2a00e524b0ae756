import Hummingbird

/// `/v1/api-keys/{id}/roll` and `/v1/api-keys/{id}/usage`: rotating a key with an overlap, and how much it
/// is used. Behind the same `admin` policy as the rest of `/v1/api-keys`.
struct KeyLifecycleController {
    typealias Context = KeysmithRequestContext

    let keys: KeyService
    var store: any KeyStore { keys.store }

    static let defaultGrace = 86_400

    func addRoutes(to group: RouterGroup<Context>) {
        group.post(":id/roll", use: roll)
        group.get(":id/usage", use: usage)
    }

    /// `{"grace_seconds": 3600}` (0 to 7 days, 24 hours when absent): `201` with the new key and its secret.
    @Sendable func roll(_ request: Request, context: Context) async throws -> APIKeyResource {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let body = try await JSONObject.readAllowingEmpty(from: request, context: context)
        try body.requireOnly(["grace_seconds"])
        if body.has("grace_seconds"), try body.integer("grace_seconds") == nil { throw APIError.badRequest("'grace_seconds' must be an integer") }
        let grace = try body.integer("grace_seconds") ?? Self.defaultGrace
        guard (0...KeyIssuer.maximumRollGrace).contains(grace) else {
            throw APIError.badRequest("grace_seconds must be between 0 and \(KeyIssuer.maximumRollGrace) (7 days)")
        }
        let rolled = try await keys.roll(id: id, workspaceID: caller.workspaceID, graceSeconds: grace, createdBy: caller.id,
                                         authority: KeyAuthority(of: caller), audit: try context.auditContext())
        guard let rolled else { throw APIKeyController.notFound(id) }
        return APIKeyResource(rolled.new, secret: rolled.token.bearer, now: keys.clock())
    }

    /// `?from&to&granularity=hour|day`: counts of the key's requests per bucket, by outcome. By default the
    /// last 30 days by day, or the last 48 hours by hour; given one end, that span from it.
    @Sendable func usage(_ request: Request, context: Context) async throws -> UsageResource {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let parameters = QueryParameters(request)
        let granularity = parameters["granularity"] ?? "day"
        let bucket: Int64 = switch granularity {
        case "hour": 3_600_000
        case "day": 86_400_000
        default: throw APIError.badRequest("granularity must be hour or day")
        }
        let now = keys.clock()
        func time(_ name: String) throws -> Timestamp? {
            guard let raw = parameters[name] else { return nil }
            guard let time = Timestamp(iso8601: raw) else {
                throw APIError.badRequest("\(name) must be an ISO 8601 date-time such as 2030-01-31T12:00:00Z")
            }
            return time
        }
        // Without `to`, the span after `from` (or up to now); without `from`, the span before `to`.
        let span = (granularity == "hour" ? 48 : 30) * bucket
        let from = try time("from"), to = try time("to")
        let end = to ?? from.map { $0.adding(milliseconds: span) } ?? now
        let start = from ?? end.adding(milliseconds: -span)
        guard start < end else { throw APIError.badRequest("from must be before to") }
        let first = start.milliseconds - start.milliseconds % bucket
        let buckets = (end.milliseconds - first + bucket - 1) / bucket
        guard buckets <= 2_000 else { throw APIError.badRequest("at most 2000 \(granularity)s at a time; narrow from and to") }
        guard let key = try await store.key(id: id), key.workspaceID == caller.workspaceID else {
            throw APIKeyController.notFound(id, active: false)
        }
        let counts = try await store.usageCounts(keyID: key.id, from: Timestamp(milliseconds: first), to: end)
        var series = (0..<buckets).map { UsageResource.Bucket(start: Timestamp(milliseconds: first + $0 * bucket)) }
        for count in counts {
            let index = Int((count.hour - first) / bucket)
            guard series.indices.contains(index) else { continue }
            series[index].counts[count.outcome, default: 0] += count.count
        }
        return UsageResource(keyID: key.id, granularity: granularity, from: Timestamp(milliseconds: first), to: end, buckets: series)
    }
}

/// `{"key_id", "granularity", "from", "to", "data": [{"start", "success", "wrong_secret", …}]}`.
struct UsageResource: ResponseGenerator {
    struct Bucket {
        let start: Timestamp
        var counts: [UsageOutcome: Int] = [:]
    }

    let keyID: String
    let granularity: String
    let from: Timestamp
    let to: Timestamp
    let buckets: [Bucket]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONWriter.response { json in
            json.object { json in
                json.field("key_id", keyID)
                json.field("granularity", granularity)
                json.field("from", from)
                json.field("to", to)
                json.key("data")
                json.array(buckets) { json, bucket in
                    json.object { json in
                        json.field("start", bucket.start)
                        json.field("success", bucket.counts[.success] ?? 0)
                        json.field("wrong_secret", bucket.counts[.wrongSecret] ?? 0)
                        json.field("inactive", bucket.counts[.inactive] ?? 0)
                        json.field("forbidden", bucket.counts[.forbidden] ?? 0)
                        json.field("rate_limited", bucket.counts[.rateLimited] ?? 0)
                        json.field("ip", bucket.counts[.ip] ?? 0)
                    }
                }
            }
        }
    }
}
