import ArgumentParser
import Foundation
import Keysmith
import Logging
import NIOCore
import NIOPosix

@main
struct KeysmithCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keysmith",
        abstract: "A self-hosted API-key service.",
        subcommands: [ServeCommand.self, WorkspaceCommand.self, KeysCommand.self, MigrateCommand.self],
        defaultSubcommand: ServeCommand.self
    )

    /// Runs Swift concurrency on NIO's event loops before anything else starts, so a request is parsed,
    /// handled and answered on the thread that owns its connection. Without this every request hops from
    /// an event loop to the concurrency pool and back, and the two wake-ups cost more than authenticating
    /// it (see "Performance" in the README). Must happen on the main thread, once, before the first task.
    static func main() async {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await main(nil)
    }
}

/// `--database`, shared by every command; `KEYSMITH_DATABASE` when not given.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "A SQLite file path (or sqlite:PATH), or a postgres:// URL. Env: KEYSMITH_DATABASE.")
    var database: String = ProcessInfo.processInfo.environment["KEYSMITH_DATABASE"] ?? "keysmith.sqlite"

    var location: StoreLocation { StoreLocation(database) }
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
