import Foundation
import Logging
import PostgresNIO

extension PostgresKeyStore {
    static let webhookMigration: [String] = [
        "ALTER TABLE api_keys ADD COLUMN expiry_notified_at BIGINT",
        """
        CREATE TABLE webhooks (
            id TEXT PRIMARY KEY,
            seq BIGSERIAL NOT NULL,
            workspace_id TEXT NOT NULL REFERENCES workspaces(id),
            url TEXT NOT NULL,
            description TEXT,
            events TEXT NOT NULL,
            sealed_secret TEXT NOT NULL,
            enabled BOOLEAN NOT NULL,
            disabled_reason TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )
        """,
        "CREATE INDEX webhooks_by_workspace ON webhooks (workspace_id, created_at DESC, seq DESC)",
        """
        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            workspace_id TEXT NOT NULL,
            type TEXT NOT NULL,
            key_id TEXT,
            created_at BIGINT NOT NULL,
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
            next_attempt_at BIGINT,
            locked_until BIGINT NOT NULL,
            created_at BIGINT NOT NULL
        )
        """,
        "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
        """
        CREATE TABLE webhook_attempts (
            seq BIGSERIAL PRIMARY KEY,
            delivery_id TEXT NOT NULL,
            webhook_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            attempted_at BIGINT NOT NULL,
            status_code INTEGER,
            error TEXT,
            duration_ms INTEGER NOT NULL,
            next_retry_at BIGINT
        )
        """,
        "CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, seq DESC)",
    ]

    /// The webhook schema's own versions, kept apart from `migrations` so webhook and key changes merge
    /// independently; applied after them. Append, never edit.
    static let webhookMigrations: [[String]] = [
        [
            "ALTER TABLE webhooks ADD COLUMN previous_sealed_secret TEXT",
            "ALTER TABLE webhooks ADD COLUMN previous_secret_until BIGINT",
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
        try await transaction { [logger] connection in
            // One instance migrates at a time (its own lock, beside `migrate()`'s).
            try await connection.query("SELECT pg_advisory_xact_lock(7305643216850)", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS webhook_schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
                logger: logger
            )
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM webhook_schema_migrations", logger: logger).decode(Int.self) {
                applied.insert(version)
            }
            for (index, statements) in Self.webhookMigrations.enumerated() where !applied.contains(index + 1) {
                for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                let version = index + 1
                try await connection.query(
                    "INSERT INTO webhook_schema_migrations (version, applied_at) VALUES (\(version), \(Timestamp.now().milliseconds))",
                    logger: logger
                )
            }
        }
    }

    public func webhookKeyCheck(storingIfAbsent candidate: String) async throws -> String {
        try await query("INSERT INTO webhook_settings (name, value) VALUES ('key_check', \(candidate)) ON CONFLICT (name) DO NOTHING")
        return try await query("SELECT value FROM webhook_settings WHERE name = 'key_check'").first.map { try $0["value"].decode(String.self) } ?? candidate
    }

    public func anySealedWebhookSecret() async throws -> (webhookID: String, sealed: String)? {
        try await query("SELECT id, sealed_secret FROM webhooks LIMIT 1").first.map {
            (try $0["id"].decode(String.self), try $0["sealed_secret"].decode(String.self))
        }
    }

