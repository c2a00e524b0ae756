import Foundation

/// Everything the two backends' SQL disagrees on, in one place: column types in the DDL, the clock, row
/// locks and advisory locks, a string search function, the name search index, and how errors read.
/// The store's statements are otherwise the same text on both.
struct SQLDialect: Sendable, Equatable {
    enum Kind: Sendable { case sqlite, postgres }
    let kind: Kind

    static let sqlite = SQLDialect(kind: .sqlite)
    static let postgres = SQLDialect(kind: .postgres)

    // MARK: DDL types

    /// Milliseconds since the epoch, counters.
    var bigint: String { kind == .sqlite ? "INTEGER" : "BIGINT" }
    var blob: String { kind == .sqlite ? "BLOB" : "BYTEA" }
    var boolean: String { kind == .sqlite ? "INTEGER" : "BOOLEAN" }
    var serialPrimaryKey: String { kind == .sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY" }
    /// The insertion-order column of tables that have no key of their own to sort by: SQLite's `rowid`,
    /// a `BIGSERIAL` on PostgreSQL (declared with `insertionOrderColumn`).
    var insertionOrder: String { kind == .sqlite ? "rowid" : "seq" }
    var insertionOrderColumn: String { kind == .sqlite ? "" : "seq BIGSERIAL NOT NULL," }
    var insertionOrderIndex: String { kind == .sqlite ? "" : ", seq DESC" }

    // MARK: Statements

    /// The database's clock in milliseconds since the epoch: on PostgreSQL one clock for every instance.
    var now: String {
        kind == .sqlite ? "CAST(unixepoch('subsec') * 1000 AS INTEGER)" : "(extract(epoch from clock_timestamp()) * 1000)::bigint"
    }

    /// Locks the selected rows to the end of the transaction. SQLite has no row locks and needs none: a
    /// write transaction (`BEGIN IMMEDIATE`) already excludes every other writer.
    var forUpdate: String { kind == .sqlite ? "" : " FOR UPDATE" }
    var forUpdateSkipLocked: String { kind == .sqlite ? "" : " FOR UPDATE SKIP LOCKED" }

    /// A lock held to the end of the transaction, named by a number; none on SQLite (see `forUpdate`).
    func advisoryLock(_ id: Int64) -> SQLStatement? {
        kind == .sqlite ? nil : "SELECT pg_advisory_xact_lock(\(id))"
    }

    /// The same, named by text (a workspace id).
    func advisoryLock(named name: String) -> SQLStatement? {
        kind == .sqlite ? nil : "SELECT pg_advisory_xact_lock(hashtext(\(name))::bigint)"
    }

    /// The 1-based position of `needle` in `haystack`, 0 when absent (SQL fragments).
    func position(of needle: String, in haystack: String) -> String {
        kind == .sqlite ? "instr(\(haystack), \(needle))" : "strpos(\(haystack), \(needle))"
    }

    // MARK: Name search

    /// The index behind the key list's partial-match search: an FTS5 table with the `trigram` tokenizer
    /// (kept in step with `api_keys` by triggers) on SQLite, a `pg_trgm` GIN index on PostgreSQL.
    /// `options` are more FTS5 options (schema version 5 adds `detail=none`).
    func nameSearchIndex(options: String = "") -> [String] {
        switch kind {
        case .sqlite:
            [
                "CREATE VIRTUAL TABLE api_keys_name_search USING fts5(name_folded, content='api_keys', content_rowid='rowid', tokenize='trigram'\(options))",
                """
                CREATE TRIGGER api_keys_name_search_insert AFTER INSERT ON api_keys BEGIN
                    INSERT INTO api_keys_name_search (rowid, name_folded) VALUES (new.rowid, new.name_folded);
                END
                """,
                """
                CREATE TRIGGER api_keys_name_search_update AFTER UPDATE OF name_folded ON api_keys BEGIN
                    INSERT INTO api_keys_name_search (api_keys_name_search, rowid, name_folded) VALUES ('delete', old.rowid, old.name_folded);
                    INSERT INTO api_keys_name_search (rowid, name_folded) VALUES (new.rowid, new.name_folded);
                END
                """,
                """
                CREATE TRIGGER api_keys_name_search_delete AFTER DELETE ON api_keys BEGIN
                    INSERT INTO api_keys_name_search (api_keys_name_search, rowid, name_folded) VALUES ('delete', old.rowid, old.name_folded);
                END
                """,
                "INSERT INTO api_keys_name_search (api_keys_name_search) VALUES ('rebuild')",
            ]
        case .postgres:
            [
                "CREATE EXTENSION IF NOT EXISTS pg_trgm",
                "CREATE INDEX api_keys_name_trigrams ON api_keys USING gin (name_folded gin_trgm_ops)",
            ]
        }
    }

    /// How the key list names `workspace_id`. With a trigram-searchable term, a unary `+` keeps the `(workspace_id,
    /// ordinal)` index out of SQLite's plan: the matches drive, not a walk over every key (docs/performance.md).
    func workspaceColumn(searching term: String?) -> String {
        if kind == .sqlite, let term, term.unicodeScalars.count >= 3,
           term.unicodeScalars.allSatisfy({ $0.properties.generalCategory != .control }) { return "+workspace_id" }
        return "workspace_id"
    }

    /// The search condition: `LIKE` with `\\` escaping decides; on SQLite an `AND` of covering trigrams first
    /// narrows 3+ character terms, far cheaper than the phrase (docs/performance.md); PostgreSQL's GIN serves `LIKE`.
    func nameMatches(term: String, pattern: String) -> SQLStatement {
        let scalars = Array(term.unicodeScalars)
        // Names hold no control characters, so such a term matches nothing; FTS5 refuses some of them (NUL).
        let plain = scalars.allSatisfy { $0.properties.generalCategory != .control }
        if kind == .sqlite && scalars.count >= 3 && plain {
            var trigrams: [String] = []
            for start in Swift.stride(from: 0, to: scalars.count - 2, by: 3) + [scalars.count - 3] {
                var trigram = String.UnicodeScalarView()
                trigram.append(contentsOf: scalars[start..<start + 3])
                let quoted = "\"" + String(trigram).replacingOccurrences(of: "\"", with: "\"\"") + "\""
                if !trigrams.contains(quoted) { trigrams.append(quoted) }
            }
            let query = trigrams.joined(separator: " AND ")
            return """
                rowid IN (SELECT rowid FROM api_keys_name_search WHERE api_keys_name_search MATCH \(query)) \
                AND name_folded LIKE \(pattern) ESCAPE '\\'
                """
        }
        return "name_folded LIKE \(pattern) ESCAPE '\\'"
    }
}
