import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// `POST /v1/api-keys/batch`: many keys in one transaction, all or nothing.
@Suite struct BatchCreateTests {
    static func body(_ items: [[String: String]]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: ["keys": items]), as: UTF8.self)
    }

    @Test(arguments: Backend.available)
    func aBatchCreatesEveryKeyInOrderEachWithItsSecret(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let items = (0..<250).map { ["name": "device \($0)", "scope": $0 % 2 == 0 ? "read" : "read-write"] }
            let (status, json, response) = try await client.call(.post, "/v1/api-keys/batch", token: ws.adminToken, body: try Self.body(items))
            #expect(status == .created)
            #expect(response.headers[.cacheControl] == "no-store")
            let created = json["data"].array
            #expect(created.count == 250)
            #expect(created.map { $0["name"].string } == items.map { $0["name"] })
            #expect(created[1]["scope"].string == "read-write")
            #expect(Set(created.compactMap { $0["id"].string }).count == 250)
            // Each secret works at once, and the list counts them all.
            let (whoami, me, _) = try await client.call(.get, "/v1/auth/whoami", token: try #require(created[249]["secret"].string))
            #expect(whoami == .ok && me["key"]["name"].string == "device 249")
            let (_, list, _) = try await client.call(.get, "/v1/api-keys?limit=1", token: ws.adminToken)
            #expect(list["meta"]["total"].int == 251)
        }
    }

    @Test(arguments: Backend.available)
    func aRefusedItemIsNamedByItsIndexAndNothingIsCreated(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let items = [["name": "fine"], ["name": "also fine"], ["name": " "], ["name": "never"]]
            let (status, json, _) = try await client.call(.post, "/v1/api-keys/batch", token: ws.adminToken, body: try Self.body(items))
            #expect(status == .badRequest)
            expectErrorShape(json, status: .badRequest)
            #expect(json["message"].string?.hasPrefix("keys[2]: ") == true, "\(json["message"].string ?? "")")
            let (_, list, _) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(list["meta"]["total"].int == 1, "all or nothing")
        }
    }

    @Test func batchesFollowTheSingleCreateRules() async throws {
        try await withApp(.sqlite) { client, ws in
            let (_, reader) = try await client.createKey(ws.adminToken, #"{"name": "reader", "scope": "read"}"#)
            let (forbidden, _, _) = try await client.call(.post, "/v1/api-keys/batch", token: reader, body: try Self.body([["name": "x"]]))
            #expect(forbidden == .forbidden, "the route needs admin, as single creates do")
            let (escalation, _, _) = try await client.call(.post, "/v1/api-keys/batch", token: ws.adminToken, body: try Self.body([["name": "x", "scope": "root"]]))
            #expect(escalation == .badRequest)
            for bad in [#"{"keys": []}"#, #"{"keys": "x"}"#, #"{}"#, #"{"keys": [{"name": "a"}], "extra": 1}"#, #"{"keys": [1]}"#] {
                let (status, json, _) = try await client.call(.post, "/v1/api-keys/batch", token: ws.adminToken, body: bad)
                #expect(status == .badRequest, "\(bad)")
                expectErrorShape(json, status: .badRequest)
            }
            let tooMany = try Self.body((0...1000).map { ["name": "k\($0)"] })
            let (over, _, _) = try await client.call(.post, "/v1/api-keys/batch", token: ws.adminToken, body: tooMany)
            #expect(over == .badRequest)
        }
    }
}
