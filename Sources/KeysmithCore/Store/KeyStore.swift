/// Where workspaces and keys live. One protocol, implemented once over SQL for both backends (`SQLKeyStore`).
///
/// Every method is one transaction. "Not found" is `nil`, never an error.
public protocol KeyStore: WebhookStore, RateLimitStore, AuditStore, UsageStore {
    /// Applies pending schema migrations; safe to call from several processes at once.
    func migrate() async throws

    func createWorkspace(_ workspace: Workspace) async throws
    func workspace(id: String) async throws -> Workspace?
    func workspace(named name: String) async throws -> Workspace?
    func workspaceCount() async throws -> Int

    /// Inserts keys, each with its `api_key.created` event (and audit entry, given `audit`), in one
    /// transaction: all or none. Throws `KeyStoreError.duplicateKeyID` when an id is taken, and
    /// `KeyStoreError.activeKeyQuota` when a workspace would hold more than `activeKeyLimit` keys that are
    /// not revoked.
    func insertKeys(_ keys: [APIKey], activeKeyLimit: Int?, audit: AuditContext?) async throws
    /// A key by id in any workspace, revoked or not: the authentication lookup.
    func key(id: String) async throws -> APIKey?
    func listKeys(_ query: KeyListQuery) async throws -> KeyPage
    /// Changes labels and rules of a key that exists in the workspace and is not revoked; `nil` otherwise.
    /// Throws `KeyStoreError.lastAdminKey` rather than disable the workspace's last usable admin key, and
    /// `KeyAuthority.Refusal` when `authority` does not cover the key as it is in the transaction.
    func relabelKey(id: String, workspaceID: String, change: KeyLabelChange, authority: KeyAuthority?, audit: AuditContext?) async throws -> APIKey?
    /// Revokes a key that exists in the workspace and is not revoked yet; `nil` otherwise. Unless
    /// `allowingLastAdmin`, throws `KeyStoreError.lastAdminKey` rather than revoke the workspace's last
    /// usable admin key, checked in the same transaction, and `KeyAuthority.Refusal` when `authority` does
    /// not cover the key.
    func revokeKey(id: String, workspaceID: String, at: Timestamp, allowingLastAdmin: Bool, authority: KeyAuthority?,
                   audit: AuditContext?) async throws -> APIKey?
    /// Replaces a usable key with `successor(old)`: inserts it, and makes the old key expire at
    /// `at + graceSeconds` unless it expires sooner (with a grace of 0 it is revoked at once), with an
    /// `api_key.rolled` event, in one transaction. `nil` when the key does not exist in the workspace or
    /// is revoked; throws `KeyStoreError.expiredKey` when it has expired, and `KeyAuthority.Refusal` when
    /// `authority` does not cover it.
    func rollKey(id: String, workspaceID: String, at: Timestamp, graceSeconds: Int, authority: KeyAuthority?, audit: AuditContext?,
                 successor: @escaping @Sendable (APIKey) -> APIKey) async throws -> (old: APIKey, new: APIKey)?

    /// Writes a batch of usages, one row per key, never moving `last_used_at` backwards.
    func recordUsage(_ usage: [String: KeyUsage]) async throws
    /// Entries of the change feed written at or after `since` (the store's own clock), and the cursor for
    /// the next call.
    func keysChanged(since: Timestamp?) async throws -> (changes: [KeyChange], cursor: Timestamp)

    /// Database operations running right now, each holding a connection (SQLite: its writer or a reader).
    var operationsInFlight: Int { get }

    /// Releases connections.
    func close() async throws
}

extension KeyStore {
    /// Inserts one key; throws `KeyStoreError.duplicateKeyID` when the id is taken.
    public func insertKey(_ key: APIKey, audit: AuditContext? = nil) async throws { try await insertKeys([key], activeKeyLimit: nil, audit: audit) }

    public func insertKeys(_ keys: [APIKey]) async throws { try await insertKeys(keys, activeKeyLimit: nil, audit: nil) }

