/// The bearer token of a key: `<key_id>:<secret>` (seed 001).
///
/// - `key_id`: 14 random lowercase letters, public.
/// - `secret`: a fixed prefix (default `ks_`), 32 base62 characters from the system CSPRNG (190 bits),
///   then 6 base62 characters of CRC32 over everything before them, so a scanner can match a leaked key
///   with one regular expression and a mistyped token is refused before any lookup:
///   `[a-z]{14}:ks_[0-9A-Za-z]{38}`.
public struct APIKeyToken: Sendable, Equatable {
    public static let keyIDLength = 14
    static let randomLength = 32
    static let checksumLength = 6

    public let keyID: String
    public let secret: String

    /// The full bearer token. Shown once, at creation; never logged.
    public var bearer: String { keyID + ":" + secret }

    /// Generates a new token with fresh randomness.
    public static func generate(prefix: String) -> APIKeyToken {
        let keyID = newKeyID()
        let body = prefix + SecureRandom.string(randomLength, from: Base62.alphabetBytes)
        let checksum = Base62.encode(CRC32.checksum(Array((keyID + ":" + body).utf8)), width: checksumLength)
        return APIKeyToken(keyID: keyID, secret: body + checksum)
    }

    /// What a key keeps of its secret so people can tell keys apart: the fixed prefix and the first four
    /// random characters (`ks_In9o`), about 24 bits of the secret's 190.
    public func keyPrefix(secretPrefix: String) -> String { String(secret.prefix(secretPrefix.count + 4)) }

    /// A random key id: 14 lowercase letters (about 66 bits).
    public static func newKeyID() -> String {
        SecureRandom.string(keyIDLength, from: Array("abcdefghijklmnopqrstuvwxyz".utf8))
    }

    init(keyID: String, secret: String) {
        self.keyID = keyID
        self.secret = secret
    }

    /// Parses a bearer token and checks its shape and checksum; no lookup.
    public init?(bearer token: Substring) {
        var token = token
        guard let parsed = token.withUTF8(Self.parse) else { return nil }
        self = parsed
    }

    /// The same over the token's UTF-8 bytes, which the authentication path reads in place: nothing is
    /// copied until the shape and the checksum hold.
    package static func parse(_ utf8: UnsafeBufferPointer<UInt8>) -> APIKeyToken? {
        guard utf8.count >= keyIDLength + 2 + checksumLength, utf8.count <= 256,
              utf8[keyIDLength] == UInt8(ascii: ":"),
              utf8[..<keyIDLength].allSatisfy({ $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") })
        else { return nil }
        let secret = UnsafeBufferPointer(rebasing: utf8[(keyIDLength + 1)...])
        let checksumStart = utf8.count - checksumLength
        guard secret.count > checksumLength,
              secret.allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
              let presented = Base62.decode(utf8[checksumStart...]),
              presented == CRC32.checksum(utf8[..<checksumStart])
        else { return nil }
        return APIKeyToken(
            keyID: String(decoding: UnsafeBufferPointer(rebasing: utf8[..<keyIDLength]), as: UTF8.self),
            secret: String(decoding: secret, as: UTF8.self)
        )
    }
}
