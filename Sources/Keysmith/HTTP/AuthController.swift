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
        var workspace = workspaces.withLock { $0[key.workspaceID] }
        if workspace == nil { workspace = try await self.workspace(id: key.workspaceID) }
        return WhoAmI(key: APIKeyResource(key), workspace: workspace!)
    }

    private func workspace(id: String) async throws -> Workspace {
        if let workspace = workspaces.withLock({ $0[id] }) { return workspace }
        guard let workspace = try await store.workspace(id: id) else { throw APIError.unauthorized }
        workspaces.withLock { $0[id] = workspace }
        return workspace
    }
}
