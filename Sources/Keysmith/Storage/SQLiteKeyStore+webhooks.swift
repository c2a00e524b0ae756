import NIOCore
import SQLiteNIO

extension SQLiteKeyStore {
    static let webhookMigration: [String] = [
        "ALTER TABLE api_keys ADD COLUMN expiry_notified_at INTEGER",
        """
        CREATE TABLE webhooks (
            id TEXT PRIMARY KEY,
            workspace_id TEXT NOT NULL REFERENCES workspaces(id),
            url TEXT NOT NULL,
            description TEXT,
            events TEXT NOT NULL,
            sealed_secret TEXT NOT NULL,
            enabled INTEGER NOT NULL,
            disabled_reason TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )
        """,
        "CREATE INDEX webhooks_by_workspace ON webhooks (workspace_id, created_at DESC)",
        """
        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            workspace_id TEXT NOT NULL,
            type TEXT NOT NULL,
            key_id TEXT,
            created_at INTEGER NOT NULL,
            payload TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE webhook_deliveries (
            id TEXT PRIMARY KEY,
            webhook_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at INTEGER,
            locked_until INTEGER NOT NULL,
            created_at INTEGER NOT NULL
        )
        """,
        "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
        """
        CREATE TABLE webhook_attempts (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            delivery_id TEXT NOT NULL,
            webhook_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            attempted_at INTEGER NOT NULL,
            status_code INTEGER,
            error TEXT,
            duration_ms INTEGER NOT NULL,
            next_retry_at INTEGER
        )
        """,
        "CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, seq DESC)",
    ]

    /// The webhook schema's own versions, kept apart from `migrations` so webhook and key changes merge
    /// independently; applied after them. Append, never edit.
    static let webhookMigrations: [[String]] = [
        [
            "ALTER TABLE webhooks ADD COLUMN previous_sealed_secret TEXT",
            "ALTER TABLE webhooks ADD COLUMN previous_secret_until INTEGER",
            "CREATE TABLE webhook_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE INDEX events_by_workspace_type ON events (workspace_id, type, created_at)",
            "CREATE INDEX events_by_age ON events (created_at)",
            "CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, status, locked_until)",
            "CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (created_at)",
            "CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id)",
            "CREATE INDEX webhook_attempts_by_age ON webhook_attempts (attempted_at)",
        ],
    ]

