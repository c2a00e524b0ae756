/// Canonical spellings of the headers Keysmith sends with every webhook.
enum WebhookHeaderName {
    /// Lowercase hex HMAC-SHA256 of the body, keyed with the secret's UTF-8 bytes.
    static let dialNexaSignature = "X-DialNexa-Signature"
    /// Standard Webhooks message id (the event id).
    static let id = "webhook-id"
    /// Standard Webhooks send time, Unix seconds as a decimal string.
    static let timestamp = "webhook-timestamp"
    /// Standard Webhooks space-separated list of `v1,<base64>` signatures.
    static let signature = "webhook-signature"
}
