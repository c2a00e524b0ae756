import Hummingbird
import Synchronization

/// `GET /v1/auth/whoami`: the caller's own key and workspace, for any scope. The endpoint a client calls
/// to check a key, so it is served from memory.
final class AuthController: Sendable {
    typealias Context = KeysmithRequestContext

    struct WhoAmI: ResponseGenerator {
        let caller: VerifiedKey
        let use: KeyUsage
        /// `{"id":...,"name":...}`, written once per workspace.
        let workspace: [UInt8]

        func response(from request: Request, context: some RequestContext) throws -> Response {
            JSONWriter.response { json in
                json.object { json in
                    json.key("key")
                    caller.writeJSON(lastUsed: use, now: use.at, to: &json)
                    json.key("workspace")
                    json.raw(workspace)
                }
            }
        }
    }

    let store: any KeyStore
    /// Workspaces by id, as JSON; they are never renamed or deleted, so entries never go stale.
    private let workspaces = Mutex<[String: [UInt8]]>([:])

    init(store: any KeyStore) {
        self.store = store
    }

    func addRoutes(to group: RouterGroup<Context>) {
        group.get("auth/whoami", use: whoami)
    }

    @Sendable func whoami(_ request: Request, context: Context) async throws -> WhoAmI {
        // The caller's last use is this request (see `BearerAuthenticator`).
        guard let identity = context.identity else { throw APIError.unauthorized }
        let (caller, use) = (identity.key, identity.use)
        let workspaceID = caller.key.workspaceID
        // Synchronous when cached, as it nearly always is: no suspension on the path the benchmark times.
        let cached = workspaces.withLock { $0[workspaceID] }
        let workspace = if let cached { cached } else { try await loadWorkspace(id: workspaceID) }
        return WhoAmI(caller: caller, use: use, workspace: workspace)
    }

    private func loadWorkspace(id: String) async throws -> [UInt8] {
        guard let workspace = try await store.workspace(id: id) else { throw APIError.unauthorized }
        var writer = JSONWriter(capacity: 128)
        writer.object { json in
            json.field("id", workspace.id)
            json.field("name", workspace.name)
        }
        let json = writer.bytes
        workspaces.withLock { $0[id] = json }
        return json
    }
}
