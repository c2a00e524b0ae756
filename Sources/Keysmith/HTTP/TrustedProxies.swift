import Hummingbird

/// The proxies whose `X-Forwarded-For` is believed (`--trusted-proxy CIDR`). From any other peer the header
/// is ignored, so a client cannot choose the address its use is recorded under or budgeted by.
public struct TrustedProxies: Sendable {
    public var ranges: [IPRange]

    public init(_ ranges: [IPRange] = []) {
        self.ranges = ranges
    }

    func trusts(_ address: IPAddress) -> Bool { ranges.contains { $0.contains(address) } }

    /// The client's address: the peer's, or, when the peer is a trusted proxy, the right-most entry of
    /// `X-Forwarded-For` that is not itself a trusted proxy. Entries that are not IP addresses end the walk.
    /// Without `X-Forwarded-For`, a trusted proxy's `X-Real-IP` (nginx's `$remote_addr`) is the client.
    func clientAddress(peer: String?, forwardedFor: String?, realIP: String? = nil) -> String? {
        guard !ranges.isEmpty, let peer, let peerIP = IPAddress(peer), trusts(peerIP) else { return peer }
        guard let forwardedFor else {
            return realIP.flatMap { IPAddress($0.trimmingCharacters(in: .whitespaces)) }?.unmapped.description ?? peer
        }
        var client = peer
        for entry in forwardedFor.split(separator: ",").reversed() {
            guard let ip = IPAddress(entry.trimmingCharacters(in: .whitespaces)) else { break }
            client = ip.unmapped.description
            if !trusts(ip) { break }
        }
        return client
    }
}
