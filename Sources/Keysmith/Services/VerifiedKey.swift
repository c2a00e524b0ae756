/// A key as the cache holds it: one shared, immutable reference, so a lookup and every copy of a request
/// context retain one object instead of each of the key's strings. Its labels are written as JSON once,
/// when it is loaded, because `whoami` (the endpoint clients call to check a key) returns them on every
/// request.
public final class VerifiedKey: Sendable {
    public let key: APIKey
    /// `"id":...,"expires_at":...`: the members of the key object that cannot change while it is cached.
    let labelsJSON: [UInt8]

    init(_ key: APIKey) {
        self.key = key
        self.labelsJSON = JSONWriter.renderedMembers { APIKeyResource.writeLabels(of: key, to: &$0) }
    }

    /// The key object (seed 001), with this request's use as its last use.
    func writeJSON(lastUsed: KeyUsage, now: Timestamp, to json: inout JSONWriter) {
        json.object { json in
            json.raw(labelsJSON)
            APIKeyResource.writeState(of: key, lastUsed: lastUsed, now: now, to: &json)
        }
    }
}
