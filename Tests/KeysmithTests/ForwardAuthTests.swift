import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// `/v1/auth/verify`, the target of gateways' forward authentication (nginx `auth_request`, Traefik
/// `forwardAuth`, Caddy `forward_auth`, Envoy `ext_authz`), through the real application.
@Suite struct ForwardAuthTests {
    static func header(_ name: String) -> HTTPField.Name { HTTPField.Name(name)! }

    @Test(arguments: Backend.available)
    func aGoodKeyGets200WithItsIdentityInHeadersAndTheWhoamiBody(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "gateway", "scope": "read-write", "service_account_id": "svc-gw"}"#)
            let id = try #require(created["id"].string)
            for method in [HTTPRequest.Method.get, .post] {
                let (status, json, response) = try await client.call(method, "/v1/auth/verify", token: token)
                #expect(status == .ok, "\(method)")
                #expect(response.headers[Self.header("X-Keysmith-Key-Id")] == id)
                #expect(response.headers[Self.header("X-Keysmith-Workspace-Id")] == ws.workspace.id)
                #expect(response.headers[Self.header("X-Keysmith-Scope")] == "read-write")
                #expect(response.headers[Self.header("X-Keysmith-Service-Account-Id")] == "svc-gw")
                #expect(response.headers[Self.header("X-Keysmith-Permissions")] == "*", "inherited from the admin key")
                #expect(response.headers[Self.header("RateLimit-Limit")] == nil, "the key has no limit")
                // The same body as whoami.
                let (_, whoami, _) = try await client.call(.get, "/v1/auth/whoami", token: token)
                #expect(json.keys == ["key", "workspace"])
                #expect(json["key"].keys == whoami["key"].keys)
                #expect(json["key"]["id"].string == id && json["workspace"]["id"].string == ws.workspace.id)
            }
            // A key without a service account has no such header; HEAD answers with the headers alone.
            try await client.execute(uri: "/v1/auth/verify", method: .head, headers: ws.bearer) { response in
                #expect(response.status == .ok)
                #expect(response.headers[Self.header("X-Keysmith-Key-Id")] == ws.adminKeyID)
                #expect(response.headers[Self.header("X-Keysmith-Service-Account-Id")] == nil)
                #expect(response.body.readableBytes == 0)
            }
        }
    }

    @Test(arguments: Backend.available)
    func everyBadCredentialGetsTheSeedsExact401AlsoInTheErrorHeader(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (revoked, revokedToken) = try await client.createKey(ws.adminToken, #"{"name": "revoked"}"#)
            _ = try await client.call(.delete, "/v1/api-keys/\(try #require(revoked["id"].string))", token: ws.adminToken)
            let keyID = ws.adminToken.split(separator: ":")[0]
            for header in [nil, "Bearer", "Basic \(ws.adminToken)", "Bearer \(keyID):\(APIKeyToken.generate(prefix: "ks_").secret)",
                           "Bearer \(APIKeyToken.generate(prefix: "ks_").bearer)", "Bearer \(revokedToken)"] {
                let fields: HTTPFields = header.map { [.authorization: $0] } ?? [:]
                for method in [HTTPRequest.Method.get, .post] {
                    try await client.execute(uri: "/v1/auth/verify", method: method, headers: fields) { response in
                        #expect(response.status == .unauthorized)
                        #expect(String(buffer: response.body) == unauthorizedBody)
                        #expect(response.headers[.wwwAuthenticate] == "Bearer")
                        #expect(response.headers[Self.header("X-Keysmith-Error")] == unauthorizedBody)
                        #expect(response.headers[Self.header("X-Keysmith-Key-Id")] == nil)
                    }
                }
            }
        }
    }

    @Test(arguments: Backend.available)
    func aReadKeyMayOnlyMakeSafeRequests(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (_, reader) = try await client.createKey(ws.adminToken, #"{"name": "reader", "scope": "read"}"#)
            let cases: [(HTTPFields, HTTPResponse.Status)] = [
                ([:], .ok),  // no original request named: GET /
                ([Self.header("X-Original-Method"): "GET", Self.header("X-Original-URI"): "/v1/agents2"], .ok),
                ([Self.header("X-Original-Method"): "HEAD"], .ok),
                ([Self.header("X-Forwarded-Method"): "OPTIONS", Self.header("X-Forwarded-Uri"): "/v1/calls"], .ok),
                ([Self.header("X-Original-Method"): "POST", Self.header("X-Original-URI"): "/v1/calls"], .forbidden),
                ([Self.header("X-Forwarded-Method"): "DELETE"], .forbidden),
                ([Self.header("X-Original-Method"): "PATCH"], .forbidden),
            ]
            for (headers, expected) in cases {
                for method in [HTTPRequest.Method.get, .post] {
                    let (status, json, response) = try await client.call(method, "/v1/auth/verify", token: reader, headers: headers)
                    #expect(status == expected, "\(headers)")
                    if expected == .forbidden {
                        expectErrorShape(json, status: .forbidden)
                        #expect(json["message"].string?.contains("scope 'read'") == true)
                        #expect(response.headers[Self.header("X-Keysmith-Error")] == String(buffer: response.body))
                    }
                }
            }
            // A read-write key may do all of them.
            let (_, writer) = try await client.createKey(ws.adminToken, #"{"name": "writer", "scope": "read-write"}"#)
            let (status, _, _) = try await client.call(.get, "/v1/auth/verify", token: writer, headers: [Self.header("X-Original-Method"): "DELETE"])
            #expect(status == .ok)
            // A malformed method is the gateway's mistake: 400.
            let (bad, badJSON, _) = try await client.call(.get, "/v1/auth/verify", token: reader, headers: [Self.header("X-Original-Method"): "G E T"])
            #expect(bad == .badRequest)
            expectErrorShape(badJSON, status: .badRequest)
            // A client's own method header beside the gateway's: refused when they disagree, whichever is forged.
            for forged: HTTPFields in [
                [Self.header("X-Forwarded-Method"): "POST", Self.header("X-Original-Method"): "GET"],  // Traefik, Caddy
                [Self.header("X-Original-Method"): "DELETE", Self.header("X-Forwarded-Method"): "GET"],  // nginx
            ] {
                let (status, json, _) = try await client.call(.get, "/v1/auth/verify", token: reader, headers: forged)
                #expect(status == .forbidden, "\(forged)")
                expectErrorShape(json, status: .forbidden)
                #expect(json["message"].string?.contains("different methods") == true)
            }
            let agreeing: HTTPFields = [Self.header("X-Forwarded-Method"): "GET", Self.header("X-Original-Method"): "GET"]
            #expect(try await client.call(.get, "/v1/auth/verify", token: reader, headers: agreeing).0 == .ok)
        }
    }

    /// Envoy's HTTP ext_authz sends the client's method to `path_prefix` + the client's path.
    @Test func envoyStyleChecksTakeTheOriginalMethodFromTheRequest() async throws {
        try await withApp(.sqlite) { client, ws in
            let (_, reader) = try await client.createKey(ws.adminToken, #"{"name": "reader", "scope": "read"}"#)
            for (method, expected) in [(HTTPRequest.Method.get, HTTPResponse.Status.ok), (.options, .ok), (.post, .forbidden), (.delete, .forbidden), (.put, .forbidden)] {
                let (status, _, response) = try await client.call(method, "/v1/auth/verify/v1/calls/123", token: reader)
                #expect(status == expected, "\(method)")
                if expected == .ok { #expect(response.headers[Self.header("X-Keysmith-Scope")] == "read") }
            }
            let (status, _, _) = try await client.call(.delete, "/v1/auth/verify/v1/calls/123", token: ws.adminToken)
            #expect(status == .ok)
            let (unknown, body, _) = try await client.call(.get, "/v1/auth/verify/anything", token: nil)
            #expect(unknown == .unauthorized && body["message"].string == "Unauthorized")
        }
    }

    /// Needs the store to persist `permissions` (the key is read back from the database on verify).
    @Test(arguments: Backend.available)
    func aGatewayMayRequirePermissionsPerRoute(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "calls", "permissions": ["calls.*", "agents.read"]}"#)
            #expect(created["permissions"].array.compactMap(\.string) == ["calls.*", "agents.read"])
            let require = Self.header("X-Keysmith-Require-Permission")
            let cases: [(String, HTTPResponse.Status)] = [
                ("calls.write", .ok), ("calls.write, agents.read", .ok), ("calls.*", .ok), ("agents.read", .ok),
                ("agents.write", .forbidden), ("calls.write,agents.write", .forbidden), ("*", .forbidden), ("billing.read", .forbidden),
            ]
            for (required, expected) in cases {
                let (status, json, response) = try await client.call(.get, "/v1/auth/verify", token: token, headers: [require: required])
                #expect(status == expected, "\(required)")
                if status == .ok {
                    #expect(response.headers[Self.header("X-Keysmith-Permissions")] == "calls.*,agents.read")
                } else {
                    expectErrorShape(json, status: .forbidden)
                    #expect(json["message"].string?.contains("permission") == true)
                }
            }
            // Two headers: both are required.
            var both = HTTPFields()
            both.append(HTTPField(name: require, value: "calls.read"))
            both.append(HTTPField(name: require, value: "agents.write"))
            let (status, _, _) = try await client.call(.get, "/v1/auth/verify", token: token, headers: both)
            #expect(status == .forbidden)
            let (bad, _, _) = try await client.call(.get, "/v1/auth/verify", token: token, headers: [require: "Calls.Write"])
            #expect(bad == .badRequest)
        }
    }

    /// The rate limiter's answer in the gateway's shape: `RateLimit-*` on every answer, then 429 with
    /// `Retry-After`, the exact body, and the body again in `X-Keysmith-Error` for nginx.
    @Test func aKeyPastItsRateLimitGets429WithRetryAfter() async throws {
        try await withApp(.sqlite) { client, ws in
            let (_, token) = try await client.createKey(ws.adminToken, #"{"name": "limited", "rate_limit": {"limit": 2, "window_seconds": 60}}"#)
            for remaining in ["1", "0"] {
                let (status, _, response) = try await client.call(.get, "/v1/auth/verify", token: token)
                #expect(status == .ok)
                #expect(response.headers[Self.header("RateLimit-Limit")] == "2")
                #expect(response.headers[Self.header("RateLimit-Remaining")] == remaining)
                #expect(Int(response.headers[Self.header("RateLimit-Reset")] ?? "") != nil)
            }
            let (status, _, response) = try await client.call(.get, "/v1/auth/verify", token: token)
            let body = #"{"statusCode":429,"message":"Too Many Requests","error":"Too Many Requests"}"#
            #expect(status == .tooManyRequests)
            #expect(String(buffer: response.body) == body)
            #expect(response.headers[Self.header("X-Keysmith-Error")] == body)
            #expect((Int(response.headers[.retryAfter] ?? "") ?? 0) >= 1)
            #expect(response.headers[Self.header("RateLimit-Remaining")] == "0")
            #expect(response.headers[Self.header("X-Keysmith-Key-Id")] == nil)
        }
    }

    /// Needs the store to persist `allowed_ips`. The client address comes from `X-Forwarded-For` or
    /// `X-Real-IP` only when the peer is a `--trusted-proxy`.
    @Test func aKeyUsedFromOutsideItsAllowedAddressesIs403OnVerifyAndEveryRoute() async throws {
        let forwardedFor = Self.header("X-Forwarded-For"), realIP = Self.header("X-Real-IP")
        try await withApp(.sqlite, framework: .live, configure: { $0.trustedProxies = TrustedProxies([IPRange("127.0.0.0/8")!]) }) { client, ws in
            let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "office", "scope": "read", "allowed_ips": ["203.0.113.0/24", "2001:db8::/32"]}"#)
            #expect(created["allowed_ips"].array.compactMap(\.string) == ["203.0.113.0/24", "2001:db8::/32"])
            let cases: [(HTTPFields, HTTPResponse.Status)] = [
                ([forwardedFor: "203.0.113.9"], .ok),
                ([forwardedFor: "198.51.100.1, 203.0.113.9"], .ok),  // the right-most untrusted entry is the client
                ([forwardedFor: "2001:db8::7"], .ok),
                ([realIP: "203.0.113.200"], .ok),
                ([forwardedFor: "198.51.100.1"], .forbidden),
                ([realIP: "198.51.100.1"], .forbidden),
                ([forwardedFor: "203.0.113.9, 198.51.100.1"], .forbidden),
                ([:], .forbidden),  // the proxy itself, 127.0.0.1
            ]
            for (headers, expected) in cases {
                for uri in ["/v1/auth/verify", "/v1/auth/whoami"] {
                    let (status, json, _) = try await client.call(.get, uri, token: token, headers: headers)
                    #expect(status == expected, "\(uri) \(headers)")
                    if expected == .forbidden {
                        expectErrorShape(json, status: .forbidden)
                        #expect(json["message"].string?.contains("allowed_ips") == true)
                    }
                }
            }
            // A bad key is still the 401, wherever it comes from.
            let (status, json, _) = try await client.call(.get, "/v1/auth/verify", token: APIKeyToken.generate(prefix: "ks_").bearer, headers: [forwardedFor: "198.51.100.1"])
            #expect(status == .unauthorized && json["message"].string == "Unauthorized")
        }
        // Without a trusted proxy the headers are the client's own word, and are ignored.
        try await withApp(.sqlite, framework: .live) { client, ws in
            let (_, token) = try await client.createKey(ws.adminToken, #"{"name": "office", "allowed_ips": ["203.0.113.0/24"]}"#)
            let (status, _, _) = try await client.call(.get, "/v1/auth/verify", token: token, headers: [forwardedFor: "203.0.113.9", realIP: "203.0.113.9"])
            #expect(status == .forbidden)
        }
    }
}
