import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Signs outgoing webhook deliveries.
///
/// Every delivery carries two independent signatures over the same body:
///
/// - `X-DialNexa-Signature`: lowercase hex HMAC-SHA256 of the exact body bytes,
///   keyed with the UTF-8 bytes of the secret string. Identical to Python's
///   `hmac.new(secret.encode(), payload_body, hashlib.sha256).hexdigest()`.
/// - [Standard Webhooks](https://www.standardwebhooks.com) headers
///   `webhook-id`, `webhook-timestamp` and `webhook-signature`, where the
///   signature is `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`. The
///   key is the base64-decoded part after `whsec_` when the secret has that
///   prefix, and the secret's UTF-8 bytes otherwise.
///
/// ``WebhookVerifier`` checks these with the same code.
///
/// ```swift
/// let signer = WebhookSigner(secret: endpoint.secret)
/// for (name, value) in signer.headers(id: event.id, timestamp: now, body: body) {
///     request.headers.add(name: name, value: value)
/// }
/// ```
public struct WebhookSigner: Sendable {
    let keys: WebhookKeys
    let previousKeys: [WebhookKeys]

    /// Creates a signer for one endpoint's secret.
    ///
    /// - Parameter secret: The endpoint's webhook secret, typically from
    ///   ``generateSecret()``. A secret that starts with `whsec_` but whose
    ///   remainder is not valid base64 is used as raw UTF-8 bytes for the
    ///   Standard Webhooks signature, too.
    public init(secret: String) {
        self.init(secret: secret, previousSecrets: [])
    }

    /// Creates a signer during a secret rotation: `webhook-signature` carries a `v1,` entry for `secret`
    /// followed by one for each of `previousSecrets`, so receivers holding either secret accept the delivery.
    /// `X-DialNexa-Signature` uses `secret` only.
    public init(secret: String, previousSecrets: [String]) {
        self.keys = WebhookKeys(secret: secret)
        self.previousKeys = previousSecrets.map(WebhookKeys.init(secret:))
    }

    /// Makes a new random webhook secret: `whsec_` followed by the base64 of
    /// 32 random bytes from a cryptographically secure generator.
    public static func generateSecret() -> String {
        let key = SymmetricKey(size: .bits256)
        return WebhookKeys.standardSecretPrefix + key.withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// The `X-DialNexa-Signature` value for `body`: the lowercase hex
    /// HMAC-SHA256 of the body bytes keyed with the secret's UTF-8 bytes.
    ///
    /// - Parameter body: The exact bytes that will be sent as the request body.
    /// - Returns: 64 lowercase hex characters.
    public func dialNexaSignature(body: some Sequence<UInt8>) -> String {
        Hex.encode(keys.dialNexaMAC(body: body))
    }

    /// The Standard Webhooks `webhook-signature` value for one delivery.
    ///
    /// - Parameters:
    ///   - id: The `webhook-id` header value (the event id, e.g. `evt_…`).
    ///   - timestamp: The `webhook-timestamp` header value, in Unix seconds.
    ///   - body: The exact bytes that will be sent as the request body.
    /// - Returns: `v1,` followed by the base64 HMAC-SHA256 of
    ///   `"<id>.<timestamp>.<body>"`.
    public func standardSignature(id: String, timestamp: Int64, body: some Sequence<UInt8>) -> String {
        let bytes = Array(body)
        return ([keys] + previousKeys).map { keys in
            "v1," + Data(keys.standardMAC(id: id, timestamp: timestamp, body: bytes)).base64EncodedString()
        }.joined(separator: " ")
    }

    /// All four signature headers for one delivery, in this order:
    /// `X-DialNexa-Signature`, `webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`.
    ///
    /// - Parameters:
    ///   - id: The event id, sent as `webhook-id`.
    ///   - timestamp: The send time in Unix seconds, sent as `webhook-timestamp`.
    ///   - body: The exact bytes that will be sent as the request body.
    public func headers(id: String, timestamp: Int64, body: [UInt8]) -> [(name: String, value: String)] {
        [
            (name: WebhookHeaderName.dialNexaSignature, value: dialNexaSignature(body: body)),
            (name: WebhookHeaderName.id, value: id),
            (name: WebhookHeaderName.timestamp, value: String(timestamp)),
            (name: WebhookHeaderName.signature, value: standardSignature(id: id, timestamp: timestamp, body: body)),
        ]
    }
}
