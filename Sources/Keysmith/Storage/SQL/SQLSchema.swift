/// The schema, written once: each version's statements for a dialect. Versions are applied in order and
/// recorded in `schema_migrations` (keys) and `webhook_schema_migrations` (webhooks, kept apart so the two
/// evolve independently). Append, never edit.
enum SQLSchema {
    static func keyMigrations(_ d: SQLDialect) -> [[String]] {
        [
            [
                """
                CREATE TABLE workspaces (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    created_at \(d.bigint) NOT NULL
                )
                """,
                """
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY,
                    \(d.insertionOrderColumn)
                    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
                    name TEXT NOT NULL,
                    name_folded TEXT NOT NULL,
                    description TEXT,
                    scope TEXT NOT NULL,
                    secret_hash \(d.blob) NOT NULL,
                    service_account_id TEXT,
                    created_at \(d.bigint) NOT NULL,
                    created_by TEXT NOT NULL,
                    expires_at \(d.bigint),
                    last_used_at \(d.bigint),
                    last_used_ip TEXT,
                    last_used_user_agent TEXT,
                    revoked_at \(d.bigint)
                )
                """,
                "CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, created_at DESC\(d.insertionOrderIndex))",
                """
                CREATE TABLE key_changes (
                    seq \(d.serialPrimaryKey),
                    key_id TEXT NOT NULL,
                    changed_at \(d.bigint) NOT NULL
                )
                """,
                "CREATE INDEX key_changes_by_time ON key_changes (changed_at)",
            ],
            [
                "ALTER TABLE api_keys ADD COLUMN expiry_notified_at \(d.bigint)",
                """
                CREATE TABLE webhooks (
                    id TEXT PRIMARY KEY,
                    \(d.insertionOrderColumn)
                    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
                    url TEXT NOT NULL,
                    description TEXT,
                    events TEXT NOT NULL,
                    sealed_secret TEXT NOT NULL,
                    enabled \(d.boolean) NOT NULL,
                    disabled_reason TEXT,
                    created_at \(d.bigint) NOT NULL,
                    updated_at \(d.bigint) NOT NULL
                )
                """,
                "CREATE INDEX webhooks_by_workspace ON webhooks (workspace_id, created_at DESC\(d.insertionOrderIndex))",
                """
                CREATE TABLE events (
                    id TEXT PRIMARY KEY,
                    workspace_id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    key_id TEXT,
                    created_at \(d.bigint) NOT NULL,
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
                    next_attempt_at \(d.bigint),
                    locked_until \(d.bigint) NOT NULL,
                    created_at \(d.bigint) NOT NULL
                )
                """,
                "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
                """
                CREATE TABLE webhook_attempts (
                    seq \(d.serialPrimaryKey),
                    delivery_id TEXT NOT NULL,
                    webhook_id TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    event_type TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    attempted_at \(d.bigint) NOT NULL,
                    status_code INTEGER,
                    error TEXT,
                    duration_ms INTEGER NOT NULL,
                    next_retry_at \(d.bigint)
                )
                """,
                "CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, seq DESC)",
            ],
            // Scale: per-workspace counters maintained by the key transactions (`meta.total` without a count),
            // a per-workspace insertion number for the list's order and page jumps, and the name search index.
            // Rules of the gatekeeper: permissions, a rate limit, allowed client addresses.
            [
                "ALTER TABLE workspaces ADD COLUMN key_count \(d.bigint) NOT NULL DEFAULT 0",
                "ALTER TABLE workspaces ADD COLUMN revoked_key_count \(d.bigint) NOT NULL DEFAULT 0",
                "ALTER TABLE api_keys ADD COLUMN ordinal \(d.bigint) NOT NULL DEFAULT 0",
                "ALTER TABLE api_keys ADD COLUMN permissions TEXT NOT NULL DEFAULT '*'",
                "ALTER TABLE api_keys ADD COLUMN rate_limit INTEGER",
                "ALTER TABLE api_keys ADD COLUMN rate_window_seconds INTEGER",
                "ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT",
                """
                UPDATE api_keys SET ordinal = numbered.n FROM (
                    SELECT id, row_number() OVER (PARTITION BY workspace_id ORDER BY created_at, \(d.insertionOrder)) AS n FROM api_keys
                ) AS numbered WHERE numbered.id = api_keys.id
                """,
                """
                UPDATE workspaces SET
                    key_count = (SELECT count(*) FROM api_keys k WHERE k.workspace_id = workspaces.id),
                    revoked_key_count = (SELECT count(*) FROM api_keys k WHERE k.workspace_id = workspaces.id AND k.revoked_at IS NOT NULL)
                """,
                "CREATE UNIQUE INDEX api_keys_by_ordinal ON api_keys (workspace_id, ordinal)",
                "CREATE INDEX api_keys_active_by_ordinal ON api_keys (workspace_id, ordinal) WHERE revoked_at IS NULL",
                "DROP INDEX api_keys_by_workspace",
                "CREATE INDEX api_keys_expiring ON api_keys (expires_at) WHERE expires_at IS NOT NULL AND expiry_notified_at IS NULL AND revoked_at IS NULL",
                // Rate-limit counts that instances exchange (`SQLKeyStore+rateLimits`), and who is exchanging.
                """
                CREATE TABLE rate_counts (
                    key_id TEXT NOT NULL,
                    bucket_start \(d.bigint) NOT NULL,
                    count \(d.bigint) NOT NULL,
                    PRIMARY KEY (key_id, bucket_start)
                )
                """,
                "CREATE INDEX rate_counts_by_age ON rate_counts (bucket_start)",
                "CREATE TABLE rate_instances (id TEXT PRIMARY KEY, seen_at \(d.bigint) NOT NULL)",
            ] + d.nameSearchIndex(),
            // Lifecycle and insight: disable, metadata, the key prefix, rolls, expiry warnings, the audit
            // log and hourly usage counts.
            [
                "ALTER TABLE api_keys ADD COLUMN enabled \(d.boolean) NOT NULL DEFAULT TRUE",
                "ALTER TABLE api_keys ADD COLUMN metadata TEXT",
                "ALTER TABLE api_keys ADD COLUMN key_prefix TEXT",
                "ALTER TABLE api_keys ADD COLUMN rolled_from TEXT",
                "ALTER TABLE api_keys ADD COLUMN expiry_warned_at \(d.bigint)",
                "CREATE INDEX api_keys_expiry_warning ON api_keys (expires_at) WHERE expires_at IS NOT NULL AND expiry_warned_at IS NULL AND revoked_at IS NULL",
                // The revoked keys' numbers, for finding where a page of active keys starts (`listKeys`).
                "CREATE INDEX api_keys_revoked_by_ordinal ON api_keys (workspace_id, ordinal) WHERE revoked_at IS NOT NULL",
                """
                CREATE TABLE audit_events (
                    seq \(d.serialPrimaryKey),
                    id TEXT NOT NULL,
                    workspace_id TEXT NOT NULL,
                    at \(d.bigint) NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target_type TEXT NOT NULL,
                    target_id TEXT NOT NULL,
                    ip TEXT,
                    user_agent TEXT,
                    request_id TEXT,
                    changes TEXT NOT NULL
                )
                """,
                // Appended in order under a serial key; three indexes (a bulk create writes an entry per key):
                // the workspace's log, one target's trail, and retention. An action filter reads the first.
                "CREATE INDEX audit_events_by_workspace ON audit_events (workspace_id, seq DESC)",
                "CREATE INDEX audit_events_by_target ON audit_events (workspace_id, target_id, seq DESC)",
                "CREATE INDEX audit_events_by_age ON audit_events (at)",
                """
                CREATE TABLE usage_counts (
                    key_id TEXT NOT NULL,
                    hour \(d.bigint) NOT NULL,
                    outcome TEXT NOT NULL,
                    count \(d.bigint) NOT NULL,
                    PRIMARY KEY (key_id, hour, outcome)
                )
                """,
                "CREATE INDEX usage_counts_by_age ON usage_counts (hour)",
            ],
            // SQLite's trigram table without positions (`detail=none`): the search asks for an `AND` of single
            // trigrams, never a phrase, so positions cost index size and insert time for nothing (docs/performance.md).
            d.kind == .sqlite ? [
                "DROP TRIGGER api_keys_name_search_insert",
                "DROP TRIGGER api_keys_name_search_update",
                "DROP TRIGGER api_keys_name_search_delete",
                "DROP TABLE api_keys_name_search",
            ] + d.nameSearchIndex(options: ", detail=none") : [],
            // The audit log's own numbering per workspace, as the key list has: a deep page is a range of
            // numbers, and the total is the span of them (`auditEvents`). Retention deletes from the bottom.
            [
                "CREATE TABLE audit_counters (workspace_id TEXT PRIMARY KEY, last_ordinal \(d.bigint) NOT NULL)",
                "ALTER TABLE audit_events ADD COLUMN ordinal \(d.bigint) NOT NULL DEFAULT 0",
                """
                UPDATE audit_events SET ordinal = numbered.n FROM (
                    SELECT seq, row_number() OVER (PARTITION BY workspace_id ORDER BY seq) AS n FROM audit_events
                ) AS numbered WHERE numbered.seq = audit_events.seq
                """,
                "INSERT INTO audit_counters (workspace_id, last_ordinal) SELECT workspace_id, max(ordinal) FROM audit_events GROUP BY workspace_id",
                "CREATE UNIQUE INDEX audit_events_by_ordinal ON audit_events (workspace_id, ordinal)",
                "DROP INDEX audit_events_by_workspace",
            ],
        ]
    }

    static func webhookMigrations(_ d: SQLDialect) -> [[String]] {
        [
            [
                "ALTER TABLE webhooks ADD COLUMN previous_sealed_secret TEXT",
                "ALTER TABLE webhooks ADD COLUMN previous_secret_until \(d.bigint)",
                "CREATE TABLE webhook_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
                "CREATE INDEX events_by_workspace_type ON events (workspace_id, type, created_at)",
                "CREATE INDEX events_by_age ON events (created_at)",
                "CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, status, locked_until)",
                "CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (created_at)",
                "CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id)",
                "CREATE INDEX webhook_attempts_by_age ON webhook_attempts (attempted_at)",
            ],
        ]
    }
}
