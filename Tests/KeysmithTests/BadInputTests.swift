import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// Bad input gets a clear 4xx in the seeds' error shape, and nothing is written.
@Suite struct BadInputTests {
    static let badCreateBodies: [(String, String)] = [
        ("", "JSON object"), ("not json", "JSON object"), ("[]", "JSON object"), (#""name""#, "JSON object"),
        ("{}", "name is required"), (#"{"name": ""}"#, "must not be empty"), (#"{"name": " \t "}"#, "must not be empty"),
        (#"{"name": null}"#, "name is required"), (#"{"name": 42}"#, "must be a string"),
        (#"{"name": "\#(String(repeating: "x", count: 201))"}"#, "at most 200"), (#"{"name": "bad\u0007bell"}"#, "control characters"),
        (#"{"name": "a", "scope": "owner"}"#, "scope must be one of"), (#"{"name": "a", "expires_at": "tomorrow"}"#, "ISO 8601"),
        (#"{"name": "a", "expires_at": "2001-01-01T00:00:00Z"}"#, "in the future"),
        (#"{"name": "a", "expires_at": "2099-01-01T00:00:00Z", "expiresAt": "2099-01-01T00:00:00Z"}"#, "not both"),
        (#"{"name": "a", "service_account_id": "has space"}"#, "service_account_id"), (#"{"name": "a", "colour": "red"}"#, "unknown field 'colour'"),
        (#"{"name": "a", "description": "\#(String(repeating: "d", count: 1001))"}"#, "at most 1000"),
    ]

    @Test(arguments: Backend.available)
    func badCreateBodiesAre400WithAMessageAndWriteNothing(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            for (body, message) in Self.badCreateBodies {
                let (status, json, _) = try await client.call(.post, "/v1/api-keys", token: ws.adminToken, body: body)
                #expect(status == .badRequest, "\(body)")
                expectErrorShape(json, status: .badRequest)
                #expect(json["message"].string?.contains(message) == true, "\(body): \(json["message"].string ?? "")")
            }
            #expect(try await ws.store.listKeys(.init(workspaceID: ws.workspace.id, includeRevoked: true)).total == 1)
        }
    }

    @Test(arguments: Backend.available)
    func aBodyOver64KiBIs413(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let body = #"{"name": "big", "description": "\#(String(repeating: "x", count: 70_000))"}"#
            let (status, json, _) = try await client.call(.post, "/v1/api-keys", token: ws.adminToken, body: body)
            #expect(status == .contentTooLarge)
            expectErrorShape(json, status: .contentTooLarge)
            #expect(try await ws.store.listKeys(.init(workspaceID: ws.workspace.id)).total == 1)
        }
    }

    @Test(arguments: [
        "page=0", "page=-1", "page=abc", "page=1.5", "limit=0", "limit=101", "limit=x", "page=99999999999999999999",
        "include_revoked=maybe", "dormant=yes",
    ])
    func badListParametersAre400(query: String) async throws {
        try await withApp(.sqlite) { client, ws in
            let (status, json, _) = try await client.call(.get, "/v1/api-keys?\(query)", token: ws.adminToken)
            #expect(status == .badRequest, "\(query)")
            expectErrorShape(json, status: .badRequest)
        }
    }

    @Test func limitOf100IsAcceptedAndDefaultIs20() async throws {
        try await withApp(.sqlite) { client, ws in
            let (status, json, _) = try await client.call(.get, "/v1/api-keys?limit=100", token: ws.adminToken)
            #expect(status == .ok && json["meta"]["limit"].int == 100)
            let (_, defaults, _) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(defaults["meta"]["limit"].int == 20 && defaults["meta"]["page"].int == 1)
        }
    }

    @Test func unknownRoutesAre404InTheErrorShape() async throws {
        try await withApp(.sqlite) { client, ws in
            for uri in ["/nope", "/v1/nope", "/v2/api-keys"] {
                let (status, json, _) = try await client.call(.get, uri, token: ws.adminToken)
                #expect(status == .notFound, "\(uri)")
                expectErrorShape(json, status: .notFound)
            }
        }
    }

    @Test func healthAndContractNeedNoKey() async throws {
        try await withApp(.sqlite) { client, _ in
            let (status, json, _) = try await client.call(.get, "/healthz", token: nil)
            #expect(status == .ok && json["status"].string == "ok")
            try await client.execute(uri: "/openapi.yaml", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("/v1/api-keys"))
            }
        }
    }
}
