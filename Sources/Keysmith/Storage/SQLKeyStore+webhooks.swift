/// Webhook endpoints, the event outbox and delivery attempts, in the same database as the keys, so an
/// event is written in the same transaction as the change that caused it.
extension SQLKeyStore {
    public func webhookKeyCheck(storingIfAbsent candidate: String) async throws -> String {
        try await database.transaction { db in
            _ = try await db.execute("INSERT INTO webhook_settings (name, value) VALUES ('key_check', \(candidate)) ON CONFLICT (name) DO NOTHING")
            return try await db.first("SELECT value FROM webhook_settings WHERE name = 'key_check'")?.text("value") ?? candidate
        }
    }

    public func anySealedWebhookSecret() async throws -> (webhookID: String, sealed: String)? {
        guard let row = try await database.first("SELECT id, sealed_secret FROM webhooks LIMIT 1"),
              let id = row.text("id"), let sealed = row.text("sealed_secret")
        else { return nil }
        return (id, sealed)
    }

    public func createWebhook(_ endpoint: WebhookEndpoint, limit: Int, audit: AuditContext?) async throws -> Bool {
        try await database.transaction { db in
            // Serialises creates per workspace, so concurrent requests cannot pass the limit together.
            if let lock = db.dialect.advisoryLock(named: endpoint.workspaceID) { _ = try await db.execute(lock) }
            let count = try await db.first("SELECT count(*) AS n FROM webhooks WHERE workspace_id = \(endpoint.workspaceID)")?.int("n") ?? 0
            guard count < limit else { return false }
            _ = try await db.execute("""
                INSERT INTO webhooks (id, workspace_id, url, description, events, sealed_secret, enabled, disabled_reason, created_at, updated_at)
                VALUES (\(endpoint.id), \(endpoint.workspaceID), \(endpoint.url), \(endpoint.description), \(endpoint.eventsColumn),
                        \(endpoint.sealedSecret), \(endpoint.enabled), \(endpoint.disabledReason), \(endpoint.createdAt), \(endpoint.updatedAt))
                """)
            if let audit {
                try await Self.record([AuditEvent(workspaceID: endpoint.workspaceID, at: endpoint.createdAt, context: audit, action: .webhookCreated,
                                                  targetID: endpoint.id, changes: Self.changes { json in
                                                      json.field("url", endpoint.url)
                                                      json.field("events", endpoint.eventsColumn)
                                                      json.field("enabled", endpoint.enabled)
                                                  })], on: db)
            }
            return true
        }
    }

    public func webhook(id: String, workspaceID: String) async throws -> WebhookEndpoint? {
        try await database.first("SELECT * FROM webhooks WHERE id = \(id) AND workspace_id = \(workspaceID)").flatMap(Self.webhook(from:))
    }

    public func listWebhooks(workspaceID: String, page: Int, limit: Int) async throws -> (webhooks: [WebhookEndpoint], total: Int) {
        let total = try await database.first("SELECT count(*) AS n FROM webhooks WHERE workspace_id = \(workspaceID)")?.int("n") ?? 0
        let rows = try await database.execute("""
            SELECT * FROM webhooks WHERE workspace_id = \(workspaceID)
            ORDER BY created_at DESC, \(raw: dialect.insertionOrder) DESC LIMIT \(limit) OFFSET \((page - 1) * limit)
            """)
        return (rows.compactMap(Self.webhook(from:)), total)
    }

    public func updateWebhook(id: String, workspaceID: String, change: WebhookChange, at: Timestamp, audit: AuditContext?) async throws -> WebhookEndpoint? {
        var assignments: [SQLStatement] = ["updated_at = \(at)"]
        if let url = change.url { assignments.append("url = \(url)") }
        if let description = change.description { assignments.append("description = \(description)") }
        if let events = change.events { assignments.append("events = \(WebhookEndpoint.eventsColumn(events))") }
        if let enabled = change.enabled {
            assignments.append("enabled = \(enabled)")
            if enabled { assignments.append("disabled_reason = NULL") }
        }
        if let sealed = change.sealedSecret {
            // Every right-hand side reads the row as it was: the old secret becomes the previous one.
            assignments.append(change.previousSecretUntil == nil ? "previous_sealed_secret = NULL" : "previous_sealed_secret = sealed_secret")
            assignments += ["previous_secret_until = \(change.previousSecretUntil)", "sealed_secret = \(sealed)"]
        }
        let set = SQLStatement.joined(assignments, separator: ", ")
        return try await database.transaction { db in
            let updated = try await db.first("""
                UPDATE webhooks SET \(set)
                WHERE id = \(id) AND workspace_id = \(workspaceID) RETURNING *
                """).flatMap(Self.webhook(from:))
            if let audit, let updated {
                // What changed, never a secret: a new one is recorded as rotated.
                try await Self.record([AuditEvent(workspaceID: workspaceID, at: at, context: audit, action: .webhookUpdated, targetID: id,
                                                  changes: Self.changes { json in
                                                      if change.url != nil { json.field("url", updated.url) }
                                                      if change.description != nil { json.field("description", updated.description) }
                                                      if change.events != nil { json.field("events", updated.eventsColumn) }
                                                      if let enabled = change.enabled { json.field("enabled", enabled) }
                                                      if change.sealedSecret != nil { json.field("secret_rotated", true) }
                                                  })], on: db)
            }
            return updated
        }
    }

