import ServiceLifecycle
import Synchronization

/// Opens once the schema is migrated; background services wait on it before their first query, so
/// nothing touches a table that a starting instance has not created yet.
public final class MigrationGate: Sendable {
    private let isOpen = Mutex(false)

    public init() {}

    public func open() { isOpen.withLock { $0 = true } }

    /// Returns once the gate is open; throws when the task is cancelled first (a shutdown during start).
    public func wait() async throws {
        // Polling keeps waiting cancellable with no bookkeeping; it only happens while an instance starts.
        while !isOpen.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
    }
}

extension MigrationGate {
    /// Runs `pass` once the gate is open and then every `interval`, until graceful shutdown: the loop of
    /// every periodic background service (expiry events, retention).
    func repeatEvery(_ interval: Duration, _ pass: @escaping @Sendable () async -> Void) async {
        try? await cancelWhenGracefulShutdown {
            try await self.wait()
            while !Task.isCancelled {
                await pass()
                try await Task.sleep(for: interval)
            }
        }
    }
}
