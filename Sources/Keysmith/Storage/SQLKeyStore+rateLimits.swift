/// Rate-limit counts shared by the instances of one database: each instance adds what it counted since
/// its last exchange and reads back the totals, in one transaction, off the request path.
extension SQLKeyStore {
    public func exchangeRateCounts(_ counts: [RateCount], instanceID: String, liveWithinMilliseconds: Int64) async throws -> RateExchange {
        // One row per key and bucket: PostgreSQL refuses an upsert that meets the same row twice. In one
        // order on every instance, so that concurrent exchanges lock the rows they share in the same order
        // (in a dictionary's order, which differs per process, they deadlock).
        var merged: [RateBucket: Int] = [:]
        for count in counts { merged[RateBucket(keyID: count.keyID, start: count.bucketStart), default: 0] += count.count }
        let buckets = merged.sorted { ($0.key.keyID, $0.key.start) < ($1.key.keyID, $1.key.start) }
        return try await database.transaction { db in
            _ = try await db.execute("""
                INSERT INTO rate_instances (id, seen_at) VALUES (\(instanceID), \(raw: db.dialect.now))
                ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at
                """)
            var totals: [RateCount] = []
            totals.reserveCapacity(buckets.count)
            for chunk in buckets.chunked(Self.rowsPerInsert) {
                let rows = try await db.execute("""
                    INSERT INTO rate_counts (key_id, bucket_start, count)
                    \(SQLStatement.values(chunk) { [.text($0.key.keyID), .integer($0.key.start), .integer(Int64($0.value))] })
                    ON CONFLICT (key_id, bucket_start) DO UPDATE SET count = rate_counts.count + excluded.count
                    RETURNING key_id, bucket_start, count
                    """)
                for row in rows {
                    guard let keyID = row.text("key_id"), let start = row.integer("bucket_start"), let count = row.int("count") else { continue }
                    totals.append(RateCount(keyID: keyID, bucketStart: start, count: count))
                }
            }
            let live = try await db.first("""
                SELECT count(*) AS n FROM rate_instances WHERE seen_at > \(raw: db.dialect.now) - \(liveWithinMilliseconds)
                """)?.int("n") ?? 1
            return RateExchange(totals: totals, liveInstances: max(1, live))
        }
    }

    public func pruneRateCounts(before: Timestamp) async throws {
        try await database.transaction { db in
            _ = try await db.execute("DELETE FROM rate_counts WHERE bucket_start < \(before)")
            _ = try await db.execute("DELETE FROM rate_instances WHERE seen_at < \(before)")
        }
    }
}

private struct RateBucket: Hashable {
    let keyID: String
    let start: Int64
}
