/// What a key may hand out: no key climbs above the key that made it (seed 000: a key has at most the
/// permissions of the key that gives them). A key creates, and manages (update, disable, enable, roll,
/// revoke), only keys it could have created: a scope it allows, permissions it covers, client addresses
/// within its own and a rate no higher than its own. Expiry is not compared for management; a roll's
/// successor is capped at the caller's expiry instead.
public struct KeyAuthority: Sendable {
    public let scope: Scope
    public let permissions: [String]
    public let allowedIPs: [IPRange]?
    public let rateLimit: RateLimit?
    public let expiresAt: Timestamp?

    public init(of key: APIKey) {
        scope = key.scope
        permissions = key.permissions
        allowedIPs = key.allowedIPs
        rateLimit = key.rateLimit
        expiresAt = key.expiresAt
    }

    /// The refusal: the HTTP layer answers it with a 403 in the seeds' error shape.
    public struct Refusal: Error, Sendable, Equatable {
        public let message: String
        public init(_ message: String) { self.message = message }
    }

    /// Throws unless this authority could have created `key`: the check before any change to it.
    public func requireManages(_ key: APIKey) throws(Refusal) {
        guard scope.allows(key.scope) else {
            throw Refusal("a key with scope '\(scope.rawValue)' cannot manage API key '\(key.id)' with scope '\(key.scope.rawValue)'")
        }
        if let missing = Permissions.firstUncovered(key.permissions, by: permissions) {
            throw Refusal("API key '\(key.id)' has the permission '\(missing)', which the calling key does not have; a key can only manage keys within its own permissions")
        }
        do {
            try requireCovers(allowedIPs: key.allowedIPs)
            try requireCovers(rateLimit: key.rateLimit)
        } catch {
            throw Refusal("API key '\(key.id)' is less restricted than the calling key: \(error.message)")
        }
    }

    /// Throws unless every one of `requested` is among this authority's permissions.
    public func requireCovers(permissions requested: [String]) throws(Refusal) {
        if let missing = Permissions.firstUncovered(requested, by: permissions) {
            throw Refusal("permission '\(missing)' is not among the permissions of the calling key (\(permissions.joined(separator: ", "))); a key can only give permissions it has")
        }
    }

    /// Throws unless every block of `requested` lies within one of this authority's own (`nil`: any address).
    public func requireCovers(allowedIPs requested: [IPRange]?) throws(Refusal) {
        guard let own = allowedIPs else { return }
        guard let requested else {
            throw Refusal("the calling key is limited to allowed_ips \(own.map(\.description)); it cannot give a key that every address may use")
        }
        if let outside = requested.first(where: { block in !own.contains { $0.contains(block) } }) {
            throw Refusal("allowed_ips: \(outside) is not within the calling key's allowed_ips \(own.map(\.description))")
        }
    }

    /// Throws unless `requested` allows no more requests per second, on average, than this authority's own
    /// limit (`nil`: no limit).
    public func requireCovers(rateLimit requested: RateLimit?) throws(Refusal) {
        guard let own = rateLimit else { return }
        guard let requested else {
            throw Refusal("the calling key has rate_limit \(own.limit) per \(own.windowSeconds) s; it cannot give a key without a rate limit")
        }
        // limit/window <= own.limit/own.window, in integers (both factors are at most 10^6 and 86,400).
        guard Int64(requested.limit) * Int64(own.windowSeconds) <= Int64(own.limit) * Int64(requested.windowSeconds) else {
            throw Refusal("rate_limit \(requested.limit) per \(requested.windowSeconds) s allows more requests per second than the calling key's \(own.limit) per \(own.windowSeconds) s")
        }
    }

    /// The earlier of two expiries, `nil` being never.
    public static func earliest(_ a: Timestamp?, _ b: Timestamp?) -> Timestamp? {
        switch (a, b) {
        case let (a?, b?): min(a, b)
        case let (a?, nil): a
        case let (nil, b): b
        }
    }
}

extension IPRange {
    /// Whether every address of `other` is in this block.
    public func contains(_ other: IPRange) -> Bool {
        let otherNetwork = network.bytes.count == 4 ? other.network.unmapped : other.network
        guard otherNetwork.bytes.count == network.bytes.count else { return false }
        let otherLength = other.prefixLength - (other.network.bytes.count - otherNetwork.bytes.count) * 8
        return otherLength >= prefixLength && contains(otherNetwork)
    }
}
