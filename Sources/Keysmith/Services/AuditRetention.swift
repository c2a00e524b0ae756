import Logging
import ServiceLifecycle

/// Deletes audit entries older than `auditRetention` and usage counts older than `usageRetention`, once
/// per `interval`.
public struct AuditRetention: Service {
    let store: any KeyStore
    let auditRetention: Duration
    let usageRetention: Duration
    let interval: Duration
    let migrated: MigrationGate
    let logger: Logger
    let clock: @Sendable () -> Timestamp

    public func run() async throws {
        await migrated.repeatEvery(interval) { await prune() }
    }

    /// One pass; returns how many audit entries it deleted (zero when the store failed, which is logged).
    @discardableResult
    public func prune() async -> Int {
        let now = clock()
        do {
            let deleted = try await store.pruneAuditEvents(before: now.adding(milliseconds: -auditRetention.milliseconds))
            try await store.pruneUsageCounts(before: now.adding(milliseconds: -usageRetention.milliseconds))
            if deleted > 0 { logger.info("pruned the audit log", metadata: ["entries": "\(deleted)"]) }
            return deleted
        } catch {
            logger.error("cannot prune the audit log and usage counts", metadata: ["error": "\(String(reflecting: error))"])
            return 0
        }
    }
}
