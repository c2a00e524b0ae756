/// One key's rate-limit counts as this instance sees them, and the share of its limit this instance has
/// claimed. Times are milliseconds since the epoch on the application's clock.
///
/// The window is cut into `RateLimiter.bucketsPerWindow` buckets aligned to the epoch, so that every
/// instance files a request under the same bucket. A bucket is counted while its END is after
/// `now - window`: a request is forgotten only once it is surely outside the window, so no window ever
/// holds more than the limit of the requests this instance knows of.
struct KeyRateState {
    struct Bucket {
        var start: Int64
        /// Every instance's total, as the last exchange that carried this bucket returned it.
        var shared = 0
        /// To add at the next exchange: requests served without a claim, claims moved to the buckets their
        /// requests fell in, and the unused rest of claims given back (negative).
        var owed = 0
        /// Added by the exchange in flight.
        var sending = 0
        /// Requests this instance served, for its own share of the limit while exchanges fail.
        var own = 0
        /// Requests served from the current claim, moved to `owed` when it closes.
        var claimed = 0
        /// Requests served outside a claim while the key was new to this instance, with other instances live.
        var cold = 0
    }

    /// Part of the limit written to the shared count in advance, so that other instances see it as used
    /// before this one serves it. It sits in the bucket of its deadline, the last moment it may be spent,
    /// so that it is never forgotten before a request it covers.
    struct Claim {
        var bucket: Int64
        var granted: Int
        var used = 0
        var deadline: Int64
        var unused: Int { granted - used }
    }

    var limit: Int
    let window: Int64
    let width: Int64
    /// Tells this state from a later one of the same key (the window changed, or it was dropped and made again).
    let serial: UInt64
    /// Ascending by start; only buckets of the window and the claims' future buckets.
    private(set) var buckets: [Bucket] = []
    private(set) var claim: Claim?
    /// The claim the exchange in flight asks for.
    private(set) var pending: Claim?
    /// An exchange has returned this key's totals for the whole window (one new to this instance has not).
    var exchanged = false
    /// Requests for the key, served or not, since the last exchange began: what the next claim is sized by.
    var demand = 0
    var lastRequest: Int64

    init(limit: RateLimit, serial: UInt64, at now: Int64) {
        self.limit = limit.limit
        self.window = Int64(limit.windowSeconds) * 1000
        self.width = max(1, window / RateLimiter.bucketsPerWindow)
        self.serial = serial
        self.lastRequest = now
    }

    func bucketStart(_ time: Int64) -> Int64 {
        let offset = time % width
        return time - (offset < 0 ? offset + width : offset)
    }

    /// The first bucket still counted at `now`.
    func windowStart(at now: Int64) -> Int64 { bucketStart(now - window) }

    // MARK: Counting

    /// Requests in the window by every instance, as far as this one knows, plus shares other instances
    /// have claimed; this instance's own unspent claims are not counted.
    func counted(at now: Int64) -> Int {
        let first = windowStart(at: now)
        var sum = 0
        for bucket in buckets where bucket.start >= first { sum += bucket.shared + bucket.owed + bucket.sending }
        sum -= (claim?.unused ?? 0) + (pending?.granted ?? 0)
        return max(0, sum)
    }

    /// Requests this instance served in the window.
    func ownCount(at now: Int64) -> Int {
        let first = windowStart(at: now)
        return buckets.reduce(0) { $1.start >= first ? $0 + $1.own : $0 }
    }

    /// Requests this instance served in the window outside a claim while the key was new to it.
    func coldCount(at now: Int64) -> Int {
        let first = windowStart(at: now)
        return buckets.reduce(0) { $1.start >= first ? $0 + $1.cold : $0 }
    }

    /// Whole seconds (at least 1, at most the window) until fewer than `threshold` requests are counted, as
    /// buckets leave the window oldest first. A bucket leaves up to a tenth of the window after its oldest
    /// request did; no request waits longer than the window, so neither does the answer (`Retry-After`).
    func seconds(untilBelow threshold: Int, at now: Int64) -> Int {
        var left = counted(at: now)
        let first = windowStart(at: now)
        var until = window + width
        if left >= threshold {
            for bucket in buckets where bucket.start >= first {
                left -= bucket.shared + bucket.owed + bucket.sending
                if bucket.start == claim?.bucket { left += claim?.unused ?? 0 }
                if bucket.start == pending?.bucket { left += pending?.granted ?? 0 }
                if left < threshold {
                    until = bucket.start + width + window - now
                    break
                }
            }
        }
        return min(Int(window / 1000), max(1, Int((until + 999) / 1000)))
    }

