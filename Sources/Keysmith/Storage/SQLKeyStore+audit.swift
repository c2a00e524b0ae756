/// The audit log (written inside the transactions of the changes it records) and hourly usage counts.
extension SQLKeyStore {
    // MARK: Audit log

    /// Newest first. Without a filter, a page is a range of the workspace's audit numbers, found on the
    /// index without skipping rows, and the total is the span of the numbers still held: retention deletes
    /// only from the lowest (`pruneAuditEvents`), so the numbers left are dense.
    public func auditEvents(_ query: AuditQuery) async throws -> (events: [AuditEvent], total: Int) {
        let offset = Int64(query.page - 1) * Int64(query.limit)
        guard query.action != nil || query.targetID != nil else {
            guard let span = try await database.first("""
                SELECT (SELECT max(ordinal) FROM audit_events WHERE workspace_id = \(query.workspaceID)) AS top,
                       (SELECT min(ordinal) FROM audit_events WHERE workspace_id = \(query.workspaceID)) AS bottom
                """), let top = span.integer("top"), let bottom = span.integer("bottom")
            else { return ([], 0) }
            let total = Int(top - bottom + 1)
            guard offset < Int64(total) else { return ([], total) }
            let rows = try await database.execute("""
                SELECT * FROM audit_events WHERE workspace_id = \(query.workspaceID)
                AND ordinal <= \(top - offset) AND ordinal > \(top - offset - Int64(query.limit)) ORDER BY ordinal DESC
                """)
            return (rows.compactMap(Self.auditEvent(from:)), total)
        }
        // A filter's matches are not numbered: they are counted and skipped (a target's trail is short).
        var filter: SQLStatement = "workspace_id = \(query.workspaceID)"
        if let action = query.action { filter = "\(filter) AND action = \(action)" }
        if let targetID = query.targetID { filter = "\(filter) AND target_id = \(targetID)" }
        let total = try await database.first("SELECT count(*) AS n FROM audit_events WHERE \(filter)")?.int("n") ?? 0
        let rows = try await database.execute("""
            SELECT * FROM audit_events WHERE \(filter)
            ORDER BY ordinal DESC LIMIT \(query.limit) OFFSET \(offset)
            """)
        return (rows.compactMap(Self.auditEvent(from:)), total)
    }

    /// Deletes, per workspace, every entry numbered up to the newest one older than `before`: an entry
    /// written a moment later but numbered earlier goes with it, so the numbers left stay dense.
    public func pruneAuditEvents(before: Timestamp) async throws -> Int {
        try await database.transaction { db in
            let tops = try await db.execute(
                "SELECT workspace_id, max(ordinal) AS top FROM audit_events WHERE at < \(before) GROUP BY workspace_id"
            )
            var deleted = 0
            for row in tops {
                guard let workspaceID = row.text("workspace_id"), let top = row.integer("top") else { continue }
                deleted += try await db.execute(
                    "DELETE FROM audit_events WHERE workspace_id = \(workspaceID) AND ordinal <= \(top) RETURNING 1 AS n"
                ).count
            }
            return deleted
        }
    }

    /// Writes entries inside the caller's transaction, numbered in their workspace's sequence. The counter's
    /// row is locked until the transaction ends, so numbers are committed in order and a rollback leaves no gap.
    static func record(_ events: [AuditEvent], on db: any SQLExecutor) async throws {
        var counts: [(workspaceID: String, count: Int64)] = []
        for event in events {
            if let index = counts.firstIndex(where: { $0.workspaceID == event.workspaceID }) { counts[index].count += 1 }
            else { counts.append((event.workspaceID, 1)) }
        }
        var next: [String: Int64] = [:]
        for (workspaceID, count) in counts {
            guard let last = try await db.first("""
                INSERT INTO audit_counters (workspace_id, last_ordinal) VALUES (\(workspaceID), \(count))
                ON CONFLICT (workspace_id) DO UPDATE SET last_ordinal = audit_counters.last_ordinal + excluded.last_ordinal
                RETURNING last_ordinal
                """)?.integer("last_ordinal") else { throw KeyStoreError.unknownWorkspace }
            next[workspaceID] = last - count + 1
        }
        var numbered: [(event: AuditEvent, ordinal: Int64)] = []
        for event in events {
            numbered.append((event, next[event.workspaceID]!))
            next[event.workspaceID]! += 1
        }
        for chunk in numbered.chunked(rowsPerInsert) {
            _ = try await db.execute("""
                INSERT INTO audit_events (id, workspace_id, ordinal, at, actor, action, target_type, target_id, ip, user_agent, request_id, changes)
                \(SQLStatement.values(chunk) { auditColumns(of: $0.event, ordinal: $0.ordinal) })
                """)
        }
    }

    static func created(_ key: APIKey, by context: AuditContext) -> AuditEvent {
        AuditEvent(workspaceID: key.workspaceID, at: key.createdAt, context: context, action: .keyCreated, targetID: key.id,
                   changes: changes { json in
                       json.field("name", key.name)
                       json.field("scope", key.scope.rawValue)
                       json.field("expires_at", key.expiresAt)
                       APIKeyResource.writeAccess(of: key, to: &json)
                       if let rolledFrom = key.rolledFrom { json.field("rolled_from", rolledFrom) }
                   })
    }

    static func rolled(_ old: APIKey, to retired: APIKey, successor: APIKey, grace: Int, by context: AuditContext) -> AuditEvent {
        AuditEvent(workspaceID: old.workspaceID, at: successor.createdAt, context: context, action: .keyRolled, targetID: old.id,
                   changes: changes { json in
                       json.field("new_key_id", successor.id)
                       json.field("grace_seconds", grace)
                       fromTo(&json, "expires_at", old.expiresAt, retired.expiresAt) { $0.field("value", $1) }
                       if retired.revokedAt != nil { json.field("revoked_at", retired.revokedAt) }
                   })
    }

