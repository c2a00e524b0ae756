import ArgumentParser
import Foundation
import Keysmith

/// `keysmith backup OUTPUT`: a consistent copy of a SQLite database, safe while the server runs and writes.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent copy of a SQLite database, while the server runs (PostgreSQL: use pg_dump)."
    )

    @Argument(help: "The copy to write: a new file.")
    var output: String

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        guard case .sqlite(let path) = database.location else {
            FileHandle.standardError.write(Data("""
                keysmith backup copies SQLite databases. On PostgreSQL use pg_dump, for example
                    pg_dump --format=custom --file=keysmith.dump "$KEYSMITH_DATABASE"
                and keep KEYSMITH_ENCRYPTION_KEY with it, separately protected: webhook secrets are sealed with it.

                """.utf8))
            throw ExitCode(2)
        }
        guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("there is no database at \(path)") }
        guard !FileManager.default.fileExists(atPath: output) else { throw ValidationError("\(output) exists; name a new file") }
        // Opened without migrating: a backup copies the database as it is.
        let store = try await SQLKeyStore.sqlite(path: path, logger: CommandLogging.logger())
        do {
            try await store.backup(to: output)
            try await store.close()
        } catch {
            try? await store.close()
            throw error
        }
        _ = chmod(output, 0o600)
        print("""
            wrote \(output), a consistent copy of \(path).
            Webhook secrets in it are sealed with the key in \(path).key (or the one --encryption-key-file or
            KEYSMITH_ENCRYPTION_KEY gives): keep that key with the copy, stored apart from it. To restore, serve
            the copy with that key: keysmith serve --database \(output) --encryption-key-file \(path).key
            """)
    }
}
