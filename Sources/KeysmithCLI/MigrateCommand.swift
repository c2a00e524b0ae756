import ArgumentParser
import Keysmith

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply pending schema migrations and exit.")

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        try await database.location.withStore(logger: CommandLogging.logger()) { _ in }
        print("database is up to date")
    }
}