    /// One entry per kind of change between two versions of a key, each with the fields' old and new values.
    static func changes(from old: APIKey, to new: APIKey, by context: AuditContext) -> [AuditEvent] {
        var entries: [AuditEvent] = []
        func entry(_ action: AuditAction, _ body: (inout JSONWriter) -> Void) {
            entries.append(AuditEvent(workspaceID: new.workspaceID, at: .now(), context: context, action: action, targetID: new.id,
                                      changes: changes(body)))
        }
        if old.name != new.name { entry(.keyRenamed) { fromTo(&$0, "name", old.name, new.name) { $0.field("value", $1) } } }
        if old.description != new.description {
            entry(.keyDescriptionChanged) { fromTo(&$0, "description", old.description, new.description) { $0.field("value", $1) } }
        }
        if old.permissions != new.permissions {
            entry(.keyPermissionsChanged) { json in
                fromTo(&json, "permissions", old.permissions, new.permissions) { json, list in
                    json.key("value")
                    json.array(list) { $0.string($1) }
                }
            }
        }
        if old.rateLimit != new.rateLimit {
            entry(.keyRateLimitChanged) { fromTo(&$0, "rate_limit", old.rateLimit, new.rateLimit) { $0.key("value"); writeRateLimit($1, to: &$0) } }
        }
        if old.allowedIPs != new.allowedIPs {
            entry(.keyAllowedIPsChanged) { fromTo(&$0, "allowed_ips", old.allowedIPs, new.allowedIPs) { $0.key("value"); writeRanges($1, to: &$0) } }
        }
        if old.enabled != new.enabled { entry(new.enabled ? .keyEnabled : .keyDisabled) { _ in } }
        if old.metadata != new.metadata { entry(.keyMetadataChanged) { fromTo(&$0, "metadata", old.metadata, new.metadata) { $0.field("value", $1) } } }
        return entries
    }

    static func changes(_ body: (inout JSONWriter) -> Void) -> String {
        var json = JSONWriter(capacity: 128)
        json.object(body)
        return json.text
    }

    /// `"name": {"from": …, "to": …}`, each value written by `write` as the member `value`.
    private static func fromTo<T>(_ json: inout JSONWriter, _ name: StaticString, _ from: T, _ to: T,
                                  _ write: (inout JSONWriter, T) -> Void) {
        json.key(name)
        json.object { json in
            json.key("from")
            json.raw(valueJSON(from, write))
            json.key("to")
            json.raw(valueJSON(to, write))
        }
    }

    private static func valueJSON<T>(_ value: T, _ write: (inout JSONWriter, T) -> Void) -> [UInt8] {
        // Rendered as `{"value": X}` and unwrapped to X, so one writer serves strings, lists and times.
        var json = JSONWriter(capacity: 64)
        json.object { write(&$0, value) }
        let bytes = json.bytes
        let prefix = Array(#"{"value":"#.utf8)
        guard bytes.count > prefix.count + 1, Array(bytes.prefix(prefix.count)) == prefix else { return Array("null".utf8) }
        return Array(bytes[prefix.count..<(bytes.count - 1)])
    }

    private static func writeRateLimit(_ limit: RateLimit?, to json: inout JSONWriter) {
        guard let limit else { return json.null() }
        json.object { json in
            json.field("limit", limit.limit)
            json.field("window_seconds", limit.windowSeconds)
        }
    }

    private static func writeRanges(_ ranges: [IPRange]?, to json: inout JSONWriter) {
        guard let ranges else { return json.null() }
        json.array(ranges) { $0.string($1.description) }
    }

    // MARK: Usage counts

    public func addUsageCounts(_ counts: [UsageCount]) async throws {
        var merged: [UsageBucket: Int] = [:]
        for count in counts { merged[UsageBucket(keyID: count.keyID, hour: count.hour, outcome: count.outcome), default: 0] += count.count }
        guard !merged.isEmpty else { return }
        let rows = Array(merged)
        try await database.transaction { db in
            for chunk in rows.chunked(Self.rowsPerInsert) {
                _ = try await db.execute("""
                    INSERT INTO usage_counts (key_id, hour, outcome, count)
                    \(SQLStatement.values(chunk) { [.text($0.key.keyID), .integer($0.key.hour), .text($0.key.outcome.rawValue), .integer(Int64($0.value))] })
                    ON CONFLICT (key_id, hour, outcome) DO UPDATE SET count = usage_counts.count + excluded.count
                    """)
            }
        }
    }

    public func usageCounts(keyID: String, from: Timestamp, to: Timestamp) async throws -> [UsageCount] {
        try await database.execute("""
            SELECT hour, outcome, count FROM usage_counts WHERE key_id = \(keyID) AND hour >= \(from) AND hour < \(to) ORDER BY hour
            """).compactMap { row in
            guard let hour = row.integer("hour"), let outcome = row.text("outcome").flatMap(UsageOutcome.init(rawValue:)),
                  let count = row.int("count") else { return nil }
            return UsageCount(keyID: keyID, hour: hour, outcome: outcome, count: count)
        }
    }

    public func pruneUsageCounts(before: Timestamp) async throws {
        _ = try await database.transaction { db in try await db.execute("DELETE FROM usage_counts WHERE hour < \(before)") }
    }
}

private struct UsageBucket: Hashable {
    let keyID: String
    let hour: Int64
    let outcome: UsageOutcome
}
