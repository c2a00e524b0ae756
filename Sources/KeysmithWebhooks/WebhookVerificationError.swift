/// The reason a webhook delivery failed verification.
///
/// Thrown by ``WebhookVerifier``. Receivers should answer any of these with
/// `401 Unauthorized` and must not act on the payload.
public enum WebhookVerificationError: Error, Equatable, Sendable {
    /// A required header is absent or empty. The associated value is the
    /// header's canonical name, e.g. `"webhook-signature"` or
    /// `"X-DialNexa-Signature"`.
    case missingHeader(String)
    /// `webhook-timestamp` is not a decimal number of Unix seconds.
    case invalidTimestamp
    /// `webhook-timestamp` is further in the past than the verifier's tolerance
    /// allows (a possible replay).
    case timestampTooOld
    /// `webhook-timestamp` is further in the future than the verifier's
    /// tolerance allows.
    case timestampTooNew
    /// No presented signature matches the body, or the presented signature is
    /// malformed (bad hex or base64, wrong length).
    case invalidSignature
}
