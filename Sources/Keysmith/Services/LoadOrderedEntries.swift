/// Cache entries by id in the order they were loaded, bounded by their estimated bytes (`KeyCache.cost(of:)`).
///
/// The entries form a list, oldest to newest, through the dictionary, so that eviction takes the oldest and
/// a removal unlinks one in constant time, with no pause. `KeyCache` keeps two: known keys, and ids known
/// to be absent, so that a flood of made-up ids never evicts a key.
struct LoadOrderedEntries<Value> {
    struct Entry {
        var value: Value
        var loadedAt: Timestamp
        var older: String?
        var newer: String?
    }

    private(set) var entries: [String: Entry] = [:]
    private var oldest: String?
    private var newest: String?
    /// The estimated bytes of every entry, the figure held under `budget`.
    private(set) var bytes = 0
    let budget: Int
    private let cost: (Value) -> Int

    init(budget: Int, cost: @escaping (Value) -> Int) {
        self.budget = max(0, budget)
        self.cost = cost
    }

    subscript(id: String) -> Entry? { entries[id] }

    var count: Int { entries.count }

    /// Stores an entry as the newest, first making room for it when it would pass the budget: the least
    /// recently loaded go until it fits with a tenth of the budget to spare, so a full cache never empties
    /// at once (which would send every client to the database together).
    mutating func insert(_ value: Value, id: String, at now: Timestamp) {
        remove(id)
        let size = cost(value)
        if bytes + size > budget {
            let target = budget - budget / 10 - size
            while bytes > target, let oldest { remove(oldest) }
        }
        entries[id] = Entry(value: value, loadedAt: now, older: newest, newer: nil)
        if let newest { entries[newest]?.newer = id } else { oldest = id }
        newest = id
        bytes += size
    }

    mutating func remove(_ id: String) {
        guard let entry = entries.removeValue(forKey: id) else { return }
        if let older = entry.older { entries[older]?.newer = entry.newer } else { oldest = entry.newer }
        if let newer = entry.newer { entries[newer]?.older = entry.older } else { newest = entry.older }
        bytes -= cost(entry.value)
    }

    mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
        oldest = nil
        newest = nil
        bytes = 0
    }
}
