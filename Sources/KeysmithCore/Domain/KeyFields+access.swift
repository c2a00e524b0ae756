/// The rules for a key's access fields: its rate limit and the client addresses it may be used from.
extension KeyFields {
    public static let rateLimitRange = 1...1_000_000
    public static let rateWindowRange = 1...86_400
    public static let maxAllowedIPs = 100

    /// `rate_limit: {"limit": N, "window_seconds": S}`: N requests in any S seconds.
    public static func rateLimit(limit: Int?, windowSeconds: Int?) throws(FieldError) -> RateLimit {
        guard let limit, rateLimitRange.contains(limit) else {
            throw FieldError("rate_limit.limit must be an integer from \(rateLimitRange.lowerBound) to \(rateLimitRange.upperBound)")
        }
        guard let windowSeconds, rateWindowRange.contains(windowSeconds) else {
            throw FieldError("rate_limit.window_seconds must be an integer from \(rateWindowRange.lowerBound) to \(rateWindowRange.upperBound) (one day)")
        }
        return RateLimit(limit: limit, windowSeconds: windowSeconds)
    }

    /// `allowed_ips: ["203.0.113.0/24", "2001:db8::/32"]`: 1 to `maxAllowedIPs` CIDR blocks or single
    /// addresses, each parsed strictly (a prefix length of decimal digits without a sign or leading zeros),
    /// normalised to its network (`203.0.113.7/24` is `203.0.113.0/24`, an address alone is `/32` or
    /// `/128`), duplicates dropped. An empty list would lock the key out; `null` means any address.
    public static func allowedIPs(_ raw: [String]) throws(FieldError) -> [IPRange] {
        guard (1...maxAllowedIPs).contains(raw.count) else {
            throw FieldError("allowed_ips must hold 1 to \(maxAllowedIPs) CIDR blocks, or be null to allow every address; it has \(raw.count)")
        }
        var seen = Set<IPRange>()
        var result: [IPRange] = []
        for text in raw {
            guard let range = strictRange(text) else {
                throw FieldError("allowed_ips: '\(text.prefix(64))' is not an IP address or CIDR block such as 203.0.113.0/24 or 2001:db8::/32")
            }
            if seen.insert(range).inserted { result.append(range) }
        }
        return result
    }

    private static func strictRange(_ text: String) -> IPRange? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 {
            let digits = parts[1].utf8
            guard (1...3).contains(digits.count), digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  digits.count == 1 || digits.first != UInt8(ascii: "0")
            else { return nil }
        }
        return IPRange(text)
    }
}
