import Foundation
import NIOCore
import NIOPosix

/// Decides where webhooks may be sent: http(s) only, and by default never to loopback, private,
/// link-local, metadata or other non-public addresses (server-side request forgery).
/// Checked when an endpoint is registered and again before every delivery, after DNS resolution.
public struct WebhookTargetPolicy: Sendable {
    public var allowPrivateTargets: Bool

    public init(allowPrivateTargets: Bool) {
        self.allowPrivateTargets = allowPrivateTargets
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

    /// Resolves the host and refuses non-public addresses unless private targets are allowed.
    public func check(_ url: String) async throws(APIError) {
        if let problem = Self.formProblem(of: url) { throw .badRequest(problem) }
        guard !allowPrivateTargets else { return }
        let components = URLComponents(string: url)!
        let host = components.host!.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let port = components.port ?? (components.scheme?.lowercased() == "https" ? 443 : 80)
        let addresses: [SocketAddress]
        do {
            addresses = try await NIOThreadPool.singleton.runIfActive { try Self.resolve(host: host, port: port) }
        } catch {
            throw .badRequest("url host '\(host)' does not resolve")
        }
        if let address = addresses.first(where: { !Self.isPublic($0) }) {
            throw .badRequest("url resolves to a non-public address (\(address.ipAddress ?? "?")); such targets are refused unless the server allows private webhook targets")
        }
    }

    static func resolve(host: String, port: Int) throws -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw StoreConfigurationError("cannot resolve \(host)")
        }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let address = info.pointee.ai_addr {
                switch Int32(info.pointee.ai_family) {
                case AF_INET:
                    addresses.append(address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                case AF_INET6:
                    addresses.append(address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                default: break
                }
            }
            cursor = info.pointee.ai_next
        }
        guard !addresses.isEmpty else { throw StoreConfigurationError("no address for \(host)") }
        return addresses
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

    static func isPublicIPv4(_ ip: UInt32) -> Bool {
        let blocked: [(UInt32, UInt32)] = [
            (0x0000_0000, 8), (0x0A00_0000, 8), (0x6440_0000, 10), (0x7F00_0000, 8), (0xA9FE_0000, 16),
            (0xAC10_0000, 12), (0xC000_0000, 24), (0xC000_0200, 24), (0xC0A8_0000, 16), (0xC612_0000, 15),
            (0xC633_6400, 24), (0xCB00_7100, 24), (0xE000_0000, 4), (0xF000_0000, 4),
        ]
        return !blocked.contains { network, bits in ip >> (32 - bits) == network >> (32 - bits) }
    }

    static func isPublicIPv6(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == 16 else { return false }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            // IPv4-mapped: judge the IPv4 address.
            return isPublicIPv4(bytes[12..<16].reduce(0) { $0 << 8 | UInt32($1) })
        }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) { return false }        // :: and ::1
        if bytes[0] & 0xFE == 0xFC { return false }                       // fc00::/7 unique local
        if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return false }   // fe80::/10 link-local
        if bytes[0] == 0xFF { return false }                              // multicast
        if bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xFF && bytes[3] == 0x9B { return false }  // NAT64
        if bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0D && bytes[3] == 0xB8 { return false }  // documentation
        return true
    }
}
