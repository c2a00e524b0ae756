import Hummingbird
import KeysmithWebhooks

/// `/v1/webhooks`: register, list, change, delete and test the endpoints that receive key events, and
/// see their recent deliveries. Scope `admin`, within the caller's workspace.
struct WebhookController {
    typealias Context = KeysmithRequestContext

    let store: any KeyStore
    let secrets: SecretBox
    let policy: WebhookTargetPolicy
    let deliverer: WebhookDeliverer
    let quotas: WebhookQuotas
    /// The application's clock: creation and change times, the rotation grace, test events.
    let clock: @Sendable () -> Timestamp

    func addRoutes(to group: RouterGroup<Context>) {
        group.post(use: create)
        group.get(use: list)
        group.get(":id", use: show)
        group.patch(":id", use: update)
        group.delete(":id", use: delete)
        group.post(":id/test", use: test)
        group.get(":id/deliveries", use: deliveries)
    }

    @Sendable func create(_ request: Request, context: Context) async throws -> Response {
        let caller = try context.requireCaller()
        let body = try await JSONObject.read(from: request, context: context)
        try body.requireOnly(["url", "secret", "events", "description"])
        guard let url = try body.string("url") ?? nil else { throw APIError.badRequest("url is required") }
        try await policy.check(url, workspaceID: caller.workspaceID)
        let secret = try Self.secret(try body.string("secret") ?? nil) ?? WebhookSigner.generateSecret()
        let now = clock()
        let id = WebhookEndpoint.newID()
        let endpoint = WebhookEndpoint(
            id: id, workspaceID: caller.workspaceID, url: url,
            description: try KeyFields.description(try body.string("description") ?? nil),
            events: try Self.events(body), sealedSecret: try secrets.seal(secret, webhookID: id), enabled: true, disabledReason: nil,
            createdAt: now, updatedAt: now
        )
        guard try await store.createWebhook(endpoint, limit: quotas.endpointsPerWorkspace, audit: try context.auditContext()) else {
            // Deleting an endpoint frees a place at once, so there is no better time to give than "now".
            return try Self.tooManyRequests("this workspace already has \(quotas.endpointsPerWorkspace) webhooks, the most it may have; delete one first",
                                            retryAfterSeconds: 60, request: request, context: context)
        }
        return try WebhookResource(endpoint: endpoint, secret: secret, status: .created).response(from: request, context: context)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> PageResource<WebhookResource> {
        let caller = try context.requireCaller()
        let page = try QueryParameters(request).integer("page", default: 1, range: 1...1_000_000)
        let limit = try QueryParameters(request).integer("limit", default: 20, range: 1...100)
        let (endpoints, total) = try await store.listWebhooks(workspaceID: caller.workspaceID, page: page, limit: limit)
        return PageResource(data: endpoints.map { WebhookResource(endpoint: $0) }, page: page, limit: limit, total: total)
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> WebhookResource {
        WebhookResource(endpoint: try await find(context))
    }

    @Sendable func update(_ request: Request, context: Context) async throws -> WebhookResource {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let body = try await JSONObject.read(from: request, context: context)
        try body.requireOnly(["url", "events", "description", "enabled", "secret", "rotate_secret"])
        var change = WebhookChange()
        if let url = try body.string("url") {
            guard let url else { throw APIError.badRequest("url must not be null") }
            try await policy.check(url, workspaceID: caller.workspaceID)
            change.url = url
        }
        if let description = try body.string("description") { change.description = .some(try KeyFields.description(description)) }
        if body.has("events") { change.events = try Self.events(body) }
        change.enabled = try body.bool("enabled")
        var newSecret: String?
        if try body.bool("rotate_secret") == true { newSecret = WebhookSigner.generateSecret() }
        if let given = try Self.secret(try body.string("secret") ?? nil) {
            guard newSecret == nil else { throw APIError.badRequest("give 'secret' or 'rotate_secret', not both") }
            newSecret = given
        }
        change.sealedSecret = try newSecret.map { try secrets.seal($0, webhookID: id) }
        // The replaced secret keeps signing beside the new one, so receivers can switch without losing deliveries.
        let now = clock()
        if change.sealedSecret != nil { change.previousSecretUntil = now.adding(milliseconds: quotas.previousSecretGrace.milliseconds) }
        guard change.url != nil || change.description != nil || change.events != nil || change.enabled != nil || change.sealedSecret != nil else { throw APIError.badRequest("give at least one of url, events, description, enabled, secret, rotate_secret") }
        guard let endpoint = try await store.updateWebhook(id: id, workspaceID: caller.workspaceID, change: change, at: now, audit: try context.auditContext()) else {
            throw Self.notFound(id)
        }
        return WebhookResource(endpoint: endpoint, secret: newSecret)
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> WebhookResource {
        let endpoint = try await find(context)
        guard try await store.deleteWebhook(id: endpoint.id, workspaceID: endpoint.workspaceID, audit: try context.auditContext()) else {
            throw Self.notFound(endpoint.id)
        }
        return WebhookResource(endpoint: endpoint)
    }

    @Sendable func test(_ request: Request, context: Context) async throws -> Response {
        let endpoint = try await find(context)
        let event = WebhookEvent.test(webhookID: endpoint.id, workspaceID: endpoint.workspaceID, at: clock())
        if let wait = try await store.enqueueTest(event, webhookID: endpoint.id, limit: quotas.testEventsPerWindow,
                                                  windowMilliseconds: quotas.testEventWindow.milliseconds) {
            return try Self.tooManyRequests(
                "this workspace may send \(quotas.testEventsPerWindow) test events per \(quotas.testEventWindow.milliseconds / 1000) seconds; try again later",
                retryAfterSeconds: Int((wait + 999) / 1000), request: request, context: context)
        }
        deliverer.poke()
        return JSONWriter.response(status: .accepted) { json in
            json.object { json in
                json.field("event_id", event.id)
                json.field("type", event.type.rawValue)
            }
        }
    }

    @Sendable func deliveries(_ request: Request, context: Context) async throws -> Response {
        let endpoint = try await find(context)
        let limit = try QueryParameters(request).integer("limit", default: 50, range: 1...100)
        let attempts = try await store.deliveryAttempts(webhookID: endpoint.id, limit: limit)
        return JSONWriter.response { json in
            json.object { json in
                json.key("data")
                json.array(attempts) { json, attempt in
                    json.object { json in
                        json.field("id", attempt.deliveryID)
                        json.field("event_id", attempt.eventID)
                        json.field("event_type", attempt.eventType)
                        json.field("attempt", attempt.attempt)
                        json.field("attempted_at", attempt.attemptedAt)
                        json.key("status_code")
                        json.raw(attempt.statusCode.map(String.init) ?? "null")
                        json.field("error", attempt.error)
                        json.field("duration_ms", attempt.durationMilliseconds)
                        json.field("next_retry_at", attempt.nextRetryAt)
                    }
                }
            }
        }
    }

    private func find(_ context: Context) async throws -> WebhookEndpoint {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        guard let endpoint = try await store.webhook(id: id, workspaceID: caller.workspaceID) else { throw Self.notFound(id) }
        return endpoint
    }

    static func notFound(_ id: String) -> APIError {
        APIError.notFound("no webhook with id '\(id.prefix(64))' in this workspace")
    }

    /// A 429 in the seed shape, with `Retry-After` in whole seconds.
    static func tooManyRequests(_ message: String, retryAfterSeconds: Int, request: Request, context: Context) throws -> Response {
        var response = try APIError(.tooManyRequests, message).response(from: request, context: context)
        response.headers[.retryAfter] = String(max(1, retryAfterSeconds))
        return response
    }

    /// User-supplied secrets: at least 24 bytes, since the HMAC is only as strong as its key.
    static func secret(_ raw: String?) throws -> String? {
        guard let raw else { return nil }
        guard (24...256).contains(raw.utf8.count), raw.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw APIError.badRequest("secret must be 24 to 256 printable ASCII characters without spaces")
        }
        return raw
    }

    /// `events`: a non-empty array of event types; absent means all of them.
    static func events(_ body: JSONObject) throws -> [WebhookEventType] {
        guard let names = try body.strings("events") else { return [] }
        guard !names.isEmpty else { throw APIError.badRequest("events must not be empty; leave it out to receive every event") }
        return try names.map { name in
            guard let type = WebhookEventType(rawValue: name), WebhookEventType.subscribable.contains(type) else {
                throw APIError.badRequest("unknown event '\(name)'; events are \(WebhookEventType.subscribable.map(\.rawValue).joined(separator: ", "))")
            }
            return type
        }
    }
}

/// The webhook object; `secret` only when it was just created or rotated.
struct WebhookResource: JSONWritable, ResponseGenerator {
    let endpoint: WebhookEndpoint
    var secret: String?
    var status: HTTPResponse.Status = .ok

    func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("id", endpoint.id)
            json.field("url", endpoint.url)
            json.field("description", endpoint.description)
            json.key("events")
            let events = endpoint.events.isEmpty ? WebhookEventType.subscribable : endpoint.events
            json.array(events) { json, type in json.string(type.rawValue) }
            json.field("enabled", endpoint.enabled)
            json.field("disabled_reason", endpoint.disabledReason)
            json.field("workspace_id", endpoint.workspaceID)
            json.field("created_at", endpoint.createdAt)
            json.field("updated_at", endpoint.updatedAt)
            if let secret { json.field("secret", secret) }
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONWriter.response(status: status) { write(to: &$0) }
        if secret != nil { response.headers[.cacheControl] = "no-store" }  // the signing secret must not sit in any cache
        return response
    }
}
