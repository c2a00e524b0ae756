/// Per key and per hour, how many requests were served and how many refused, by reason. Counted in
/// memory and written in batches, never on the request path.
public protocol UsageStore: Sendable {
    /// Adds each count to its key's hour and outcome.
    func addUsageCounts(_ counts: [UsageCount]) async throws
    /// A key's counts for the hours starting in `from..<to`, oldest first.
    func usageCounts(keyID: String, from: Timestamp, to: Timestamp) async throws -> [UsageCount]
    /// Deletes hours that started before `before`.
    func pruneUsageCounts(before: Timestamp) async throws
}

public struct UsageCount: Sendable, Hashable {
    public var keyID: String
    /// The hour's start, milliseconds since the epoch.
    public var hour: Int64
    public var outcome: UsageOutcome
    public var count: Int

    public init(keyID: String, hour: Int64, outcome: UsageOutcome, count: Int) {
        self.keyID = keyID
        self.hour = hour
        self.outcome = outcome
        self.count = count
    }

    /// The start of the hour `time` falls in.
    public static func hour(of time: Timestamp) -> Int64 { time.milliseconds - time.milliseconds % 3_600_000 }
}

/// What became of one request with a key.
public enum UsageOutcome: String, Sendable, CaseIterable {
    case success
    case wrongSecret = "wrong_secret"
    /// Revoked, disabled or expired.
    case inactive
    case forbidden
    case rateLimited = "rate_limited"
    /// From an address outside the key's allowed ranges.
    case ip
}