    public func migrateWebhooks() async throws {
        try await transaction { db in
            _ = try await db.query("CREATE TABLE IF NOT EXISTS webhook_schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            let applied = Set(try await db.query("SELECT version FROM webhook_schema_migrations").compactMap { $0.column("version")?.integer })
            for (index, statements) in Self.webhookMigrations.enumerated() where !applied.contains(index + 1) {
                for statement in statements { _ = try await db.query(statement) }
                _ = try await db.query("INSERT INTO webhook_schema_migrations (version, applied_at) VALUES (?, ?)",
                                       [.integer(index + 1), .timestamp(.now())])
            }
        }
    }

    public func webhookKeyCheck(storingIfAbsent candidate: String) async throws -> String {
        try await transaction { db in
            _ = try await db.query("INSERT OR IGNORE INTO webhook_settings (name, value) VALUES ('key_check', ?)", [.text(candidate)])
            return try await db.query("SELECT value FROM webhook_settings WHERE name = 'key_check'").first?.column("value")?.string ?? candidate
        }
    }

    public func anySealedWebhookSecret() async throws -> (webhookID: String, sealed: String)? {
        guard let row = try await reader.query("SELECT id, sealed_secret FROM webhooks LIMIT 1").first,
              let id = row.column("id")?.string, let sealed = row.column("sealed_secret")?.string
        else { return nil }
        return (id, sealed)
    }

    public func createWebhook(_ endpoint: WebhookEndpoint, limit: Int) async throws -> Bool {
        try await transaction { db in
            let count = try await db.query("SELECT count(*) AS n FROM webhooks WHERE workspace_id = ?", [.text(endpoint.workspaceID)])
                .first?.column("n")?.integer ?? 0
            guard count < limit else { return false }
            _ = try await db.query(
                """
                INSERT INTO webhooks (id, workspace_id, url, description, events, sealed_secret, enabled, disabled_reason, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(endpoint.id), .text(endpoint.workspaceID), .text(endpoint.url), .optionalText(endpoint.description),
                    .text(endpoint.eventsColumn), .text(endpoint.sealedSecret), .integer(endpoint.enabled ? 1 : 0),
                    .optionalText(endpoint.disabledReason), .timestamp(endpoint.createdAt), .timestamp(endpoint.updatedAt),
                ]
            )
            return true
        }
    }

    public func webhook(id: String, workspaceID: String) async throws -> WebhookEndpoint? {
        try await reader.query("SELECT * FROM webhooks WHERE id = ? AND workspace_id = ?", [.text(id), .text(workspaceID)])
            .first.flatMap(Self.webhook(from:))
    }

    public func listWebhooks(workspaceID: String, page: Int, limit: Int) async throws -> (webhooks: [WebhookEndpoint], total: Int) {
        let total = try await reader.query("SELECT count(*) AS n FROM webhooks WHERE workspace_id = ?", [.text(workspaceID)])
            .first?.column("n")?.integer ?? 0
        let rows = try await reader.query(
            "SELECT * FROM webhooks WHERE workspace_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            [.text(workspaceID), .integer(limit), .integer((page - 1) * limit)]
        )
        return (rows.compactMap(Self.webhook(from:)), total)
    }

    public func updateWebhook(id: String, workspaceID: String, change: WebhookChange, at: Timestamp) async throws -> WebhookEndpoint? {
        try await transaction { db in
            guard var endpoint = try await db.query("SELECT * FROM webhooks WHERE id = ? AND workspace_id = ?", [.text(id), .text(workspaceID)])
                .first.flatMap(Self.webhook(from:))
            else { return nil }
            if let url = change.url { endpoint.url = url }
            if let description = change.description { endpoint.description = description }
            if let events = change.events { endpoint.events = events }
            if let enabled = change.enabled {
                endpoint.enabled = enabled
                if enabled { endpoint.disabledReason = nil }
            }
            var previous: (sealed: String?, until: Timestamp?)?
            if let sealed = change.sealedSecret {
                previous = change.previousSecretUntil.map { (endpoint.sealedSecret, $0) } ?? (nil, nil)
                endpoint.sealedSecret = sealed
            }
            endpoint.updatedAt = at
            if let previous {
                _ = try await db.query("UPDATE webhooks SET previous_sealed_secret = ?, previous_secret_until = ? WHERE id = ?",
                                       [.optionalText(previous.sealed), .optionalTimestamp(previous.until), .text(id)])
            }
            _ = try await db.query(
                """
                UPDATE webhooks SET url = ?, description = ?, events = ?, sealed_secret = ?, enabled = ?, disabled_reason = ?, updated_at = ?
                WHERE id = ?
                """,
                [
                    .text(endpoint.url), .optionalText(endpoint.description), .text(endpoint.eventsColumn), .text(endpoint.sealedSecret),
                    .integer(endpoint.enabled ? 1 : 0), .optionalText(endpoint.disabledReason), .timestamp(at), .text(id),
                ]
            )
            return endpoint
        }
    }

    public func deleteWebhook(id: String, workspaceID: String) async throws -> Bool {
        try await transaction { db in
            guard try await !db.query("SELECT 1 FROM webhooks WHERE id = ? AND workspace_id = ?", [.text(id), .text(workspaceID)]).isEmpty else {
                return false
            }
            for table in ["webhook_attempts", "webhook_deliveries"] {
                _ = try await db.query("DELETE FROM \(table) WHERE webhook_id = ?", [.text(id)])
            }
            _ = try await db.query("DELETE FROM webhooks WHERE id = ?", [.text(id)])
            return true
        }
    }

    public func enqueue(_ event: WebhookEvent, onlyTo webhookID: String?) async throws {
        try await transaction { db in try await Self.enqueue(event, onlyTo: webhookID, on: db) }
    }

    /// The outbox write, inside the caller's transaction.
    static func enqueue(_ event: WebhookEvent, onlyTo webhookID: String? = nil, on db: SQLiteConnection) async throws {
        _ = try await db.query(
            "INSERT INTO events (id, workspace_id, type, key_id, created_at, payload) VALUES (?, ?, ?, ?, ?, ?)",
            [.text(event.id), .text(event.workspaceID), .text(event.type.rawValue), .optionalText(event.keyID), .timestamp(event.createdAt), .text(event.payload)]
        )
        let target = webhookID == nil
            ? "workspace_id = ? AND enabled = 1 AND (events = '*' OR instr(events, ?) > 0)"
            : "workspace_id = ? AND id = ?"
        _ = try await db.query(
            """
            INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, attempts, next_attempt_at, locked_until, created_at)
            SELECT ? || ':' || id, id, ?, 'pending', 0, ?, 0, ? FROM webhooks WHERE \(target)
            """,
            [
                .text(event.id), .text(event.id), .timestamp(event.createdAt), .timestamp(event.createdAt), .text(event.workspaceID),
                .text(webhookID ?? ",\(event.type.rawValue),"),
            ]
        )
    }

    public func claimDeliveries(now: Timestamp, limit: Int, perEndpoint: Int, leaseMilliseconds: Int64) async throws -> [ClaimedDelivery] {
        try await transaction { db in
            // Each endpoint's due rows are ranked oldest first; an endpoint contributes only what its free slots
            // (perEndpoint minus its leased rows) allow, so a backlog on one never fills the claim for the others.
            let rows = try await db.query(
                """
                WITH busy AS (
                    SELECT webhook_id, count(*) AS n FROM webhook_deliveries
                    WHERE status = 'pending' AND locked_until > ?1 GROUP BY webhook_id
                ), due AS (
                    SELECT d.id, d.webhook_id, d.next_attempt_at,
                           row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.id) AS rank
                    FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.enabled = 1
                    WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND d.locked_until <= ?1
                )
                SELECT d.id, d.webhook_id, d.event_id, d.attempts, w.url, w.sealed_secret, e.type, e.payload,
                       CASE WHEN w.previous_secret_until > ?1 THEN w.previous_sealed_secret END AS previous_sealed_secret
                FROM due
                LEFT JOIN busy ON busy.webhook_id = due.webhook_id
                JOIN webhook_deliveries d ON d.id = due.id
                JOIN webhooks w ON w.id = d.webhook_id
                JOIN events e ON e.id = d.event_id
                WHERE due.rank + coalesce(busy.n, 0) <= ?2
                ORDER BY due.next_attempt_at LIMIT ?3
                """,
                [.timestamp(now), .integer(perEndpoint), .integer(limit)]
            )
            let claimed = rows.compactMap { row -> ClaimedDelivery? in
                guard let id = row.column("id")?.string, let webhookID = row.column("webhook_id")?.string,
                      let url = row.column("url")?.string, let sealed = row.column("sealed_secret")?.string,
                      let eventID = row.column("event_id")?.string, let type = row.column("type")?.string,
                      let payload = row.column("payload")?.string
                else { return nil }
                return ClaimedDelivery(id: id, webhookID: webhookID, url: url, sealedSecret: sealed, eventID: eventID,
                                       eventType: type, payload: payload, attempts: row.column("attempts")?.integer ?? 0,
                                       previousSealedSecret: row.column("previous_sealed_secret")?.string)
            }
            for delivery in claimed {
                _ = try await db.query("UPDATE webhook_deliveries SET locked_until = ? WHERE id = ?",
                                       [.timestamp(now.adding(milliseconds: leaseMilliseconds)), .text(delivery.id)])
            }
            return claimed
        }
    }

    public func enqueueTest(_ event: WebhookEvent, webhookID: String, limit: Int, windowMilliseconds: Int64) async throws -> Int64? {
        try await transaction { db in
            let since = event.createdAt.adding(milliseconds: -windowMilliseconds)
            let recent = try await db.query(
                "SELECT created_at FROM events WHERE workspace_id = ? AND type = ? AND created_at > ? ORDER BY created_at DESC LIMIT ?",
                [.text(event.workspaceID), .text(WebhookEventType.test.rawValue), .timestamp(since), .integer(limit)]
            ).compactMap { $0.column("created_at")?.integer }
            if recent.count >= limit, let oldest = recent.last {
                return max(1, Int64(oldest) + windowMilliseconds - event.createdAt.milliseconds)
            }
            try await Self.enqueue(event, onlyTo: webhookID, on: db)
            return nil
        }
    }

    public func pruneWebhookHistory(before: Timestamp, now: Timestamp) async throws -> WebhookPruneCount {
        try await transaction { db in
            var count = WebhookPruneCount()
            count.attempts = try await Self.changes(db, "DELETE FROM webhook_attempts WHERE attempted_at < ?", [.timestamp(before)])
            // A delivery leased right now is being sent; it goes on a later pass.
            count.deliveries = try await Self.changes(db, "DELETE FROM webhook_deliveries WHERE created_at < ? AND locked_until <= ?",
                                                      [.timestamp(before), .timestamp(now)])
            count.events = try await Self.changes(db, """
                DELETE FROM events WHERE created_at < ?
                AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = events.id)
                """, [.timestamp(before)])
            return count
        }
    }

    private static func changes(_ db: SQLiteConnection, _ sql: String, _ binds: [SQLiteData]) async throws -> Int {
        _ = try await db.query(sql, binds)
        return try await db.query("SELECT changes() AS n").first?.column("n")?.integer ?? 0
    }

    public func releaseDeliveries(ids: [String]) async throws {
        guard !ids.isEmpty else { return }
        try await transaction { db in
            for id in ids { _ = try await db.query("UPDATE webhook_deliveries SET locked_until = 0 WHERE id = ?", [.text(id)]) }
        }
    }

    public func finishDelivery(_ attempt: DeliveryAttempt, outcome: DeliveryOutcome) async throws {
        try await transaction { db in
            _ = try await db.query(
                """
                INSERT INTO webhook_attempts (delivery_id, webhook_id, event_id, event_type, attempt, attempted_at, status_code, error, duration_ms, next_retry_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(attempt.deliveryID), .text(attempt.webhookID), .text(attempt.eventID), .text(attempt.eventType),
                    .integer(attempt.attempt), .timestamp(attempt.attemptedAt), attempt.statusCode.map { .integer($0) } ?? .null,
                    .optionalText(attempt.error), .integer(attempt.durationMilliseconds), .optionalTimestamp(attempt.nextRetryAt),
                ]
            )
            let (status, next): (String, Timestamp?) = switch outcome {
            case .succeeded: ("succeeded", nil)
            case .retry(let at): ("pending", at)
            case .failed, .gone: ("failed", nil)
            }
            _ = try await db.query(
                "UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, locked_until = 0 WHERE id = ?",
                [.text(status), .integer(attempt.attempt), .optionalTimestamp(next), .text(attempt.deliveryID)]
            )
            if outcome == .gone {
                _ = try await db.query(
                    "UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ?",
                    [.text(WebhookDeliverer.goneReason), .timestamp(attempt.attemptedAt), .text(attempt.webhookID)]
                )
            }
        }
    }

    public func deliveryAttempts(webhookID: String, limit: Int) async throws -> [DeliveryAttempt] {
        try await reader.query(
            "SELECT * FROM webhook_attempts WHERE webhook_id = ? ORDER BY seq DESC LIMIT ?", [.text(webhookID), .integer(limit)]
        ).compactMap { row in
            guard let deliveryID = row.column("delivery_id")?.string, let attemptedAt = row.column("attempted_at")?.integer else { return nil }
            return DeliveryAttempt(
                deliveryID: deliveryID, webhookID: webhookID, eventID: row.column("event_id")?.string ?? "",
                eventType: row.column("event_type")?.string ?? "", attempt: row.column("attempt")?.integer ?? 0,
                attemptedAt: Timestamp(milliseconds: Int64(attemptedAt)), statusCode: row.column("status_code")?.integer,
                error: row.column("error")?.string, durationMilliseconds: row.column("duration_ms")?.integer ?? 0,
                nextRetryAt: row.column("next_retry_at")?.integer.map { Timestamp(milliseconds: Int64($0)) }
            )
        }
    }

    public func notifyExpiredKeys(now: Timestamp) async throws -> Int {
        try await transaction { db in
            let expired = try await db.query(
                "SELECT * FROM api_keys WHERE expires_at <= ? AND expiry_notified_at IS NULL AND revoked_at IS NULL LIMIT 500",
                [.timestamp(now)]
            ).compactMap(Self.key(from:))
            for key in expired {
                _ = try await db.query("UPDATE api_keys SET expiry_notified_at = ? WHERE id = ?", [.timestamp(now), .text(key.id)])
                try await Self.enqueue(WebhookEvent.about(key, type: .keyExpired, at: now), on: db)
            }
            return expired.count
        }
    }

    private static func webhook(from row: SQLiteRow) -> WebhookEndpoint? {
        guard let id = row.column("id")?.string, let workspaceID = row.column("workspace_id")?.string,
              let url = row.column("url")?.string, let sealed = row.column("sealed_secret")?.string
        else { return nil }
        return WebhookEndpoint(
            id: id, workspaceID: workspaceID, url: url, description: row.column("description")?.string,
            events: WebhookEndpoint.events(fromColumn: row.column("events")?.string ?? "*"), sealedSecret: sealed,
            enabled: row.column("enabled")?.integer == 1, disabledReason: row.column("disabled_reason")?.string,
            createdAt: Timestamp(milliseconds: Int64(row.column("created_at")?.integer ?? 0)),
            updatedAt: Timestamp(milliseconds: Int64(row.column("updated_at")?.integer ?? 0))
        )
    }
}
