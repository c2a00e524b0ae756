import Crypto

/// SHA-256 of a key's secret: the only form in which a secret is stored.
///
/// Secrets carry 190 random bits, so a fast hash is enough: there is nothing to brute-force.
public struct SecretHash: Sendable, Hashable {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    public init(secret: String) {
        self.bytes = Array(SHA256.hash(data: Array(secret.utf8)))
    }

    /// Constant-time comparison with the hash of a presented secret.
    public func matches(secret: String) -> Bool {
        var secret = secret
        let presented = secret.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        guard bytes.count == SHA256.byteCount else { return false }
        var difference: UInt8 = 0
        for (index, byte) in presented.enumerated() { difference |= byte ^ bytes[index] }
        return difference == 0
    }
}
