import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Verifies incoming webhook deliveries signed by ``WebhookSigner``.
///
/// All signature comparisons are constant-time over the full 32-byte MAC. A
/// presented signature is decoded (hex or base64) before comparing, and one
/// that does not decode to exactly 32 bytes is rejected as
/// ``WebhookVerificationError/invalidSignature``.
///
/// ```swift
/// let verifier = WebhookVerifier(secret: secret)
/// try verifier.verify(body: bodyBytes, headers: headers)  // throws on failure
/// ```
public struct WebhookVerifier: Sendable {
    let keys: WebhookKeys
    let tolerance: Duration
    let acceptsBareDialNexaSignature: Bool

    /// Creates a verifier for one endpoint's secret.
    ///
    /// - Parameters:
    ///   - secret: The endpoint's webhook secret (the same string given to
    ///     ``WebhookSigner/init(secret:)``).
    ///   - tolerance: How far `webhook-timestamp` may be from the current time,
    ///     in either direction, before the delivery is rejected. Defaults to
    ///     five minutes.
    ///   - acceptsBareDialNexaSignature: Whether ``verify(body:headers:now:)``
    ///     accepts a delivery that carries only `X-DialNexa-Signature`. That
    ///     signature has no timestamp, so a captured delivery can be **replayed
    ///     forever**; leave this `false` (the default) unless a sender cannot
    ///     send the Standard Webhooks headers.
    public init(secret: String, tolerance: Duration = .seconds(300), acceptsBareDialNexaSignature: Bool = false) {
        self.keys = WebhookKeys(secret: secret)
        self.tolerance = tolerance
        self.acceptsBareDialNexaSignature = acceptsBareDialNexaSignature
    }

    /// Verifies an `X-DialNexa-Signature` header.
    ///
    /// This signature carries no timestamp, so it does not protect against
    /// replays; prefer ``verifyStandard(body:id:timestamp:signatures:now:)``
    /// when the Standard Webhooks headers are available.
    ///
    /// - Parameters:
    ///   - body: The exact request body bytes as received.
    ///   - signature: The header value: hex HMAC-SHA256 of the body (either case
    ///     is accepted).
    /// - Throws: ``WebhookVerificationError/missingHeader(_:)`` if `signature`
    ///   is empty, ``WebhookVerificationError/invalidSignature`` if it is not
    ///   64 hex digits or does not match.
    public func verifyDialNexa(body: some Sequence<UInt8>, signature: String) throws(WebhookVerificationError) {
        guard !signature.isEmpty else { throw .missingHeader(WebhookHeaderName.dialNexaSignature) }
        guard let presented = Hex.decode(signature), presented.count == SHA256.byteCount else {
            throw .invalidSignature
        }
        let expected = keys.dialNexaMAC(body: body)
        // `MessageAuthenticationCode == DataProtocol` is swift-crypto's
        // constant-time comparison.
        guard expected == presented else { throw .invalidSignature }
    }

    /// Verifies the Standard Webhooks headers.
    ///
    /// The timestamp is checked first, then each `v1,` entry of `signatures`;
    /// any one matching entry is enough (several are sent while a secret is
    /// being rotated). Entries with another version prefix are ignored.
    ///
    /// - Parameters:
    ///   - body: The exact request body bytes as received.
    ///   - id: The `webhook-id` header value.
    ///   - timestamp: The `webhook-timestamp` header value, decimal Unix seconds.
    ///   - signatures: The `webhook-signature` header value: space-separated
    ///     `v1,<base64>` entries.
    ///   - now: The current time; override in tests.
    /// - Throws: ``WebhookVerificationError/missingHeader(_:)`` if `id`,
    ///   `timestamp` or `signatures` is empty;
    ///   ``WebhookVerificationError/invalidTimestamp`` if `timestamp` is not
    ///   ASCII digits; ``WebhookVerificationError/timestampTooOld`` or
    ///   ``WebhookVerificationError/timestampTooNew`` if it is outside the
    ///   tolerance; ``WebhookVerificationError/invalidSignature`` if no `v1`
    ///   entry matches.
    public func verifyStandard(
        body: some Sequence<UInt8>,
        id: String,
        timestamp: String,
        signatures: String,
        now: Date = Date()
    ) throws(WebhookVerificationError) {
        guard !id.isEmpty else { throw .missingHeader(WebhookHeaderName.id) }
        guard !timestamp.isEmpty else { throw .missingHeader(WebhookHeaderName.timestamp) }
        guard !signatures.isEmpty else { throw .missingHeader(WebhookHeaderName.signature) }

        let seconds = try Self.parseTimestamp(timestamp)
        try checkTolerance(seconds, now: now)

        let expected = keys.standardMAC(id: id, timestamp: seconds, body: body)
        var matched = false
        for entry in signatures.split(separator: " ", omittingEmptySubsequences: true) {
            guard entry.hasPrefix("v1,"),
                  let presented = Data(base64Encoded: String(entry.dropFirst(3))),
                  presented.count == SHA256.byteCount
            else { continue }
            // Constant-time (swift-crypto); keep checking the remaining
            // entries either way.
            if expected == presented { matched = true }
        }
        guard matched else { throw .invalidSignature }
    }

