import ArgumentParser
import Keysmith

/// Works on the database directly: for an operator who has lost every admin key.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "List, create and revoke keys directly in the database.",
        subcommands: [List.self, Create.self, Revoke.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys of a workspace, newest first.")

        @Option(help: "Workspace name or id.") var workspace = "default"
        @Flag(help: "Include revoked keys.") var includeRevoked = false
        @Flag(help: "Print one JSON object per line.") var json = false
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let (workspace, includeRevoked) = (workspace, includeRevoked)
            let keys = try await database.location.withStore(logger: CommandLogging.logger()) { store in
                let found = try await resolveWorkspace(workspace, in: store)
                var keys: [APIKey] = []
                var page = 1
                while true {
                    let result = try await store.listKeys(.init(workspaceID: found.id, page: page, limit: 100, includeRevoked: includeRevoked))
                    keys += result.keys
                    if result.keys.count < 100 { return keys }
                    page += 1
                }
            }
            for key in keys {
                if json {
                    printJSON(summary(of: key))
                } else {
                    let status = key.revokedAt != nil ? "revoked" : key.isExpired(at: .now()) ? "expired" : !key.enabled ? "disabled" : "active"
                    let prefix = (key.keyPrefix ?? "-").padding(10)
                    print("\(key.id)  \(prefix)  \(key.scope.rawValue.padding(10))  \(status.padding(8))  last used \(key.lastUsed?.at.description ?? "never")  \(key.name)")
                }
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key; its secret is printed once.")

        @Option(help: "Workspace name or id.") var workspace = "default"
        @Option(help: "Display name.") var name: String
        @Option(help: "read, read-write or admin.") var scope = "admin"
        @Option(help: "Optional description.") var description: String?
        @Option(help: "Optional ISO 8601 expiry, in the future.") var expiresAt: String?
        @Flag(help: "Print one JSON object with the key and its secret.") var json = false
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var prefix: SecretPrefixOption

        func run() async throws {
            var request: KeyIssuer.Request
            do {
                request = KeyIssuer.Request(
                    workspaceID: "", name: try KeyFields.name(name), description: try KeyFields.description(description),
                    scope: try KeyFields.scope(scope, default: .admin), expiresAt: try KeyFields.expiry(expiresAt, now: .now()),
                    createdBy: "cli"
                )
            } catch { throw ValidationError(error.message) }
            let (workspace, secretPrefix) = (workspace, prefix.secretPrefix)
            let (key, token) = try await database.location.withStore(logger: CommandLogging.logger()) { [request] store in
                var request = request
                request.workspaceID = try await resolveWorkspace(workspace, in: store).id
                return try await KeyIssuer(store: store, secretPrefix: secretPrefix).issue(request, audit: .cli)
            }
            if json {
                var object = summary(of: key)
                object["secret"] = token.bearer
                printJSON(object)
            } else {
                print("Created key \(key.id) (\(key.scope.rawValue)). Its secret, shown only once:\n\n    \(token.bearer)\n")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id; running servers refuse it within a second.")

        @Argument(help: "The key id.") var id: String
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let id = id
            let revoked = try await database.location.withStore(logger: CommandLogging.logger()) { store -> APIKey? in
                guard let key = try await store.key(id: id) else { return nil }
                // The operator's recovery tool: it may revoke the last admin key.
                return try await store.revokeKey(id: id, workspaceID: key.workspaceID, at: .now(), allowingLastAdmin: true, authority: nil, audit: .cli)
            }
            guard let revoked else { throw ValidationError("no active key with id '\(id)'") }
            print("Revoked key \(revoked.id) (\(revoked.name)) at \(revoked.revokedAt?.description ?? "")")
        }
    }
}

private func resolveWorkspace(_ nameOrID: String, in store: any KeyStore) async throws -> Workspace {
    if let workspace = try await store.workspace(id: nameOrID) { return workspace }
    if let workspace = try await store.workspace(named: nameOrID) { return workspace }
    throw ValidationError("no workspace named or with id '\(nameOrID)'")
}

private func summary(of key: APIKey) -> [String: Any?] {
    [
        "id": key.id, "name": key.name, "scope": key.scope.rawValue, "workspace_id": key.workspaceID,
        "created_at": key.createdAt.description, "expires_at": key.expiresAt?.description,
        "last_used_at": key.lastUsed?.at.description, "revoked_at": key.revokedAt?.description,
        "key_prefix": key.keyPrefix, "enabled": key.enabled, "rolled_from": key.rolledFrom,
    ]
}

extension String {
    fileprivate func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
