import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// Rules that keep a workspace's keys from outliving or locking out their makers.
@Suite struct KeyLifetimeTests {
    @Test(arguments: Backend.available)
    func aKeyCannotCreateAKeyThatOutlivesIt(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let expiry = Timestamp.now().adding(milliseconds: 3_600_000)
            let (_, shortLived) = try await client.createKey(ws.adminToken, #"{"name": "short", "expires_at": "\#(expiry)"}"#)

            // No expiry asked for: the new key gets its creator's.
            let (inherited, _) = try await client.createKey(shortLived, #"{"name": "child"}"#)
            #expect(inherited["expires_at"].string == expiry.description)

            // A later one is refused; an earlier one is fine.
            let later = expiry.adding(milliseconds: 60_000)
            let (refused, json, _) = try await client.call(.post, "/v1/api-keys", token: shortLived, body: #"{"name": "x", "expires_at": "\#(later)"}"#)
            #expect(refused == .badRequest)
            expectErrorShape(json, status: .badRequest)
            let earlier = expiry.adding(milliseconds: -60_000)
            let (accepted, _) = try await client.createKey(shortLived, #"{"name": "sooner", "expires_at": "\#(earlier)"}"#)
            #expect(accepted["expires_at"].string == earlier.description)

            // A key that never expires may create keys that never expire.
            let (forever, _) = try await client.createKey(ws.adminToken, #"{"name": "forever"}"#)
            #expect(forever["expires_at"].isNull)
        }
    }

    @Test(arguments: Backend.available)
    func theLastActiveAdminKeyIsNotRevokedWithoutForce(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (status, json, _) = try await client.call(.delete, "/v1/api-keys/\(ws.adminKeyID)", token: ws.adminToken)
            #expect(status == .conflict)
            expectErrorShape(json, status: .conflict)
            #expect(json["error"].string == "Conflict")
            let (still, _, _) = try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken)
            #expect(still == .ok, "the refused revocation changed nothing")

            // A read key does not count as an admin; a second admin key does.
            _ = try await client.createKey(ws.adminToken, #"{"name": "reader", "scope": "read"}"#)
            let (blocked, _, _) = try await client.call(.delete, "/v1/api-keys/\(ws.adminKeyID)", token: ws.adminToken)
            #expect(blocked == .conflict)
            let (second, secondToken) = try await client.createKey(ws.adminToken, #"{"name": "second admin"}"#)
            let (revoked, _, _) = try await client.call(.delete, "/v1/api-keys/\(ws.adminKeyID)", token: ws.adminToken)
            #expect(revoked == .ok)

            // Now the second is the last; force revokes it anyway.
            let secondID = try #require(second["id"].string)
            let (last, _, _) = try await client.call(.delete, "/v1/api-keys/\(secondID)", token: secondToken)
            #expect(last == .conflict)
            let (forced, body, _) = try await client.call(.delete, "/v1/api-keys/\(secondID)?force=true", token: secondToken)
            #expect(forced == .ok && body["revoked_at"].string != nil)
        }
    }

    @Test(arguments: Backend.available)
    func twoConcurrentRevocationsLeaveOneAdminKey(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (second, secondToken) = try await client.createKey(ws.adminToken, #"{"name": "second admin"}"#)
            let secondID = try #require(second["id"].string)
            _ = try await client.call(.get, "/v1/auth/whoami", token: secondToken)
            // Each key revokes the other: whichever commits second finds itself revoking the last admin.
            async let a = client.call(.delete, "/v1/api-keys/\(secondID)", token: ws.adminToken)
            async let b = client.call(.delete, "/v1/api-keys/\(ws.adminKeyID)", token: secondToken)
            let statuses = try await [a.status, b.status]
            #expect(statuses.filter { $0 == .ok }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0 == .conflict }.count == 1, "\(statuses)")
        }
    }
}
