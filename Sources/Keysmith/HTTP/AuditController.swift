import Hummingbird

/// `GET /v1/audit-events?page&limit&action&target_id`: the workspace's audit log, newest first, in the
/// seed's list shape. Admin keys only (the group's policy).
struct AuditController {
    typealias Context = KeysmithRequestContext

    let store: any KeyStore

    func addRoutes(to group: RouterGroup<Context>) {
        group.get(use: list)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> PageResource<AuditEventResource> {
        let caller = try context.requireCaller()
        let parameters = QueryParameters(request)
        let page = try parameters.integer("page", default: 1, range: 1...1_000_000)
        let limit = try parameters.integer("limit", default: 20, range: 1...100)
        let action = parameters["action"]
        if let action, AuditAction(rawValue: action) == nil {
            throw APIError.badRequest("unknown action; one of \(AuditAction.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let targetID = parameters["target_id"]
        if let targetID, targetID.isEmpty || targetID.utf8.count > 128 { throw APIError.badRequest("target_id must be 1 to 128 characters") }
        let (events, total) = try await store.auditEvents(
            AuditQuery(workspaceID: caller.workspaceID, page: page, limit: limit, action: action, targetID: targetID)
        )
        return PageResource(data: events.map(AuditEventResource.init), page: page, limit: limit, total: total)
    }
}

/// One entry: `{"id", "at", "actor", "action", "target_type", "target_id", "ip", "user_agent", "request_id", "changes"}`.
struct AuditEventResource: JSONWritable {
    let event: AuditEvent

    func write(to json: inout JSONWriter) {
        json.object { json in
            json.field("id", event.id)
            json.field("at", event.at)
            json.field("actor", event.actor)
            json.field("action", event.action)
            json.field("target_type", event.targetType)
            json.field("target_id", event.targetID)
            json.field("ip", event.ip)
            json.field("user_agent", event.userAgent)
            json.field("request_id", event.requestID)
            json.key("changes")
            json.raw(event.changes)  // a JSON object the store wrote
        }
    }
}
