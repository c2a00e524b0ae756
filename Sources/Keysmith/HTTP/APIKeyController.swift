import Hummingbird

/// `/v1/api-keys`: create, list, read, rename and revoke the keys of the caller's workspace (seeds 000–004).
/// Every route needs scope `admin` (`ScopePolicy` on the route group); a key of another workspace does not exist to the caller.
struct APIKeyController {
    typealias Context = KeysmithRequestContext

    /// Every change goes through it: the transaction, then the cache and the webhook deliverer.
    let keys: KeyService
    var store: any KeyStore { keys.store }
    /// The application's clock: expiry checks and every key object's `is_expired`.
    var clock: @Sendable () -> Timestamp { keys.clock }

    static let dormancy: Int64 = 90 * 86_400_000

    func addRoutes(to group: RouterGroup<Context>) {
        group.post(use: create)
        group.post("batch", use: createBatch)
        group.get(use: list)
        group.get(":id", use: show)
        group.patch(":id", use: update)
        group.delete(":id", use: revoke)
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> APIKeyResource {
        let caller = try context.requireCaller()
        let now = clock()
        let fields = try Self.issueRequest(from: try await JSONObject.read(from: request, context: context), caller: caller, now: now)
        let (key, token) = try await keys.issue([fields], audit: try context.auditContext())[0]
        return APIKeyResource(key, secret: token.bearer, now: now)  // 201, the only response with a secret
    }

    /// Bodies of up to 1,000 keys; a key's JSON is at most about 1.5 KiB.
    static let batchLimit = 1000
    static let batchBodyLimit = 2 * 1024 * 1024

    /// `POST /v1/api-keys/batch`: `{"keys": [...]}`, each item the body of a single create, all in one
    /// transaction. A refused item is named by its index, and nothing is created.
    @Sendable func createBatch(_ request: Request, context: Context) async throws -> BatchResource {
        let caller = try context.requireCaller()
        let body = try await JSONObject.read(from: request, context: context, limit: Self.batchBodyLimit)
        try body.requireOnly(["keys"])
        guard let items = try body.objects("keys") else { throw APIError.badRequest("keys is required: an array of 1 to \(Self.batchLimit) keys") }
        guard (1...Self.batchLimit).contains(items.count) else {
            throw APIError.badRequest("keys must hold 1 to \(Self.batchLimit) keys; it has \(items.count)")
        }
        let now = clock()
        let requests = try items.enumerated().map { index, item in
            do {
                return try Self.issueRequest(from: item, caller: caller, now: now)
            } catch let error as APIError {
                throw APIError(error.status, "keys[\(index)]: \(error.message)", headers: error.headers)
            } catch let error as FieldError {
                throw APIError.badRequest("keys[\(index)]: \(error.message)")
            } catch let error as KeyAuthority.Refusal {
                throw APIError.forbidden("keys[\(index)]: \(error.message)")
            }
        }
        let issued = try await keys.issue(requests, audit: try context.auditContext())
        return BatchResource(keys: issued.map { APIKeyResource($0.key, secret: $0.token.bearer, now: now) })
    }

    static let createFields = Set(["name", "description", "scope", "expires_at", "expiresAt", "service_account_id", "serviceAccountId", "metadata"])
        .union(KeyAccessFields.names)
    static let updateFields = Set(["name", "description", "enabled", "metadata"]).union(KeyAccessFields.names)

    /// The key a create body asks for, within the caller's own authority: its scope, permissions, expiry,
    /// allowed addresses and rate limit, each inherited from the caller when the body leaves it out.
    static func issueRequest(from body: JSONObject, caller: APIKey, now: Timestamp) throws -> KeyIssuer.Request {
        try body.requireOnly(Self.createFields)
        let scope = try KeyFields.scope(try body.string("scope") ?? nil, default: caller.scope)
        let expiry = try KeyFields.expiry(try body.string("expires_at", or: "expiresAt") ?? nil, now: now)
        let access = try KeyAccessFields(body, nullPermissionsAllowed: true)
        let fields = KeyIssuer.Request(
            workspaceID: caller.workspaceID,
            name: try KeyFields.name(try body.string("name") ?? nil),
            description: try KeyFields.description(try body.string("description") ?? nil),
            scope: scope,
            expiresAt: try KeyFields.expiry(expiry, within: caller.expiresAt),
            serviceAccountID: try KeyFields.serviceAccountID(try body.string("service_account_id", or: "serviceAccountId") ?? nil),
            createdBy: caller.id,
            permissions: access.permissions ?? caller.permissions,  // seed 000: inherited from the creator
            rateLimit: access.rateLimit ?? caller.rateLimit,
            allowedIPs: access.allowedIPs ?? caller.allowedIPs,
            metadata: try body.metadata() ?? nil
        )
        guard caller.scope.allows(scope) else {
            throw APIError.forbidden("a key with scope '\(caller.scope.rawValue)' cannot create a key with scope '\(scope.rawValue)'")
        }
        let authority = KeyAuthority(of: caller)
        try authority.requireCovers(permissions: fields.permissions)
        try authority.requireCovers(allowedIPs: fields.allowedIPs)
        try authority.requireCovers(rateLimit: fields.rateLimit)
        return fields
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> PageResource<APIKeyResource> {
        let caller = try context.requireCaller()
        let parameters = QueryParameters(request)
        let page = try parameters.integer("page", default: 1, range: 1...1_000_000)
        let limit = try parameters.integer("limit", default: 20, range: 1...100)
        let now = clock()
        let query = KeyListQuery(
            workspaceID: caller.workspaceID,
            page: page,
            limit: limit,
            search: try KeyFields.search(parameters["search"]),
            includeRevoked: try parameters.boolean("include_revoked"),
            unusedSince: try parameters.boolean("dormant") ? now.adding(milliseconds: -Self.dormancy) : nil
        )
        let result = try await store.listKeys(query)
        return PageResource(data: result.keys.map { APIKeyResource($0, now: now) }, page: page, limit: limit, total: result.total)
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> APIKeyResource {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        guard let key = try await store.key(id: id), key.workspaceID == caller.workspaceID else { throw Self.notFound(id, active: false) }
        return APIKeyResource(key, now: clock())
    }

    /// `PATCH`: any of name, description, enabled, metadata, permissions, rate_limit and allowed_ips.
    @Sendable func update(_ request: Request, context: Context) async throws -> APIKeyResource {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let body = try await JSONObject.read(from: request, context: context)
        try body.requireOnly(Self.updateFields)
        let access = try KeyAccessFields(body, nullPermissionsAllowed: false)
        guard body.has("name") || body.has("description") || body.has("enabled") || body.has("metadata") || !access.isEmpty else {
            throw APIError.badRequest("give a new name, description, enabled, metadata, permissions, rate_limit or allowed_ips")
        }
        if body.has("enabled"), try body.bool("enabled") == nil { throw APIError.badRequest("'enabled' must be true or false") }
        var change = KeyLabelChange(permissions: access.permissions, rateLimit: access.rateLimit, allowedIPs: access.allowedIPs,
                                    enabled: try body.bool("enabled"), metadata: try body.metadata())
        if body.has("name") { change.name = try KeyFields.name(try body.string("name") ?? nil) }
        if let description = try body.string("description") { change.description = .some(try KeyFields.description(description)) }
        // A key loosens no restriction beyond its own, its own included; the key changed must be within it too.
        let authority = KeyAuthority(of: caller)
        if let permissions = access.permissions { try authority.requireCovers(permissions: permissions) }
        if let allowedIPs = access.allowedIPs { try authority.requireCovers(allowedIPs: allowedIPs) }
        if let rateLimit = access.rateLimit { try authority.requireCovers(rateLimit: rateLimit) }
        let changed = try await keys.update(id: id, workspaceID: caller.workspaceID, change: change, authority: authority,
                                            audit: try context.auditContext())
        guard let key = changed else { throw Self.notFound(id) }
        return APIKeyResource(key, now: clock())
    }

    @Sendable func revoke(_ request: Request, context: Context) async throws -> APIKeyResource {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let force = try QueryParameters(request).boolean("force")
        let now = clock()
        let revoked = try await keys.revoke(id: id, workspaceID: caller.workspaceID, at: now, allowingLastAdmin: force,
                                            authority: KeyAuthority(of: caller), audit: try context.auditContext())
        guard let key = revoked else { throw Self.notFound(id) }
        return APIKeyResource(key, now: now)
    }

    static func notFound(_ id: String, active: Bool = true) -> APIError {
        APIError.notFound("no \(active ? "active " : "")API key with id '\(id.prefix(64))' in this workspace")
    }
}