    public func deleteWebhook(id: String, workspaceID: String, audit: AuditContext?) async throws -> Bool {
        try await database.transaction { db in
            guard let deleted = try await db.first(
                "DELETE FROM webhooks WHERE id = \(id) AND workspace_id = \(workspaceID) RETURNING url"
            ) else { return false }
            if let audit {
                try await Self.record([AuditEvent(workspaceID: workspaceID, at: .now(), context: audit, action: .webhookDeleted, targetID: id,
                                                  changes: Self.changes { $0.field("url", deleted.text("url")) })], on: db)
            }
            _ = try await db.execute("DELETE FROM webhook_attempts WHERE webhook_id = \(id)")
            _ = try await db.execute("DELETE FROM webhook_deliveries WHERE webhook_id = \(id)")
            return true
        }
    }

    public func enqueue(_ event: WebhookEvent, onlyTo webhookID: String?) async throws {
        try await database.transaction { db in try await Self.enqueue(about: [event], in: \.workspaceID, onlyTo: webhookID, on: db) { $0 } }
    }

    /// The outbox write, inside the caller's transaction: the events, and one delivery for each enabled
    /// endpoint of their workspace subscribed to them (or for `webhookID` only). Events no endpoint is
    /// there to receive are neither rendered nor stored (`events` is called only for workspaces with an
    /// enabled endpoint): a bulk create in a workspace without webhooks writes keys only.
    static func enqueue<Subject>(
        about subjects: [Subject], in workspaceID: (Subject) -> String, onlyTo webhookID: String? = nil,
        on db: any SQLExecutor, _ event: (Subject) -> WebhookEvent
    ) async throws {
        var listening: [String: Bool] = [:]
        var events: [WebhookEvent] = []
        for subject in subjects {
            let workspace = workspaceID(subject)
            if webhookID == nil, listening[workspace] == nil {
                listening[workspace] = try await db.first(
                    "SELECT 1 AS found FROM webhooks WHERE workspace_id = \(workspace) AND enabled = TRUE LIMIT 1"
                ) != nil
            }
            if webhookID != nil || listening[workspace] == true { events.append(event(subject)) }
        }
        for chunk in events.chunked(rowsPerInsert) {
            _ = try await db.execute("""
                INSERT INTO events (id, workspace_id, type, key_id, created_at, payload)
                \(SQLStatement.values(chunk) { [.text($0.id), .text($0.workspaceID), .text($0.type.rawValue), .text($0.keyID), .integer($0.createdAt.milliseconds), .text($0.payload)] })
                """)
            let target: SQLStatement = if let webhookID {
                "w.id = \(webhookID)"
            } else {
                "w.enabled = TRUE AND (w.events = '*' OR \(raw: db.dialect.position(of: "',' || e.type || ','", in: "w.events")) > 0)"
            }
            _ = try await db.execute("""
                INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, attempts, next_attempt_at, locked_until, created_at)
                SELECT e.id || ':' || w.id, w.id, e.id, 'pending', 0, e.created_at, 0, e.created_at
                FROM events e JOIN webhooks w ON w.workspace_id = e.workspace_id
                WHERE e.id IN (\(list: chunk.map { .text($0.id) })) AND \(target)
                """)
        }
    }

    /// Keys' events.
    static func enqueue(_ type: WebhookEventType, about keys: [APIKey], at time: Timestamp? = nil, on db: any SQLExecutor) async throws {
        try await enqueue(about: keys, in: \.workspaceID, on: db) { key in
            if let time { WebhookEvent.about(key, type: type, at: time) } else { WebhookEvent.about(key, type: type) }
        }
    }

