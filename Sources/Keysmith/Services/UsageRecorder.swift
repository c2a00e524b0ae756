import Logging
import ServiceLifecycle
import Synchronization

/// Remembers the last use of each key in memory and writes them in batches, at most once per interval and
/// once per key per batch, so that the request path never writes to the database.
public final class UsageRecorder: Service, Sendable {
    private let pending = Mutex<[String: KeyUsage]>([:])
    let store: any KeyStore
    let interval: Duration
    let logger: Logger

    public init(store: any KeyStore, interval: Duration = .seconds(1), logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    /// Records a use; keeps only the latest one per key.
    public func record(keyID: String, usage: KeyUsage) {
        pending.withLock { pending in
            if let existing = pending[keyID], existing.at > usage.at { return }
            pending[keyID] = usage
        }
    }

    /// Writes what is pending. On failure the batch goes back, merged with newer uses, for the next try.
    public func flush() async {
        let batch = pending.withLock { pending in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.recordUsage(batch)
        } catch {
            logger.error("cannot write key usage; will retry", metadata: ["keys": "\(batch.count)", "error": "\(String(reflecting: error))"])
            for (id, usage) in batch { record(keyID: id, usage: usage) }
        }
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await flush()
            }
        }
        await flush()
    }
}
