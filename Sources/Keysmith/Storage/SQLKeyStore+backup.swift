extension SQLKeyStore {
    /// `backup(to:)` on a store that is not a SQLite file: PostgreSQL has `pg_dump`.
    public struct NotSQLite: Error {}

    /// Writes a consistent copy of the SQLite database to a new file at `path`, while the server runs.
    public func backup(to path: String) async throws {
        guard let file = database as? SQLiteFile else { throw NotSQLite() }
        try await file.copy(to: path)
    }
}
