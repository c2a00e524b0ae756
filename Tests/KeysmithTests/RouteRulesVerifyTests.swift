import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// `/v1/auth/verify` with `--route-rules`: the original method and URI, however spelled, decide which
/// permissions the key needs, through the real application.
@Suite struct RouteRulesVerifyTests {
    static func header(_ name: String) -> HTTPField.Name { HTTPField.Name(name)! }

    static let rules = """
        {"default": "allow",
         "rules": [
           {"methods": ["GET", "HEAD"], "path": "/v1/calls/**", "permissions": ["calls.read"], "case_sensitive": false},
           {"path": "/v1/calls/**", "permissions": ["calls.write"], "case_sensitive": false},
           {"path": "/v1/admin/**", "permissions": []}
         ]}
        """

    static func file(_ text: String) throws -> String {
        let path = TemporaryFile.path(suffix: ".json")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let spellings = ["/v1/calls", "/v1/calls/", "/v1//calls/1", "/v1/x/../calls/1", "/v1/%63alls/1", "/V1/CALLS/1", "/v1/calls/1?page=2"]

    @Test(arguments: Backend.available)
    func aKeyWithoutTheRulesPermissionIsRefusedWhateverTheSpelling(_ backend: Backend) async throws {
        let path = try Self.file(Self.rules)
        try await withApp(backend, configure: { $0.routeRulesFile = path }) { client, ws in
            let (_, agents) = try await client.createKey(ws.adminToken, #"{"name": "agents", "permissions": ["agents.read"]}"#)
            let (_, reader) = try await client.createKey(ws.adminToken, #"{"name": "reader", "permissions": ["calls.read"]}"#)
            for uri in Self.spellings {
                // nginx's header, then Traefik's and Caddy's.
                for name in ["X-Original-URI", "X-Forwarded-Uri"] {
                    let headers: HTTPFields = [Self.header(name): uri, Self.header("X-Forwarded-Method"): "GET"]
                    let (refused, json, response) = try await client.call(.get, "/v1/auth/verify", token: agents, headers: headers)
                    #expect(refused == .forbidden, "\(name): \(uri)")
                    expectErrorShape(json, status: .forbidden)
                    #expect(json["message"].string?.contains("'calls.read'") == true, "\(json["message"].string ?? "")")
                    #expect(response.headers[Self.header("X-Keysmith-Error")] == String(buffer: response.body))
                    #expect(try await client.call(.get, "/v1/auth/verify", token: reader, headers: headers).0 == .ok, "\(name): \(uri)")
                    #expect(try await client.call(.head, "/v1/auth/verify", token: reader, headers: headers).0 == .ok, "\(name): \(uri)")
                }
                // Envoy: the client's method and path below /v1/auth/verify.
                let envoyPath = "/v1/auth/verify" + (uri.hasPrefix("/") ? uri : "/" + uri)
                #expect(try await client.call(.get, envoyPath, token: agents).0 == .forbidden, "envoy: \(uri)")
                #expect(try await client.call(.get, envoyPath, token: reader).0 == .ok, "envoy: \(uri)")
                // The reader may not write: the second rule asks for calls.write.
                let (status, json, _) = try await client.call(.get, "/v1/auth/verify", token: reader,
                                                              headers: [Self.header("X-Original-Method"): "POST", Self.header("X-Original-URI"): uri])
                #expect(status == .forbidden, "POST \(uri)")
                #expect(json["message"].string?.contains("'calls.write'") == true)
                #expect(try await client.call(.post, envoyPath, token: reader).0 == .forbidden, "envoy POST: \(uri)")
            }
            // Routes no rule names stay open to any valid key; a suffix is part of the last segment.
            for uri in ["/v1/agents", "/v1/calls.json", "/v1/callsx/1", "/"] {
                let headers: HTTPFields = [Self.header("X-Original-URI"): uri]
                #expect(try await client.call(.get, "/v1/auth/verify", token: agents, headers: headers).0 == .ok, "\(uri)")
            }
            // No URI named: the request is GET /, which no rule names.
            #expect(try await client.call(.get, "/v1/auth/verify", token: agents).0 == .ok)
        }
    }

    @Test func theGatewaysRequiredPermissionAddsToTheRules() async throws {
        let path = try Self.file(Self.rules)
        try await withApp(.sqlite, configure: { $0.routeRulesFile = path }) { client, ws in
            let (_, reader) = try await client.createKey(ws.adminToken, #"{"name": "reader", "permissions": ["calls.read"]}"#)
            let (_, both) = try await client.createKey(ws.adminToken, #"{"name": "both", "permissions": ["calls.read", "audit.read"]}"#)
            let headers: HTTPFields = [Self.header("X-Original-URI"): "/v1/calls/1", Self.header("X-Keysmith-Require-Permission"): "audit.read"]
            let (status, json, _) = try await client.call(.get, "/v1/auth/verify", token: reader, headers: headers)
            #expect(status == .forbidden)
            #expect(json["message"].string?.contains("'audit.read'") == true)
            #expect(try await client.call(.get, "/v1/auth/verify", token: both, headers: headers).0 == .ok)
            // A rule with no permissions asks for none, and the header still applies.
            let admin: HTTPFields = [Self.header("X-Original-URI"): "/v1/admin/x", Self.header("X-Keysmith-Require-Permission"): "audit.read"]
            #expect(try await client.call(.get, "/v1/auth/verify", token: reader, headers: admin).0 == .forbidden)
            #expect(try await client.call(.get, "/v1/auth/verify", token: both, headers: admin).0 == .ok)
            // nginx's and Traefik's URI headers must agree, as the method headers must.
            let forged: HTTPFields = [Self.header("X-Original-URI"): "/v1/agents", Self.header("X-Forwarded-Uri"): "/v1/calls/1"]
            let (disagree, body, _) = try await client.call(.get, "/v1/auth/verify", token: reader, headers: forged)
            #expect(disagree == .forbidden)
            #expect(body["message"].string?.contains("different paths") == true)
            let agreeing: HTTPFields = [Self.header("X-Original-URI"): "/v1//calls/1", Self.header("X-Forwarded-Uri"): "/v1/calls/1"]
            #expect(try await client.call(.get, "/v1/auth/verify", token: reader, headers: agreeing).0 == .ok)
        }
    }

    @Test func aDenyDefaultRefusesUnnamedRoutesToEveryKey() async throws {
        let path = try Self.file(#"{"default": "deny", "rules": [{"path": "/v1/agents/**", "permissions": []}]}"#)
        try await withApp(.sqlite, configure: { $0.routeRulesFile = path }) { client, ws in
            let open: HTTPFields = [Self.header("X-Original-URI"): "/v1/agents/7"]
            #expect(try await client.call(.get, "/v1/auth/verify", token: ws.adminToken, headers: open).0 == .ok)
            let (status, json, _) = try await client.call(.get, "/v1/auth/verify", token: ws.adminToken,
                                                          headers: [Self.header("X-Original-URI"): "/v1/calls/7"])
            #expect(status == .forbidden, "the admin key too: the rules deny the route, not a permission")
            expectErrorShape(json, status: .forbidden)
            #expect(json["message"].string?.contains("deny") == true)
            // Keysmith's own routes are not judged by the rules.
            #expect(try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken).0 == .ok)
        }
    }

    @Test func withoutRouteRulesVerifyAllowsEveryRouteAsBefore() async throws {
        try await withApp(.sqlite) { client, ws in
            let (_, agents) = try await client.createKey(ws.adminToken, #"{"name": "agents", "permissions": ["agents.read"]}"#)
            let headers: HTTPFields = [Self.header("X-Original-URI"): "/v1/calls/1", Self.header("X-Forwarded-Uri"): "/v1/other"]
            #expect(try await client.call(.get, "/v1/auth/verify", token: agents, headers: headers).0 == .ok)
        }
    }

    @Test func aFileThatDoesNotParseStopsTheServerFromBeingBuilt() async throws {
        let path = try Self.file("{\"default\": \"allow\",\n \"rules\": [\n  {\"path\": \"/v1/calls/**\", \"permissions\": [\"Calls\"]}]}")
        await #expect {
            try await withApp(.sqlite, configure: { $0.routeRulesFile = path }) { _, _ in }
        } throws: { error in
            (error as? RouteRulesError)?.description.hasPrefix("route rules file \(path), line 3: rule 1: permissions: 'Calls' is not a permission") == true
        }
    }

    @Test func aReloadUsesTheNewFileAndABadOneKeepsTheRulesInUse() throws {
        let path = try Self.file(Self.rules)
        let file = try RouteRulesFile(path: path)
        #expect(file.current.rules.count == 3)
        try Data(#"{"default": "deny", "rules": []}"#.utf8).write(to: URL(fileURLWithPath: path))
        try file.reload()
        #expect(file.current.defaultDecision == .deny && file.current.rules.isEmpty)
        try Data("{\"default\": \"allow\",\n \"rules\": [}".utf8).write(to: URL(fileURLWithPath: path))
        #expect { try file.reload() } throws: { error in (error as? RouteRulesError)?.line == 2 }
        #expect(file.current.defaultDecision == .deny, "the previous rules stay")
        try FileManager.default.removeItem(atPath: path)
        #expect(throws: RouteRulesError.self) { try file.reload() }
        #expect(file.current.defaultDecision == .deny)
    }
}
