import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// `permissions`, `rate_limit` and `allowed_ips` on create and PATCH (seed 000: a new key inherits the
/// permissions of the caller that creates it, and can get no permission its creator lacks).
@Suite struct KeyAccessFieldsTests {
    @Test(arguments: Backend.available)
    func aNewKeyInheritsItsCreatorsPermissionsAndShowsItsAccessFields(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (plain, _) = try await client.createKey(ws.adminToken, #"{"name": "plain"}"#)
            #expect(plain["permissions"].array.compactMap(\.string) == ["*"], "the workspace's first key has *")
            #expect(plain["rate_limit"].isNull && plain["allowed_ips"].isNull)

            let (full, _) = try await client.createKey(ws.adminToken, """
                {"name": "full", "permissions": ["calls.read", "agents.*", "calls.read"], "rate_limit": {"limit": 100, "window_seconds": 60},
                 "allowed_ips": ["203.0.113.7/24", "2001:db8::1/32", "198.51.100.9"]}
                """)
            #expect(full["permissions"].array.compactMap(\.string) == ["calls.read", "agents.*"])
            #expect(full["rate_limit"]["limit"].int == 100 && full["rate_limit"]["window_seconds"].int == 60)
            #expect(full["rate_limit"].keys == ["limit", "window_seconds"])
            #expect(full["allowed_ips"].array.compactMap(\.string) == ["203.0.113.0/24", "2001:db8::/32", "198.51.100.9/32"])

            let (nulls, _) = try await client.createKey(ws.adminToken, #"{"name": "nulls", "permissions": null, "rate_limit": null, "allowed_ips": null}"#)
            #expect(nulls["permissions"].array.compactMap(\.string) == ["*"])
            #expect(nulls["rate_limit"].isNull && nulls["allowed_ips"].isNull)
        }
    }

    /// Needs the store to persist `permissions`: the limited key is read back when it authenticates.
    @Test(arguments: Backend.available)
    func aKeyCanOnlyGivePermissionsItHas(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (_, limited) = try await client.createKey(ws.adminToken, #"{"name": "calls admin", "permissions": ["calls.*"]}"#)
            let (child, _) = try await client.createKey(limited, #"{"name": "child"}"#)
            #expect(child["permissions"].array.compactMap(\.string) == ["calls.*"], "inherited")
            let (narrow, _) = try await client.createKey(limited, #"{"name": "narrow", "permissions": ["calls.read", "calls.recordings.*"]}"#)
            #expect(narrow["permissions"].array.compactMap(\.string) == ["calls.read", "calls.recordings.*"])
            for body in [#"{"name": "x", "permissions": ["*"]}"#, #"{"name": "x", "permissions": ["calls.read", "agents.read"]}"#] {
                let (status, json, _) = try await client.call(.post, "/v1/api-keys", token: limited, body: body)
                #expect(status == .forbidden, "\(body)")
                expectErrorShape(json, status: .forbidden)
            }
            let (status, json, _) = try await client.call(.post, "/v1/api-keys/batch", token: limited, body: #"{"keys": [{"name": "a"}, {"name": "b", "permissions": ["agents.read"]}]}"#)
            #expect(status == .forbidden)
            #expect(json["message"].string?.hasPrefix("keys[1]: ") == true)
            // PATCH stays within the caller's own too.
            let id = try #require(narrow["id"].string)
            let (patched, _, _) = try await client.call(.patch, "/v1/api-keys/\(id)", token: limited, body: #"{"permissions": ["agents.*"]}"#)
            #expect(patched == .forbidden)
        }
    }

    @Test(arguments: Backend.available)
    func invalidAccessFieldsAre400AndCreateNothing(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let bodies = [
                #"{"name": "x", "permissions": "calls.read"}"#,
                #"{"name": "x", "permissions": ["Calls.Read"]}"#,
                #"{"name": "x", "permissions": ["calls.*.read"]}"#,
                #"{"name": "x", "permissions": [1]}"#,
                #"{"name": "x", "rate_limit": {"limit": 0, "window_seconds": 60}}"#,
                #"{"name": "x", "rate_limit": {"limit": 10, "window_seconds": 86401}}"#,
                #"{"name": "x", "rate_limit": {"limit": 10}}"#,
                #"{"name": "x", "rate_limit": {"limit": 1.5, "window_seconds": 60}}"#,
                #"{"name": "x", "rate_limit": {"limit": "10", "window_seconds": 60}}"#,
                #"{"name": "x", "rate_limit": {"limit": 10, "window_seconds": 60, "burst": 5}}"#,
                #"{"name": "x", "rate_limit": 100}"#,
                #"{"name": "x", "allowed_ips": []}"#,
                #"{"name": "x", "allowed_ips": ["203.0.113.0/33"]}"#,
                #"{"name": "x", "allowed_ips": ["example.com"]}"#,
                #"{"name": "x", "allowed_ips": "203.0.113.0/24"}"#,
            ]
            for body in bodies {
                let (status, json, _) = try await client.call(.post, "/v1/api-keys", token: ws.adminToken, body: body)
                #expect(status == .badRequest, "\(body)")
                expectErrorShape(json, status: .badRequest)
            }
            let (status, _, _) = try await client.call(.post, "/v1/api-keys/batch", token: ws.adminToken, body: #"{"keys": [{"name": "a"}, {"name": "b", "allowed_ips": ["nope"]}]}"#)
            #expect(status == .badRequest)
            let (_, list, _) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(list["meta"]["total"].int == 1, "only the admin key")
        }
    }

    /// Needs the store to persist the fields: PATCH answers with the key as stored.
    @Test(arguments: Backend.available)
    func patchChangesAndClearsTheAccessFields(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (created, _) = try await client.createKey(ws.adminToken, #"{"name": "svc", "rate_limit": {"limit": 5, "window_seconds": 1}, "allowed_ips": ["10.0.0.0/8"]}"#)
            let uri = "/v1/api-keys/\(try #require(created["id"].string))"
            let (status, changed, _) = try await client.call(.patch, uri, token: ws.adminToken,
                body: #"{"permissions": ["calls.read"], "rate_limit": {"limit": 50, "window_seconds": 3600}, "allowed_ips": ["192.0.2.1"]}"#)
            #expect(status == .ok)
            #expect(changed["name"].string == "svc")
            #expect(changed["permissions"].array.compactMap(\.string) == ["calls.read"])
            #expect(changed["rate_limit"]["limit"].int == 50 && changed["rate_limit"]["window_seconds"].int == 3600)
            #expect(changed["allowed_ips"].array.compactMap(\.string) == ["192.0.2.1/32"])
            let (_, cleared, _) = try await client.call(.patch, uri, token: ws.adminToken, body: #"{"rate_limit": null, "allowed_ips": null}"#)
            #expect(cleared["rate_limit"].isNull && cleared["allowed_ips"].isNull)
            #expect(cleared["permissions"].array.compactMap(\.string) == ["calls.read"])
            let (_, shown, _) = try await client.call(.get, uri, token: ws.adminToken)
            #expect(shown["permissions"].array.compactMap(\.string) == ["calls.read"])
            // Refused changes change nothing.
            for body in [#"{"permissions": null}"#, #"{"rate_limit": {"limit": 0, "window_seconds": 1}}"#, #"{"allowed_ips": ["x"]}"#, #"{"name": "y", "allowed_ips": []}"#] {
                let (bad, json, _) = try await client.call(.patch, uri, token: ws.adminToken, body: body)
                #expect(bad == .badRequest, "\(body)")
                expectErrorShape(json, status: .badRequest)
            }
            let (_, after, _) = try await client.call(.get, uri, token: ws.adminToken)
            #expect(after["name"].string == "svc")
        }
    }
}
