import ArgumentParser
import Foundation
import Keysmith
import Logging

@main
struct KeysmithCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keysmith",
        abstract: "A self-hosted API-key service.",
        subcommands: [ServeCommand.self, WorkspaceCommand.self, KeysCommand.self, MigrateCommand.self, BackupCommand.self, PatternsCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}

/// `--database`, shared by every command; `KEYSMITH_DATABASE` when not given.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "A SQLite file path (or sqlite:PATH), or a postgres:// URL. Env: KEYSMITH_DATABASE.")
    var database: String = ProcessInfo.processInfo.environment["KEYSMITH_DATABASE"] ?? "keysmith.sqlite"

    var location: StoreLocation { StoreLocation(database) }
}

/// `--secret-prefix`, shared by every command that issues keys; `KEYSMITH_SECRET_PREFIX` when not given.
struct SecretPrefixOption: ParsableArguments {
    @Option(help: "Prefix of every new secret, for secret scanners. Env: KEYSMITH_SECRET_PREFIX.")
    var secretPrefix: String = ProcessInfo.processInfo.environment["KEYSMITH_SECRET_PREFIX"] ?? "ks_"

    func validate() throws {
        guard KeyIssuer.isValidPrefix(secretPrefix) else {
            throw ValidationError("--secret-prefix must be 2 to 16 lowercase letters or digits ending in '_', such as ks_")
        }
    }
}

enum CommandLogging {
    static func logger(level: Logger.Level = .warning) -> Logger {
        var logger = Logger(label: "keysmith")
        logger.logLevel = level
        return logger
    }

    static func bootstrap() {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
    }
}

/// Writes one JSON object on stdout, keys sorted so scripts and people see the same order every time.
func printJSON(_ object: [String: Any?]) {
    let cleaned = object.mapValues { $0 ?? NSNull() }
    if let data = try? JSONSerialization.data(withJSONObject: cleaned, options: [.sortedKeys, .withoutEscapingSlashes]),
       let text = String(data: data, encoding: .utf8) {
        print(text)
    }
}
