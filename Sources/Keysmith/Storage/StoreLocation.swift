import Logging
import ServiceLifecycle

/// Which backend a `--database` value names: a file path or `sqlite:PATH` (embedded), or a
/// `postgres://` / `postgresql://` URL.
public enum StoreLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(url: String)

    public init(_ value: String) {
        if value.hasPrefix("postgres://") || value.hasPrefix("postgresql://") {
            self = .postgres(url: value)
        } else if value.hasPrefix("sqlite:") {
            self = .sqlite(path: String(value.dropFirst("sqlite:".count)))
        } else {
            self = .sqlite(path: value)
        }
    }

    /// Opens the store and migrates it. The services (a PostgreSQL pool) must run for the store to work.
    public func open(logger: Logger) async throws -> (store: any KeyStore, services: [any Service]) {
        switch self {
        case .sqlite(let path):
            let store = try await SQLKeyStore.sqlite(path: path, logger: logger)
            do {
                try await store.migrate()
            } catch {
                try? await store.close()
                throw error
            }
            return (store, [])
        case .postgres(let url):
            let (store, service) = try await SQLKeyStore.postgres(url: url, logger: logger)
            return (store, [service])
        }
    }

    /// Opens the store, runs its services for the duration of `body`, and closes it: for one-shot commands.
    public func withStore<T: Sendable>(logger: Logger, _ body: @escaping @Sendable (any KeyStore) async throws -> T) async throws -> T {
        let (store, services) = try await open(logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            for service in services { group.addTask { try await service.run(); return nil } }
            defer { group.cancelAll() }
            do {
                try await store.migrate()
                try await store.migrateWebhooks()
                let result = try await body(store)
                try await store.close()
                return result
            } catch {
                try? await store.close()
                throw error
            }
        }
    }
}
