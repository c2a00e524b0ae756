import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The two HMAC keys derived from one webhook secret, and the MAC computations
/// shared by ``WebhookSigner`` and ``WebhookVerifier`` so both sides always run
/// the same code.
///
/// Keys are kept as plain bytes because `SymmetricKey` is not `Sendable`; a
/// `SymmetricKey` is built for each computation.
struct WebhookKeys: Sendable {
    /// The prefix of Standard Webhooks secrets whose remainder is base64.
    static let standardSecretPrefix = "whsec_"

    /// Key for `X-DialNexa-Signature`: always the UTF-8 bytes of the whole
    /// secret string, as in Python's `secret.encode()`.
    let dialNexaKey: [UInt8]

    /// Key for `webhook-signature`: the base64-decoded remainder of a `whsec_`
    /// secret, else the UTF-8 bytes of the secret.
    let standardKey: [UInt8]

    init(secret: String) {
        self.dialNexaKey = Array(secret.utf8)
        if secret.hasPrefix(Self.standardSecretPrefix),
           let decoded = Data(base64Encoded: String(secret.dropFirst(Self.standardSecretPrefix.count)))
        {
            self.standardKey = Array(decoded)
        } else {
            // Not a `whsec_` secret (or one whose remainder is not valid
            // base64): fall back to the raw UTF-8 bytes.
            self.standardKey = Array(secret.utf8)
        }
    }

    /// HMAC-SHA256 of `body` keyed with ``dialNexaKey``.
    func dialNexaMAC(body: some Sequence<UInt8>) -> HashedAuthenticationCode<SHA256> {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: dialNexaKey))
        hmac.update(bytes: body)
        return hmac.finalize()
    }

    /// HMAC-SHA256 of `"<id>.<timestamp>.<body>"` keyed with ``standardKey``.
    func standardMAC(id: String, timestamp: Int64, body: some Sequence<UInt8>) -> HashedAuthenticationCode<SHA256> {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: standardKey))
        hmac.update(data: Array("\(id).\(timestamp).".utf8))
        hmac.update(bytes: body)
        return hmac.finalize()
    }
}

extension HMAC {
    /// Feeds any byte sequence to the MAC, without copying when the sequence
    /// has contiguous storage (`[UInt8]`, `Data`, NIO's `ByteBufferView`, …).
    mutating func update(bytes: some Sequence<UInt8>) {
        let done: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            self.update(data: UnsafeRawBufferPointer(buffer))
        }
        if done == nil {
            self.update(data: Array(bytes))
        }
    }
}
