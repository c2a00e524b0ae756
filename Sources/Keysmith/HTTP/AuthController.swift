import Hummingbird
import Synchronization

/// `GET /v1/auth/whoami`: the caller's own key and workspace, for any scope. The endpoint a client calls
/// to check a key, so it is served from memory.
final class AuthController: Sendable {
    typealias Context = KeysmithRequestContext

    struct WhoAmI: ResponseGenerator {
        let key: APIKeyResource
        let workspace: Workspace

        func response(from request: Request, context: some RequestContext) throws -> Response {
            JSONWriter.response { json in
                json.object { json in
                    json.key("key")
                    key.write(to: &json)
                    json.key("workspace")
                    json.object { json in
                        json.field("id", workspace.id)
                        json.field("name", workspace.name)
                    }
                }
            }
        }
    }

    let store: any KeyStore
    /// Workspaces by id; they are never renamed or deleted, so entries never go stale.
    private let workspaces = Mutex<[String: Workspace]>([:])

    init(store: any KeyStore) {
        self.store = store
    }

    func addRoutes(to group: RouterGroup<Context>) {
        group.get("auth/whoami", use: whoami)
    }

    @Sendable func whoami(_ request: Request, context: Context) async throws -> WhoAmI {
        // The caller's `last_used_*` already describe this request (see `BearerAuthenticator`).
        let key = try context.requireCaller()
        // Synchronous when cached, as it nearly always is: no suspension on the path the benchmark times.
        let cached = workspaces.withLock { $0[key.workspaceID] }
        let workspace = if let cached { cached } else { try await loadWorkspace(id: key.workspaceID) }
        return WhoAmI(key: APIKeyResource(key), workspace: workspace)
    }

    private func loadWorkspace(id: String) async throws -> Workspace {
        guard let workspace = try await store.workspace(id: id) else { throw APIError.unauthorized }
        workspaces.withLock { $0[id] = workspace }
        return workspace
    }
}