    public func enqueueTest(_ event: WebhookEvent, webhookID: String, limit: Int, windowMilliseconds: Int64) async throws -> Int64? {
        try await database.transaction { db in
            if let lock = db.dialect.advisoryLock(named: event.workspaceID) { _ = try await db.execute(lock) }
            let since = event.createdAt.adding(milliseconds: -windowMilliseconds)
            let recent = try await db.execute("""
                SELECT created_at FROM events WHERE workspace_id = \(event.workspaceID) AND type = \(WebhookEventType.test.rawValue)
                AND created_at > \(since) ORDER BY created_at DESC LIMIT \(limit)
                """).compactMap { $0.integer("created_at") }
            if recent.count >= limit, let oldest = recent.last {
                return max(1, oldest + windowMilliseconds - event.createdAt.milliseconds)
            }
            try await Self.enqueue(about: [event], in: \.workspaceID, onlyTo: webhookID, on: db) { $0 }
            return nil
        }
    }

    public func claimDeliveries(now: Timestamp, limit: Int, perEndpoint: Int, slots: DeliverySlots, leaseMilliseconds: Int64) async throws -> [ClaimedDelivery] {
        try await database.transaction { db in
            // Claims are serialised across instances, so the per-endpoint count each one sees is exact.
            if let lock = db.dialect.advisoryLock(7305643216851) { _ = try await db.execute(lock) }
            let due: SQLStatement = "d.status = 'pending' AND d.next_attempt_at <= \(now) AND d.locked_until <= \(now)"
            // The workspaces that want slots: those with deliveries due, and those whose sends hold some here.
            var active = Set(try await db.execute("""
                SELECT DISTINCT w.workspace_id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.enabled = TRUE
                WHERE \(due)
                """).compactMap { $0.text("workspace_id") })
            active.formUnion(slots.heldByWorkspace.filter { $0.value > 0 }.keys)
            guard !active.isEmpty else { return [] }
            let held = SQLStatement.values([("", 0)] + slots.heldByWorkspace.map { ($0.key, $0.value) }) { [.text($0.0), .integer(Int64($0.1))] }
            // Each endpoint's due rows are ranked oldest first, and an endpoint contributes only what its free slots
            // (perEndpoint minus its leased rows) allow. The rows left are numbered in turns within each workspace,
            // and taken turn by turn: every workspace's oldest first, then every workspace's next, each workspace
            // up to its share less what it holds, so a tenant's backlog never fills the claim for the others.
            let rows = try await db.execute("""
                WITH held (workspace_id, n) AS (\(held)), busy AS (
                    SELECT webhook_id, count(*) AS n FROM webhook_deliveries
                    WHERE status = 'pending' AND locked_until > \(now) GROUP BY webhook_id
                ), due AS (
                    SELECT d.id, d.webhook_id, w.workspace_id, d.next_attempt_at,
                           row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.id) AS rank
                    FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.enabled = TRUE
                    WHERE \(due)
                ), eligible AS (
                    SELECT due.id, due.workspace_id, due.next_attempt_at,
                           row_number() OVER (PARTITION BY due.workspace_id ORDER BY due.next_attempt_at, due.id) AS turn
                    FROM due LEFT JOIN busy ON busy.webhook_id = due.webhook_id
                    WHERE due.rank + coalesce(busy.n, 0) <= \(perEndpoint)
                )
                SELECT d.id, d.webhook_id, w.workspace_id, d.event_id, d.attempts, w.url, w.sealed_secret, e.type, e.payload,
                       CASE WHEN w.previous_secret_until > \(now) THEN w.previous_sealed_secret END AS previous_sealed_secret
                FROM eligible
                LEFT JOIN held ON held.workspace_id = eligible.workspace_id
                JOIN webhook_deliveries d ON d.id = eligible.id
                JOIN webhooks w ON w.id = d.webhook_id
                JOIN events e ON e.id = d.event_id
                WHERE eligible.turn + coalesce(held.n, 0) <= \(slots.share(active: active.count))
                ORDER BY eligible.turn, eligible.next_attempt_at, eligible.id LIMIT \(limit)
                """)
            let claimed = rows.compactMap { row -> ClaimedDelivery? in
                guard let id = row.text("id"), let webhookID = row.text("webhook_id"), let workspaceID = row.text("workspace_id"),
                      let url = row.text("url"), let sealed = row.text("sealed_secret"), let eventID = row.text("event_id"),
                      let type = row.text("type"), let payload = row.text("payload")
                else { return nil }
                return ClaimedDelivery(id: id, webhookID: webhookID, workspaceID: workspaceID, url: url, sealedSecret: sealed, eventID: eventID,
                                       eventType: type, payload: payload, attempts: row.int("attempts") ?? 0,
                                       previousSealedSecret: row.text("previous_sealed_secret"))
            }
            if !claimed.isEmpty {
                _ = try await db.execute("""
                    UPDATE webhook_deliveries SET locked_until = \(now.adding(milliseconds: leaseMilliseconds))
                    WHERE id IN (\(list: claimed.map { .text($0.id) }))
                    """)
            }
            return claimed
        }
    }

