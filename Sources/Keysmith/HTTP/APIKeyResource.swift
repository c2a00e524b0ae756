import Hummingbird

/// The key object of every endpoint (seeds 001–004, snake_case). `secret` appears only on create.
struct APIKeyResource: JSONWritable, ResponseGenerator {
    let key: APIKey
    let secret: String?
    let now: Timestamp

    init(_ key: APIKey, secret: String? = nil, now: Timestamp = .now()) {
        self.key = key
        self.secret = secret
        self.now = now
    }

    func write(to json: inout JSONWriter) {
        json.object { json in
            Self.writeLabels(of: key, to: &json)
            Self.writeState(of: key, lastUsed: key.lastUsed, now: now, to: &json)
            if let secret { json.field("secret", secret) }
        }
    }

    /// The members from `id` to `metadata`: what cannot change while a key is cached, so `VerifiedKey`
    /// writes them once.
    static func writeLabels(of key: APIKey, to json: inout JSONWriter) {
        json.field("id", key.id)
        json.field("name", key.name)
        json.field("description", key.description)
        json.field("scope", key.scope.rawValue)
        json.field("workspace_id", key.workspaceID)
        json.field("service_account_id", key.serviceAccountID)
        json.field("created_at", key.createdAt)
        json.field("created_by", key.createdBy)
        json.field("expires_at", key.expiresAt)
        writeAccess(of: key, to: &json)
        json.field("enabled", key.enabled)
        json.field("key_prefix", key.keyPrefix)
        json.field("rolled_from", key.rolledFrom)
        json.key("metadata")
        if let metadata = key.metadata { json.raw(metadata) } else { json.null() }  // an object validated on the way in
    }

    /// `permissions`, `rate_limit` (`{"limit", "window_seconds"}` or `null`) and `allowed_ips` (normalised
    /// CIDR blocks or `null`).
    static func writeAccess(of key: APIKey, to json: inout JSONWriter) {
        json.key("permissions")
        json.array(key.permissions) { json, permission in json.string(permission) }
        json.key("rate_limit")
        if let limit = key.rateLimit {
            json.object { json in
                json.field("limit", limit.limit)
                json.field("window_seconds", limit.windowSeconds)
            }
        } else {
            json.null()
        }
        json.key("allowed_ips")
        if let ranges = key.allowedIPs {
            json.array(ranges) { json, range in json.string(range.description) }
        } else {
            json.null()
        }
    }

    /// The members from `is_expired` to `revoked_at`: what depends on the time and the last use.
    static func writeState(of key: APIKey, lastUsed: KeyUsage?, now: Timestamp, to json: inout JSONWriter) {
        json.field("is_expired", key.isExpired(at: now))
        json.field("last_used_at", lastUsed?.at)
        json.field("last_used_ip", lastUsed?.ip)
        json.field("last_used_user_agent", lastUsed?.userAgent)
        json.field("revoked_at", key.revokedAt)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONWriter.response(status: secret == nil ? .ok : .created) { write(to: &$0) }
        if secret != nil { response.headers[.cacheControl] = "no-store" }  // the secret must not sit in any cache
        return response
    }
}

/// `{"data": [...]}` of a batch create: the key objects with their secrets, in the request's order.
struct BatchResource: ResponseGenerator {
    let keys: [APIKeyResource]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONWriter.response(status: .created) { json in
            json.object { json in
                json.key("data")
                json.array(keys) { json, key in key.write(to: &json) }
            }
        }
        response.headers[.cacheControl] = "no-store"  // every item carries a secret
        return response
    }
}

/// `{data, meta: {page, limit, total}}` (seed 002).
struct PageResource<Item: JSONWritable>: ResponseGenerator {
    let data: [Item]
    let page: Int
    let limit: Int
    let total: Int

    func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONWriter.response { json in
            json.object { json in
                json.key("data")
                json.array(data) { json, item in item.write(to: &json) }
                json.key("meta")
                json.object { json in
                    json.field("page", page)
                    json.field("limit", limit)
                    json.field("total", total)
                }
            }
        }
    }
}
