import Foundation
import NIOCore

/// Decides where webhooks may be sent: http(s) only, and by default never to loopback, private,
/// link-local, metadata or other non-public addresses (server-side request forgery).
/// Checked when an endpoint is registered and again before every delivery: the host is resolved once,
/// every address is checked, and the delivery connects to one that passed (no DNS rebinding).
public struct WebhookTargetPolicy: Sendable {
    public var allowPrivateTargets: Bool
    /// How long one resolution may take before the target counts as unresolvable.
    public var resolveTimeout: Duration
    let resolver: WebhookResolver

    public init(allowPrivateTargets: Bool, resolveTimeout: Duration = .seconds(5), resolver: WebhookResolver = .shared) {
        self.allowPrivateTargets = allowPrivateTargets
        self.resolveTimeout = resolveTimeout
        self.resolver = resolver
    }

    /// Where one delivery connects: the URL's host (kept for Host and TLS SNI) and the checked address.
    public struct Target: Sendable, Equatable {
        public let host: String
        public let address: String
    }

    /// Checks the URL's form; `nil` when acceptable, else the reason.
    public static func formProblem(of url: String) -> String? {
        guard url.utf8.count <= 2048, let components = URLComponents(string: url),
              let scheme = components.scheme?.lowercased(), let host = components.host, !host.isEmpty
        else { return "url must be an absolute http or https URL" }
        guard scheme == "http" || scheme == "https" else { return "url must use http or https" }
        guard components.user == nil && components.password == nil else { return "url must not contain credentials" }
        guard components.fragment == nil else { return "url must not contain a fragment" }
        return nil
    }

    /// Resolves the host, as one of `workspaceID`'s lookups, and refuses non-public addresses unless private targets are allowed.
    public func check(_ url: String, workspaceID: String) async throws(APIError) {
        _ = try await target(for: url, workspaceID: workspaceID)
    }

    /// Resolves the URL's host once and returns the address to connect to; every address must pass.
    public func target(for url: String, workspaceID: String, timeout: Duration? = nil) async throws(APIError) -> Target {
        if let problem = Self.formProblem(of: url) { throw .badRequest(problem) }
        guard let components = URLComponents(string: url), let rawHost = components.host else {
            throw .badRequest("url must be an absolute http or https URL")
        }
        let host = rawHost.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let port = components.port ?? (components.scheme?.lowercased() == "https" ? 443 : 80)
        let addresses: [SocketAddress]
        do {
            addresses = try await resolver.resolve(host: host, port: port, workspaceID: workspaceID, timeout: min(timeout ?? resolveTimeout, resolveTimeout))
        } catch {
            throw .badRequest("url host '\(host.prefix(253))' does not resolve")
        }
        // The address is not echoed: it would tell a tenant what internal names resolve to.
        if !allowPrivateTargets, addresses.contains(where: { !Self.isPublic($0) }) {
            throw .badRequest("url is not allowed: its host resolves to a non-public address, and such targets are refused unless the server allows private webhook targets")
        }
        guard let address = addresses.first?.ipAddress else { throw .badRequest("url host '\(host.prefix(253))' does not resolve") }
        return Target(host: host, address: address)
    }

    /// True for globally routable unicast addresses.
    static func isPublic(_ address: SocketAddress) -> Bool {
        switch address {
        case .v4(let v4):
            return isPublicIPv4(UInt32(bigEndian: v4.address.sin_addr.s_addr))
        case .v6(let v6):
            var raw = v6.address.sin6_addr
            let bytes = withUnsafeBytes(of: &raw) { Array($0) }
            return isPublicIPv6(bytes)
        default:
            return false
        }
    }

    /// Refused IPv4 networks (address, prefix length): special-purpose registry entries plus cloud metadata.
    static let blockedIPv4: [(network: UInt32, bits: UInt32)] = [
        (0x0000_0000, 8),   // 0.0.0.0/8 "this network"
        (0x0A00_0000, 8),   // 10/8 private
        (0x6440_0000, 10),  // 100.64/10 carrier-grade NAT
        (0x7F00_0000, 8),   // 127/8 loopback
        (0xA83F_8110, 32),  // 168.63.129.16 Azure host services
        (0xA9FE_0000, 16),  // 169.254/16 link-local and metadata
        (0xAC10_0000, 12),  // 172.16/12 private
        (0xC000_0000, 24),  // 192.0.0/24 IETF protocol assignments
        (0xC000_0200, 24),  // 192.0.2/24 documentation
        (0xC058_6300, 24),  // 192.88.99/24 6to4 relay anycast
        (0xC0A8_0000, 16),  // 192.168/16 private
        (0xC612_0000, 15),  // 198.18/15 benchmarking
        (0xC633_6400, 24),  // 198.51.100/24 documentation
        (0xCB00_7100, 24),  // 203.0.113/24 documentation
        (0xE000_0000, 4),   // 224/4 multicast
        (0xF000_0000, 4),   // 240/4 reserved and broadcast
    ]

    static func isPublicIPv4(_ ip: UInt32) -> Bool {
        !blockedIPv4.contains { network, bits in
            let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
            return ip & mask == network & mask
        }
    }

    /// Refused IPv6 networks (leading bytes, prefix length). IPv4-mapped addresses are judged as IPv4.
    static let blockedIPv6: [(prefix: [UInt8], bits: Int)] = [
        ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 96),  // ::/96: ::, ::1 and IPv4-compatible ::a.b.c.d
        ([0x00, 0x64, 0xFF, 0x9B], 32),              // 64:ff9b::/96 and 64:ff9b:1::/48 NAT64
        ([0x01, 0x00, 0, 0, 0, 0, 0, 0], 64),        // 100::/64 discard-only
        ([0x20, 0x01, 0x00, 0x00], 32),              // 2001::/32 Teredo
        ([0x20, 0x01, 0x0D, 0xB8], 32),              // 2001:db8::/32 documentation
        ([0x20, 0x02], 16),                          // 2002::/16 6to4
        ([0xFC], 7),                                 // fc00::/7 unique local
        ([0xFE, 0x80], 10),                          // fe80::/10 link-local
        ([0xFE, 0xC0], 10),                          // fec0::/10 site-local (deprecated)
        ([0xFF], 8),                                 // ff00::/8 multicast
    ]

    static func isPublicIPv6(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == 16 else { return false }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return isPublicIPv4(bytes[12..<16].reduce(0) { $0 << 8 | UInt32($1) })
        }
        return !blockedIPv6.contains { prefix, bits in
            var remaining = bits
            for (index, byte) in prefix.enumerated() where remaining > 0 {
                let take = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
                if bytes[index] & mask != byte & mask { return false }
                remaining -= take
            }
            return true
        }
    }
}
