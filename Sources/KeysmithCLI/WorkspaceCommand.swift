import ArgumentParser
import Keysmith

struct WorkspaceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workspace",
        abstract: "Manage workspaces.",
        subcommands: [Create.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a workspace and its first admin key (shown once).")

        @Argument(help: "The workspace name.") var name: String
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var prefix: SecretPrefixOption
        @Flag(help: "Print one JSON object: workspace_id, workspace_name, key_id, secret.") var json = false

        func run() async throws {
            let (name, secretPrefix) = (name, prefix.secretPrefix)
            let (workspace, key, token) = try await database.location.withStore(logger: CommandLogging.logger()) { store in
                do {
                    return try await KeyIssuer(store: store, secretPrefix: secretPrefix).createWorkspace(named: name)
                } catch KeyStoreError.duplicateWorkspaceName {
                    throw ValidationError("a workspace named '\(name)' already exists")
                } catch let error as APIError {
                    throw ValidationError(error.message)
                }
            }
            if json {
                printJSON(["workspace_id": workspace.id, "workspace_name": workspace.name, "key_id": key.id, "secret": token.bearer])
            } else {
                print("Created workspace \"\(workspace.name)\" (\(workspace.id)).")
                print("Its admin key, shown only once:\n\n    \(token.bearer)\n")
            }
        }
    }
}
