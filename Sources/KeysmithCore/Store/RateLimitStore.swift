/// Where instances that share a database exchange their rate-limit counts, in batches, never on the
/// request path. Implemented by the key store.
public protocol RateLimitStore: Sendable {
    /// Adds each count to the shared total of its key and bucket, marks `instanceID` as live at the
    /// database's clock, and returns the totals of the buckets it was given with how many instances were
    /// live within the last `liveWithinMilliseconds`.
    func exchangeRateCounts(_ counts: [RateCount], instanceID: String, liveWithinMilliseconds: Int64) async throws -> RateExchange
    /// Deletes buckets that started before `before`, and instances not seen since then.
    func pruneRateCounts(before: Timestamp) async throws
}

/// Requests counted for one key in one time bucket (`bucketStart`, milliseconds since the epoch).
public struct RateCount: Sendable, Hashable {
    public var keyID: String
    public var bucketStart: Int64
    public var count: Int

    public init(keyID: String, bucketStart: Int64, count: Int) {
        self.keyID = keyID
        self.bucketStart = bucketStart
        self.count = count
    }
}

/// The answer of one exchange: totals across every instance, and how many instances share them.
public struct RateExchange: Sendable, Equatable {
    public var totals: [RateCount]
    public var liveInstances: Int

    public init(totals: [RateCount], liveInstances: Int) {
        self.totals = totals
        self.liveInstances = liveInstances
    }
}