    // MARK: Changes

    /// Drops buckets that left the window, and closes a claim whose deadline passed.
    mutating func forget(at now: Int64) {
        if let claim, now >= claim.deadline { closeClaim() }
        let first = windowStart(at: now)
        let stale = buckets.firstIndex(where: { $0.start >= first }) ?? buckets.endIndex
        if stale > 0 { buckets.removeFirst(stale) }
    }

    /// Serves a request: from the claim when it has some left, else counted as owed (`cold`: as one of a
    /// key new to this instance). The caller has decided.
    mutating func serve(at now: Int64, claimed: Bool, cold: Bool = false) {
        let index = bucketIndex(bucketStart(now))
        buckets[index].own += 1
        if claimed {
            claim!.used += 1
            buckets[index].claimed += 1
        } else {
            buckets[index].owed += 1
            if cold { buckets[index].cold += 1 }
        }
    }

    /// Moves the requests served from the claim to their own buckets and gives its unused rest back.
    mutating func closeClaim() {
        guard let closing = claim else { return }
        for index in buckets.indices where buckets[index].claimed != 0 {
            buckets[index].owed += buckets[index].claimed
            buckets[index].claimed = 0
        }
        buckets[bucketIndex(closing.bucket)].owed -= closing.granted
        claim = nil
    }

    // MARK: Exchanges

    /// What the next exchange carries for this key: what is owed, a new claim of `amount` (0 for none)
    /// due at `deadline`, and zero counts for the other buckets from `from` through `through`, whose
    /// totals it wants back.
    mutating func beginExchange(claiming amount: Int, deadline: Int64, from: Int64, through: Int64,
                                keyID: String, into counts: inout [RateCount]) {
        let first = bucketStart(from)
        var start = first
        while start <= through {
            _ = bucketIndex(start)
            start += width
        }
        if amount > 0 {
            let bucket = bucketStart(deadline)
            buckets[bucketIndex(bucket)].owed += amount
            pending = Claim(bucket: bucket, granted: amount, deadline: deadline)
        }
        demand = 0
        for index in buckets.indices where buckets[index].start >= first || buckets[index].owed != 0 {
            buckets[index].sending = buckets[index].owed
            buckets[index].owed = 0
            counts.append(RateCount(keyID: keyID, bucketStart: buckets[index].start, count: buckets[index].sending))
        }
    }

    /// Takes the totals the exchange returned and grants the pending claim what is left of the limit;
    /// `refreshed`: the exchange asked for the totals of the window.
    mutating func finishExchange(totals: [(start: Int64, count: Int)], refreshed: Bool, at now: Int64) {
        for index in buckets.indices { buckets[index].sending = 0 }
        for total in totals {
            if let index = buckets.firstIndex(where: { $0.start == total.start }) { buckets[index].shared = total.count }
        }
        if let asked = pending {
            // Everything but this claim (and the unused rest of the old one), against the limit.
            let room = limit - counted(at: now)
            let granted = max(0, min(asked.granted, room))
            pending = nil
            closeClaim()
            if granted < asked.granted { buckets[bucketIndex(asked.bucket)].owed -= asked.granted - granted }
            if granted > 0 { claim = Claim(bucket: asked.bucket, granted: granted, deadline: asked.deadline) }
        }
        if refreshed { exchanged = true }
    }

    /// After a failed exchange, which may or may not have been applied: what it added is owed again (counted
    /// twice at worst), what it took away is not sent again (kept at worst), and its claim is not granted.
    mutating func failExchange() {
        if let asked = pending { buckets[bucketIndex(asked.bucket)].sending -= asked.granted }
        for index in buckets.indices {
            buckets[index].owed += max(0, buckets[index].sending)
            buckets[index].sending = 0
        }
        pending = nil
    }

    /// Closes the claim and gives up the state: what is owed, for an exchange to carry anyway.
    mutating func release(keyID: String) -> [RateCount] {
        closeClaim()
        return buckets.compactMap { $0.owed == 0 ? nil : RateCount(keyID: keyID, bucketStart: $0.start, count: $0.owed) }
    }

    /// The index of the bucket that starts at `start`, inserted when missing.
    private mutating func bucketIndex(_ start: Int64) -> Int {
        var index = buckets.endIndex
        while index > buckets.startIndex, buckets[index - 1].start >= start {
            index -= 1
            if buckets[index].start == start { return index }
        }
        buckets.insert(Bucket(start: start), at: index)
        return index
    }
}