    public func pendingDeliveryCount() async throws -> Int {
        try await database.first("SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'pending'")?.int("n") ?? 0
    }

    public func releaseDeliveries(ids: [String]) async throws {
        guard !ids.isEmpty else { return }
        _ = try await database.execute("UPDATE webhook_deliveries SET locked_until = 0 WHERE id IN (\(list: ids.map { .text($0) }))")
    }

    public func finishDelivery(_ attempt: DeliveryAttempt, outcome: DeliveryOutcome) async throws {
        let (status, next): (String, Timestamp?) = switch outcome {
        case .succeeded: ("succeeded", nil)
        case .retry(let at): ("pending", at)
        case .failed, .gone: ("failed", nil)
        }
        try await database.transaction { db in
            _ = try await db.execute("""
                INSERT INTO webhook_attempts (delivery_id, webhook_id, event_id, event_type, attempt, attempted_at, status_code, error, duration_ms, next_retry_at)
                VALUES (\(attempt.deliveryID), \(attempt.webhookID), \(attempt.eventID), \(attempt.eventType), \(attempt.attempt),
                        \(attempt.attemptedAt), \(attempt.statusCode), \(attempt.error), \(attempt.durationMilliseconds), \(attempt.nextRetryAt))
                """)
            _ = try await db.execute("""
                UPDATE webhook_deliveries SET status = \(status), attempts = \(attempt.attempt), next_attempt_at = \(next), locked_until = 0
                WHERE id = \(attempt.deliveryID)
                """)
            if outcome == .gone {
                _ = try await db.execute("""
                    UPDATE webhooks SET enabled = FALSE, disabled_reason = \(WebhookDeliverer.goneReason), updated_at = \(attempt.attemptedAt)
                    WHERE id = \(attempt.webhookID)
                    """)
            }
        }
    }

    public func deliveryAttempts(webhookID: String, limit: Int) async throws -> [DeliveryAttempt] {
        try await database.execute("SELECT * FROM webhook_attempts WHERE webhook_id = \(webhookID) ORDER BY seq DESC LIMIT \(limit)")
            .compactMap(Self.attempt(from:))
    }

    public func notifyExpiredKeys(now: Timestamp) async throws -> Int {
        try await announce(.keyExpired, marking: "expiry_notified_at", now: now,
                           where: "expires_at <= \(now) AND expiry_notified_at IS NULL")
    }

    public func notifyExpiringKeys(now: Timestamp, warningMilliseconds: Int64) async throws -> Int {
        try await announce(.keyExpiring, marking: "expiry_warned_at", now: now, where: """
            expires_at IS NOT NULL AND expires_at > \(now) AND expires_at <= \(now.adding(milliseconds: warningMilliseconds))
            AND expiry_warned_at IS NULL
            """)
    }

    /// Marks up to 500 unrevoked keys matching `condition` in `column` and queues one `type` event for each.
    /// The conditional UPDATE is the "once": of several instances, one row update wins per key.
    private func announce(_ type: WebhookEventType, marking column: String, now: Timestamp, where condition: SQLStatement) async throws -> Int {
        try await database.transaction { db in
            let keys = try await db.execute("""
                UPDATE api_keys SET \(raw: column) = \(now)
                WHERE id IN (SELECT id FROM api_keys WHERE \(condition) AND revoked_at IS NULL LIMIT 500\(raw: db.dialect.forUpdateSkipLocked))
                RETURNING *
                """).compactMap(Self.key(from:))
            try await Self.enqueue(type, about: keys, at: now, on: db)
            return keys.count
        }
    }

    public func pruneWebhookHistory(before: Timestamp, now: Timestamp) async throws -> WebhookPruneCount {
        try await database.transaction { db in
            var count = WebhookPruneCount()
            count.attempts = try await db.execute("DELETE FROM webhook_attempts WHERE attempted_at < \(before) RETURNING 1 AS n").count
            // A delivery leased right now is being sent; it goes on a later pass.
            count.deliveries = try await db.execute(
                "DELETE FROM webhook_deliveries WHERE created_at < \(before) AND locked_until <= \(now) RETURNING 1 AS n"
            ).count
            count.events = try await db.execute("""
                DELETE FROM events WHERE created_at < \(before)
                AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = events.id) RETURNING 1 AS n
                """).count
            return count
        }
    }
}
