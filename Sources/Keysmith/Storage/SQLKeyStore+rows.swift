/// Rows to domain values and back, once for both dialects.
extension SQLKeyStore {
    static func workspace(from row: any SQLRow) -> Workspace {
        Workspace(id: row.text("id") ?? "", name: row.text("name") ?? "", createdAt: row.time("created_at") ?? Timestamp(milliseconds: 0))
    }

    /// The key of a row; `nil` for a scope this version does not know, which is refused, never guessed.
    static func key(from row: any SQLRow) -> APIKey? {
        guard let id = row.text("id"),
              let scope = row.text("scope").flatMap(Scope.init(rawValue:)),
              let hash = row.blob("secret_hash")
        else { return nil }
        let rateLimit: RateLimit? = if let limit = row.int("rate_limit"), let window = row.int("rate_window_seconds") {
            RateLimit(limit: limit, windowSeconds: window)
        } else { nil }
        return APIKey(
            id: id,
            workspaceID: row.text("workspace_id") ?? "",
            name: row.text("name") ?? "",
            description: row.text("description"),
            scope: scope,
            secretHash: SecretHash(bytes: hash),
            serviceAccountID: row.text("service_account_id"),
            createdAt: row.time("created_at") ?? Timestamp(milliseconds: 0),
            createdBy: row.text("created_by") ?? "",
            expiresAt: row.time("expires_at"),
            lastUsed: row.time("last_used_at").map { KeyUsage(at: $0, ip: row.text("last_used_ip"), userAgent: row.text("last_used_user_agent")) },
            revokedAt: row.time("revoked_at"),
            permissions: permissions(fromColumn: row.text("permissions") ?? "*"),
            rateLimit: rateLimit,
            allowedIPs: row.text("allowed_ips").map(allowedIPs(fromColumn:)),
            enabled: row.bool("enabled") ?? true,
            metadata: row.text("metadata"),
            keyPrefix: row.text("key_prefix"),
            rolledFrom: row.text("rolled_from")
        )
    }

    /// A key's columns in the order `insertKeys` names them.
    static func columns(of key: APIKey, ordinal: Int64) -> [SQLValue] {
        [
            .text(key.id), .text(key.workspaceID), .integer(ordinal), .text(key.name), .text(KeyListQuery.fold(key.name)),
            .text(key.description), .text(key.scope.rawValue), .blob(key.secretHash.bytes), .text(key.serviceAccountID),
            .integer(key.createdAt.milliseconds), .text(key.createdBy), .integer(key.expiresAt?.milliseconds),
            .text(permissionsColumn(key.permissions)), .integer(key.rateLimit.map { Int64($0.limit) }),
            .integer(key.rateLimit.map { Int64($0.windowSeconds) }), .text(allowedIPsColumn(key.allowedIPs)),
            .bool(key.enabled), .text(key.metadata), .text(key.keyPrefix), .text(key.rolledFrom),
        ]
    }

    /// Permissions and address ranges are stored comma-separated: neither can contain a comma.
    static func permissionsColumn(_ permissions: [String]) -> String { permissions.joined(separator: ",") }

    static func permissions(fromColumn column: String) -> [String] {
        column.split(separator: ",").map(String.init)
    }

    static func allowedIPsColumn(_ ranges: [IPRange]?) -> String? { ranges.map { $0.map(\.description).joined(separator: ",") } }

    static func allowedIPs(fromColumn column: String) -> [IPRange] {
        column.split(separator: ",").compactMap { IPRange($0) }
    }

    static func webhook(from row: any SQLRow) -> WebhookEndpoint? {
        guard let id = row.text("id"), let workspaceID = row.text("workspace_id"), let url = row.text("url"),
              let sealed = row.text("sealed_secret")
        else { return nil }
        return WebhookEndpoint(
            id: id, workspaceID: workspaceID, url: url, description: row.text("description"),
            events: WebhookEndpoint.events(fromColumn: row.text("events") ?? "*"), sealedSecret: sealed,
            enabled: row.bool("enabled") ?? false, disabledReason: row.text("disabled_reason"),
            createdAt: row.time("created_at") ?? Timestamp(milliseconds: 0), updatedAt: row.time("updated_at") ?? Timestamp(milliseconds: 0)
        )
    }

    static func auditEvent(from row: any SQLRow) -> AuditEvent? {
        guard let id = row.text("id"), let at = row.time("at") else { return nil }
        return AuditEvent(
            id: id, workspaceID: row.text("workspace_id") ?? "", at: at, actor: row.text("actor") ?? "",
            action: row.text("action") ?? "", targetType: row.text("target_type") ?? "", targetID: row.text("target_id") ?? "",
            ip: row.text("ip"), userAgent: row.text("user_agent"), requestID: row.text("request_id"), changes: row.text("changes") ?? "{}"
        )
    }

    static func auditColumns(of event: AuditEvent, ordinal: Int64) -> [SQLValue] {
        [
            .text(event.id), .text(event.workspaceID), .integer(ordinal), .integer(event.at.milliseconds), .text(event.actor), .text(event.action),
            .text(event.targetType), .text(event.targetID), .text(event.ip), .text(event.userAgent), .text(event.requestID),
            .text(event.changes),
        ]
    }

    static func attempt(from row: any SQLRow) -> DeliveryAttempt? {
        guard let deliveryID = row.text("delivery_id"), let attemptedAt = row.time("attempted_at") else { return nil }
        return DeliveryAttempt(
            deliveryID: deliveryID, webhookID: row.text("webhook_id") ?? "", eventID: row.text("event_id") ?? "",
            eventType: row.text("event_type") ?? "", attempt: row.int("attempt") ?? 0, attemptedAt: attemptedAt,
            statusCode: row.int("status_code"), error: row.text("error"), durationMilliseconds: row.int("duration_ms") ?? 0,
            nextRetryAt: row.time("next_retry_at")
        )
    }
}
