/// Makes a wrong encryption key a start-up error instead of silently failing deliveries: the database
/// keeps a value sealed under the key it was first used with, and every start-up opens it.
enum WebhookKeyCheck {
    static func verify(_ secrets: SecretBox, store: any KeyStore) async throws {
        // A database from before the key check: an existing sealed secret is the test.
        if let existing = try await store.anySealedWebhookSecret(),
           (try? secrets.open(existing.sealed, webhookID: existing.webhookID)) == nil {
            throw mismatch
        }
        let stored = try await store.webhookKeyCheck(storingIfAbsent: try secrets.makeKeyCheck())
        guard secrets.matches(keyCheck: stored) else { throw mismatch }
    }

    static let mismatch = StoreConfigurationError(
        "the webhook encryption key is not the one this database's webhook secrets were sealed with; give the original key (KEYSMITH_ENCRYPTION_KEY or --encryption-key-file)"
    )
}
