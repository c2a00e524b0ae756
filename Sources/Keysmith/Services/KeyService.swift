/// The one path of every key change: issue, update (labels, rules, enable, disable), roll and revoke. Each
/// is one store transaction that writes the change, its audit entry and its event together; then this
/// process's cache forgets the keys and the deliverer is told, so the event goes out at once rather than
/// at its next poll. Controllers call this, never the store, for a change.
struct KeyService: Sendable {
    let issuer: KeyIssuer
    let cache: KeyCache
    let deliverer: WebhookDeliverer

    var store: any KeyStore { issuer.store }
    /// The application's clock.
    var clock: @Sendable () -> Timestamp { issuer.clock }

    /// New keys, all or none, with their secrets (shown once).
    func issue(_ requests: [KeyIssuer.Request], audit: AuditContext?) async throws -> [(key: APIKey, token: APIKeyToken)] {
        let issued = try await issuer.issue(requests, audit: audit)
        changed(issued.map(\.key.id))  // this process may remember an id as unknown
        return issued
    }

    /// Changes a key's labels and rules; `nil` when it does not exist in the workspace or is revoked.
    func update(id: String, workspaceID: String, change: KeyLabelChange, authority: KeyAuthority?, audit: AuditContext?) async throws -> APIKey? {
        let key = try await store.relabelKey(id: id, workspaceID: workspaceID, change: change, authority: authority, audit: audit)
        if key != nil { changed([id]) }
        return key
    }

    /// Replaces a key by a successor with a new secret; see `KeyIssuer.roll`.
    func roll(id: String, workspaceID: String, graceSeconds: Int, createdBy: String, authority: KeyAuthority?,
              audit: AuditContext?) async throws -> (old: APIKey, new: APIKey, token: APIKeyToken)? {
        let rolled = try await issuer.roll(id: id, workspaceID: workspaceID, graceSeconds: graceSeconds, createdBy: createdBy,
                                           authority: authority, audit: audit)
        if let rolled { changed([rolled.old.id, rolled.new.id]) }
        return rolled
    }

    /// Revokes a key; `nil` when it does not exist in the workspace or is revoked already.
    func revoke(id: String, workspaceID: String, at now: Timestamp, allowingLastAdmin: Bool, authority: KeyAuthority?,
                audit: AuditContext?) async throws -> APIKey? {
        let key = try await store.revokeKey(id: id, workspaceID: workspaceID, at: now, allowingLastAdmin: allowingLastAdmin,
                                            authority: authority, audit: audit)
        if key != nil { changed([id]) }
        return key
    }

    private func changed(_ ids: [String]) {
        cache.invalidate(ids)
        deliverer.poke()
    }
}