    public func insertKeys(_ keys: [APIKey], audit: AuditContext?) async throws { try await insertKeys(keys, activeKeyLimit: nil, audit: audit) }

    public func relabelKey(id: String, workspaceID: String, change: KeyLabelChange) async throws -> APIKey? {
        try await relabelKey(id: id, workspaceID: workspaceID, change: change, authority: nil, audit: nil)
    }

    public func revokeKey(id: String, workspaceID: String, at: Timestamp, allowingLastAdmin: Bool) async throws -> APIKey? {
        try await revokeKey(id: id, workspaceID: workspaceID, at: at, allowingLastAdmin: allowingLastAdmin, authority: nil, audit: nil)
    }
}

public enum KeyStoreError: Error, Equatable {
    case duplicateKeyID
    case duplicateWorkspaceName
    case lastAdminKey
    /// Keys for a workspace that does not exist.
    case unknownWorkspace
    /// A roll of a key that has expired.
    case expiredKey
    /// A create that would take a workspace past its limit of keys that are not revoked.
    case activeKeyQuota(limit: Int)
}

/// A page request for the key list (seed 002).
public struct KeyListQuery: Sendable, Equatable {
    public var workspaceID: String
    public var page: Int
    public var limit: Int
    /// Case-insensitive partial match on the name; `%`, `_` and `\` are plain characters.
    public var search: String?
    public var includeRevoked: Bool
    /// Only keys never used or unused since this moment (and not revoked).
    public var unusedSince: Timestamp?

    public init(workspaceID: String, page: Int = 1, limit: Int = 20, search: String? = nil, includeRevoked: Bool = false, unusedSince: Timestamp? = nil) {
        self.workspaceID = workspaceID
        self.page = page
        self.limit = limit
        self.search = search
        self.includeRevoked = includeRevoked
        self.unusedSince = unusedSince
    }

    /// The search term as a `LIKE` pattern with `\` as escape character, matched against the folded name.
    package var likePattern: String? {
        guard let search, !search.isEmpty else { return nil }
        var escaped = ""
        for character in KeyListQuery.fold(search) {
            if character == "%" || character == "_" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return "%" + escaped + "%"
    }

    /// The case-folded form of a name that searches match against.
    package static func fold(_ name: String) -> String { name.lowercased() }

    package var offset: Int { (page - 1) * limit }
}

public struct KeyPage: Sendable, Equatable {
    public var keys: [APIKey]
    public var total: Int

    public init(keys: [APIKey], total: Int) {
        self.keys = keys
        self.total = total
    }
}

/// A change of a key's labels and rules; `nil` leaves a field as it is.
public struct KeyLabelChange: Sendable, Equatable {
    public var name: String?
    /// `.some(nil)` clears the description.
    public var description: String??
    public var permissions: [String]?
    /// `.some(nil)` removes the limit.
    public var rateLimit: RateLimit??
    /// `.some(nil)` allows every address again.
    public var allowedIPs: [IPRange]??
    public var enabled: Bool?
    /// `.some(nil)` clears the metadata.
    public var metadata: String??

    public init(name: String? = nil, description: String?? = nil, permissions: [String]? = nil,
                rateLimit: RateLimit?? = nil, allowedIPs: [IPRange]?? = nil, enabled: Bool? = nil, metadata: String?? = nil) {
        self.name = name
        self.description = description
        self.permissions = permissions
        self.rateLimit = rateLimit
        self.allowedIPs = allowedIPs
        self.enabled = enabled
        self.metadata = metadata
    }
}

/// One entry of the change feed: a key changed (renamed, revoked) and caches must drop it.
public struct KeyChange: Sendable, Hashable {
    /// The entry's own number, so that a poll reading it again can tell it was already applied.
    public let seq: Int64
    public let keyID: String

    public init(seq: Int64, keyID: String) {
        self.seq = seq
        self.keyID = keyID
    }
}