    /// Verifies a delivery from its headers.
    ///
    /// Header names are matched case-insensitively. The Standard Webhooks
    /// headers `webhook-id`, `webhook-timestamp` and `webhook-signature` are
    /// required: their timestamp is the replay protection. Only a verifier
    /// made with `acceptsBareDialNexaSignature: true` accepts, when none of the
    /// three is present, `X-DialNexa-Signature` alone (replayable).
    ///
    /// - Parameters:
    ///   - body: The exact request body bytes as received.
    ///   - headers: The request headers. If a header arrived more than once,
    ///     join the `webhook-signature` values with a space.
    ///   - now: The current time; override in tests.
    /// - Throws: ``WebhookVerificationError`` describing the first failed check.
    public func verify(
        body: some Sequence<UInt8>,
        headers: [String: String],
        now: Date = Date()
    ) throws(WebhookVerificationError) {
        let id = Self.header(WebhookHeaderName.id, in: headers)
        let timestamp = Self.header(WebhookHeaderName.timestamp, in: headers)
        let signatures = Self.header(WebhookHeaderName.signature, in: headers)
        if id != nil || timestamp != nil || signatures != nil || !acceptsBareDialNexaSignature {
            try verifyStandard(
                body: body,
                id: id ?? "",
                timestamp: timestamp ?? "",
                signatures: signatures ?? "",
                now: now
            )
        } else {
            guard let signature = Self.header(WebhookHeaderName.dialNexaSignature, in: headers) else {
                throw .missingHeader(WebhookHeaderName.dialNexaSignature)
            }
            try verifyDialNexa(body: body, signature: signature)
        }
    }

    // MARK: - Internals

    /// Parses a strictly decimal, non-negative Unix timestamp.
    static func parseTimestamp(_ string: String) throws(WebhookVerificationError) -> Int64 {
        guard string.utf8.allSatisfy({ UInt8(ascii: "0")...UInt8(ascii: "9") ~= $0 }),
              let seconds = Int64(string)
        else { throw .invalidTimestamp }
        return seconds
    }

    /// Rejects timestamps more than ``tolerance`` before or after `now`.
    func checkTolerance(_ seconds: Int64, now: Date) throws(WebhookVerificationError) {
        let components = tolerance.components
        let allowed = max(0, Double(components.seconds) + Double(components.attoseconds) * 1e-18)
        let age = now.timeIntervalSince1970 - Double(seconds)
        if age > allowed { throw .timestampTooOld }
        if age < -allowed { throw .timestampTooNew }
    }

    /// Case-insensitive header lookup. Prefers the exact or lowercase spelling,
    /// then the lexicographically first other spelling, so the result is
    /// deterministic even if a dictionary holds several spellings.
    static func header(_ name: String, in headers: [String: String]) -> String? {
        if let value = headers[name] { return value }
        let lowercased = name.lowercased()
        if let value = headers[lowercased] { return value }
        return headers
            .filter { $0.key.lowercased() == lowercased }
            .min { $0.key < $1.key }?
            .value
    }
}
