extension KeyIssuer {
    /// The longest grace an old key may keep after a roll: 7 days.
    public static let maximumRollGrace = 7 * 86_400

    /// Rolls a key: a new key with the old one's name, description, scope, permissions, rate limit, IP
    /// rules, metadata, service account and `enabled` (and a new secret), and the old one expiring after
    /// the grace (at once with 0), in one transaction. The new key expires no later than the old one nor
    /// than `authority`'s key (the caller), and `authority` must cover the old key (`KeyAuthority.Refusal`).
    /// `nil` when the key does not exist in the workspace or is revoked; throws `KeyStoreError.expiredKey`
    /// for an expired one.
    public func roll(id: String, workspaceID: String, graceSeconds: Int, createdBy: String, authority: KeyAuthority?,
                     audit: AuditContext?) async throws -> (old: APIKey, new: APIKey, token: APIKeyToken)? {
        while true {
            let now = clock()
            let token = APIKeyToken.generate(prefix: secretPrefix)
            let keyPrefix = token.keyPrefix(secretPrefix: secretPrefix)
            do {
                guard let (old, new) = try await store.rollKey(
                    id: id, workspaceID: workspaceID, at: now, graceSeconds: graceSeconds, authority: authority, audit: audit,
                    successor: { old in
                        var key = old
                        key.id = token.keyID
                        key.secretHash = SecretHash(secret: token.secret)
                        key.createdAt = now
                        key.createdBy = createdBy
                        key.expiresAt = KeyAuthority.earliest(old.expiresAt, authority?.expiresAt)
                        key.lastUsed = nil
                        key.revokedAt = nil
                        key.keyPrefix = keyPrefix
                        key.rolledFrom = old.id
                        return key
                    }
                ) else { return nil }
                return (old, new, token)
            } catch KeyStoreError.duplicateKeyID {
                continue  // as in `issue`: a new id is the whole answer to a collision
            }
        }
    }
}