    public func createWebhook(_ endpoint: WebhookEndpoint, limit: Int) async throws -> Bool {
        try await transaction { [logger] connection in
            // Serialises creates per workspace, so concurrent requests cannot pass the limit together.
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(endpoint.workspaceID))::bigint)", logger: logger)
            let count = try await Self.rows("SELECT count(*)::bigint AS n FROM webhooks WHERE workspace_id = \(endpoint.workspaceID)",
                                            on: connection, logger: logger).first.map { try $0["n"].decode(Int.self) } ?? 0
            guard count < limit else { return false }
            try await connection.query(
                """
                INSERT INTO webhooks (id, workspace_id, url, description, events, sealed_secret, enabled, disabled_reason, created_at, updated_at)
                VALUES (\(endpoint.id), \(endpoint.workspaceID), \(endpoint.url), \(endpoint.description), \(endpoint.eventsColumn),
                        \(endpoint.sealedSecret), \(endpoint.enabled), \(endpoint.disabledReason), \(endpoint.createdAt.milliseconds),
                        \(endpoint.updatedAt.milliseconds))
                """,
                logger: logger
            )
            return true
        }
    }

    public func enqueueTest(_ event: WebhookEvent, webhookID: String, limit: Int, windowMilliseconds: Int64) async throws -> Int64? {
        try await transaction { [logger] connection in
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(event.workspaceID))::bigint)", logger: logger)
            let since = event.createdAt.milliseconds - windowMilliseconds
            let recent = try await Self.rows(
                """
                SELECT created_at FROM events WHERE workspace_id = \(event.workspaceID) AND type = \(WebhookEventType.test.rawValue)
                AND created_at > \(since) ORDER BY created_at DESC LIMIT \(limit)
                """,
                on: connection, logger: logger
            ).map { try $0["created_at"].decode(Int64.self) }
            if recent.count >= limit, let oldest = recent.last {
                return max(1, oldest + windowMilliseconds - event.createdAt.milliseconds)
            }
            try await Self.enqueue(event, onlyTo: webhookID, on: connection, logger: logger)
            return nil
        }
    }

    public func pruneWebhookHistory(before: Timestamp, now: Timestamp) async throws -> WebhookPruneCount {
        try await transaction { [logger] connection in
            var count = WebhookPruneCount()
            count.attempts = try await Self.rows("DELETE FROM webhook_attempts WHERE attempted_at < \(before.milliseconds) RETURNING 1",
                                                 on: connection, logger: logger).count
            // A delivery leased right now is being sent; it goes on a later pass.
            count.deliveries = try await Self.rows(
                "DELETE FROM webhook_deliveries WHERE created_at < \(before.milliseconds) AND locked_until <= \(now.milliseconds) RETURNING 1",
                on: connection, logger: logger
            ).count
            count.events = try await Self.rows(
                """
                DELETE FROM events WHERE created_at < \(before.milliseconds)
                AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = events.id) RETURNING 1
                """,
                on: connection, logger: logger
            ).count
            return count
        }
    }

    public func webhook(id: String, workspaceID: String) async throws -> WebhookEndpoint? {
        try await query("SELECT * FROM webhooks WHERE id = \(id) AND workspace_id = \(workspaceID)").first.map(Self.webhook(from:))
    }

    public func listWebhooks(workspaceID: String, page: Int, limit: Int) async throws -> (webhooks: [WebhookEndpoint], total: Int) {
        let total = try await query("SELECT count(*)::bigint AS n FROM webhooks WHERE workspace_id = \(workspaceID)")
            .first.map { try $0["n"].decode(Int.self) } ?? 0
        let offset = (page - 1) * limit
        let rows = try await query(
            "SELECT * FROM webhooks WHERE workspace_id = \(workspaceID) ORDER BY created_at DESC, seq DESC LIMIT \(limit) OFFSET \(offset)"
        )
        return (try rows.map(Self.webhook(from:)), total)
    }

    public func updateWebhook(id: String, workspaceID: String, change: WebhookChange, at: Timestamp) async throws -> WebhookEndpoint? {
        let setURL = change.url != nil, setDescription = change.description != nil, setEvents = change.events != nil
        let setEnabled = change.enabled != nil, setSecret = change.sealedSecret != nil
        let keepPrevious = change.previousSecretUntil != nil
        let description = change.description ?? nil
        let events = change.events.map { WebhookEndpoint(id: "", workspaceID: "", url: "", description: nil, events: $0, sealedSecret: "",
                                                          enabled: true, disabledReason: nil, createdAt: at, updatedAt: at).eventsColumn }
        let rows = try await query(
            """
            UPDATE webhooks SET
                url = CASE WHEN \(setURL) THEN \(change.url) ELSE url END,
                description = CASE WHEN \(setDescription) THEN \(description) ELSE description END,
                events = CASE WHEN \(setEvents) THEN \(events) ELSE events END,
                enabled = CASE WHEN \(setEnabled) THEN \(change.enabled) ELSE enabled END,
                disabled_reason = CASE WHEN \(change.enabled == true) THEN NULL ELSE disabled_reason END,
                previous_sealed_secret = CASE WHEN \(setSecret) THEN (CASE WHEN \(keepPrevious) THEN sealed_secret END) ELSE previous_sealed_secret END,
                previous_secret_until = CASE WHEN \(setSecret) THEN \(change.previousSecretUntil?.milliseconds) ELSE previous_secret_until END,
                sealed_secret = CASE WHEN \(setSecret) THEN \(change.sealedSecret) ELSE sealed_secret END,
                updated_at = \(at.milliseconds)
            WHERE id = \(id) AND workspace_id = \(workspaceID)
            RETURNING *
            """
        )
        return try rows.first.map(Self.webhook(from:))
    }

    public func deleteWebhook(id: String, workspaceID: String) async throws -> Bool {
        try await transaction { [logger] connection in
            let deleted = try await Self.rows("DELETE FROM webhooks WHERE id = \(id) AND workspace_id = \(workspaceID) RETURNING id", on: connection, logger: logger)
            guard !deleted.isEmpty else { return false }
            try await connection.query("DELETE FROM webhook_attempts WHERE webhook_id = \(id)", logger: logger)
            try await connection.query("DELETE FROM webhook_deliveries WHERE webhook_id = \(id)", logger: logger)
            return true
        }
    }

    public func enqueue(_ event: WebhookEvent, onlyTo webhookID: String?) async throws {
        try await transaction { [logger] connection in try await Self.enqueue(event, onlyTo: webhookID, on: connection, logger: logger) }
    }

    /// The outbox write, inside the caller's transaction.
    static func enqueue(_ event: WebhookEvent, onlyTo webhookID: String? = nil, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            INSERT INTO events (id, workspace_id, type, key_id, created_at, payload)
            VALUES (\(event.id), \(event.workspaceID), \(event.type.rawValue), \(event.keyID), \(event.createdAt.milliseconds), \(event.payload))
            """,
            logger: logger
        )
        let pattern = "," + event.type.rawValue + ","
        try await connection.query(
            """
            INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, attempts, next_attempt_at, locked_until, created_at)
            SELECT \(event.id) || ':' || id, id, \(event.id), 'pending', 0, \(event.createdAt.milliseconds), 0, \(event.createdAt.milliseconds)
            FROM webhooks
            WHERE workspace_id = \(event.workspaceID)
              AND CASE WHEN \(webhookID)::text IS NULL THEN enabled AND (events = '*' OR strpos(events, \(pattern)) > 0)
                       ELSE id = \(webhookID) END
            """,
            logger: logger
        )
    }

    public func claimDeliveries(now: Timestamp, limit: Int, perEndpoint: Int, leaseMilliseconds: Int64) async throws -> [ClaimedDelivery] {
        let lease = now.milliseconds + leaseMilliseconds
        let rows = try await transaction { [logger] connection in
            // Claims are serialised across instances, so the per-endpoint count each one sees is exact.
            try await connection.query("SELECT pg_advisory_xact_lock(7305643216851)", logger: logger)
            // Each endpoint's due rows are ranked oldest first; an endpoint contributes only what its free slots
            // (perEndpoint minus its leased rows) allow, so a backlog on one never fills the claim for the others.
            return try await Self.rows(
                """
                WITH busy AS (
                    SELECT webhook_id, count(*) AS n FROM webhook_deliveries
                    WHERE status = 'pending' AND locked_until > \(now.milliseconds) GROUP BY webhook_id
                ), ranked AS (
                    SELECT d.id, d.webhook_id, d.next_attempt_at,
                           row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.id) AS rank
                    FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.enabled
                    WHERE d.status = 'pending' AND d.next_attempt_at <= \(now.milliseconds) AND d.locked_until <= \(now.milliseconds)
                ), due AS (
                    SELECT ranked.id FROM ranked LEFT JOIN busy ON busy.webhook_id = ranked.webhook_id
                    WHERE ranked.rank + coalesce(busy.n, 0) <= \(perEndpoint)
                    ORDER BY ranked.next_attempt_at LIMIT \(limit)
                )
                UPDATE webhook_deliveries d SET locked_until = \(lease)
                FROM due, events e, webhooks w
                WHERE d.id = due.id AND e.id = d.event_id AND w.id = d.webhook_id
                RETURNING d.id, d.webhook_id, d.event_id, d.attempts, w.url, w.sealed_secret, e.type, e.payload,
                          CASE WHEN w.previous_secret_until > \(now.milliseconds) THEN w.previous_sealed_secret END AS previous_sealed_secret
                """,
                on: connection, logger: logger
            )
        }
        return try rows.map { row in
            ClaimedDelivery(
                id: try row["id"].decode(String.self), webhookID: try row["webhook_id"].decode(String.self),
                url: try row["url"].decode(String.self), sealedSecret: try row["sealed_secret"].decode(String.self),
                eventID: try row["event_id"].decode(String.self), eventType: try row["type"].decode(String.self),
                payload: try row["payload"].decode(String.self), attempts: try row["attempts"].decode(Int.self),
                previousSealedSecret: try row["previous_sealed_secret"].decode(String?.self)
            )
        }
    }

    public func releaseDeliveries(ids: [String]) async throws {
        guard !ids.isEmpty else { return }
        try await query("UPDATE webhook_deliveries SET locked_until = 0 WHERE id = ANY(\(ids))")
    }

    public func finishDelivery(_ attempt: DeliveryAttempt, outcome: DeliveryOutcome) async throws {
        let (status, next): (String, Int64?) = switch outcome {
        case .succeeded: ("succeeded", nil)
        case .retry(let at): ("pending", at.milliseconds)
        case .failed, .gone: ("failed", nil)
        }
        try await transaction { [logger] connection in
            try await connection.query(
                """
                INSERT INTO webhook_attempts (delivery_id, webhook_id, event_id, event_type, attempt, attempted_at, status_code, error, duration_ms, next_retry_at)
                VALUES (\(attempt.deliveryID), \(attempt.webhookID), \(attempt.eventID), \(attempt.eventType), \(attempt.attempt),
                        \(attempt.attemptedAt.milliseconds), \(attempt.statusCode), \(attempt.error), \(attempt.durationMilliseconds),
                        \(attempt.nextRetryAt?.milliseconds))
                """,
                logger: logger
            )
            try await connection.query(
                """
                UPDATE webhook_deliveries SET status = \(status), attempts = \(attempt.attempt), next_attempt_at = \(next), locked_until = 0
                WHERE id = \(attempt.deliveryID)
                """,
                logger: logger
            )
            if outcome == .gone {
                try await connection.query(
                    """
                    UPDATE webhooks SET enabled = false, disabled_reason = \(WebhookDeliverer.goneReason), updated_at = \(attempt.attemptedAt.milliseconds)
                    WHERE id = \(attempt.webhookID)
                    """,
                    logger: logger
                )
            }
        }
    }

    public func deliveryAttempts(webhookID: String, limit: Int) async throws -> [DeliveryAttempt] {
        try await query("SELECT * FROM webhook_attempts WHERE webhook_id = \(webhookID) ORDER BY seq DESC LIMIT \(limit)").map { row in
            DeliveryAttempt(
                deliveryID: try row["delivery_id"].decode(String.self), webhookID: webhookID,
                eventID: try row["event_id"].decode(String.self), eventType: try row["event_type"].decode(String.self),
                attempt: try row["attempt"].decode(Int.self), attemptedAt: Timestamp(milliseconds: try row["attempted_at"].decode(Int64.self)),
                statusCode: try row["status_code"].decode(Int?.self), error: try row["error"].decode(String?.self),
                durationMilliseconds: try row["duration_ms"].decode(Int.self),
                nextRetryAt: try row["next_retry_at"].decode(Int64?.self).map { Timestamp(milliseconds: $0) }
            )
        }
    }

    public func notifyExpiredKeys(now: Timestamp) async throws -> Int {
        try await transaction { [logger] connection in
            // The conditional UPDATE is the "once": of several instances, one row update wins per key.
            let expired = try await Self.rows(
                """
                UPDATE api_keys SET expiry_notified_at = \(now.milliseconds)
                WHERE id IN (SELECT id FROM api_keys WHERE expires_at <= \(now.milliseconds) AND expiry_notified_at IS NULL
                             AND revoked_at IS NULL LIMIT 500 FOR UPDATE SKIP LOCKED)
                RETURNING *
                """,
                on: connection, logger: logger
            ).compactMap(Self.key(from:))
            for key in expired {
                try await Self.enqueue(WebhookEvent.about(key, type: .keyExpired, at: now), on: connection, logger: logger)
            }
            return expired.count
        }
    }

    static func webhook(from row: PostgresRandomAccessRow) throws -> WebhookEndpoint {
        WebhookEndpoint(
            id: try row["id"].decode(String.self), workspaceID: try row["workspace_id"].decode(String.self),
            url: try row["url"].decode(String.self), description: try row["description"].decode(String?.self),
            events: WebhookEndpoint.events(fromColumn: try row["events"].decode(String.self)),
            sealedSecret: try row["sealed_secret"].decode(String.self), enabled: try row["enabled"].decode(Bool.self),
            disabledReason: try row["disabled_reason"].decode(String?.self),
            createdAt: Timestamp(milliseconds: try row["created_at"].decode(Int64.self)),
            updatedAt: Timestamp(milliseconds: try row["updated_at"].decode(Int64.self))
        )
    }
}
