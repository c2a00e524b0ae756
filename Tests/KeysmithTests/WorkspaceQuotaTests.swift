import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// Tenants share one database and one cache: each workspace has a quota of active keys and a budget of
/// management requests, and reaching either leaves every other workspace as it was.
@Suite struct WorkspaceQuotaTests {
    @Test(arguments: Backend.available)
    func aWorkspaceHoldsAtMostItsQuotaOfActiveKeys(_ backend: Backend) async throws {
        try await withApp(backend, configure: { $0.maxActiveKeysPerWorkspace = 3 }) { client, ws in
            _ = try await client.createKey(ws.adminToken, #"{"name": "second"}"#)
            let (third, _) = try await client.createKey(ws.adminToken, #"{"name": "third"}"#)
            for (uri, body) in [("/v1/api-keys", #"{"name": "fourth"}"#), ("/v1/api-keys/batch", #"{"keys": [{"name": "a"}]}"#)] {
                let (status, json, _) = try await client.call(.post, uri, token: ws.adminToken, body: body)
                #expect(status == .forbidden, "\(uri)")
                expectErrorShape(json, status: .forbidden)
                #expect(json["message"].string?.contains("quota of 3 active keys") == true)
            }
            let (_, list, _) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(list["meta"]["total"].int == 3, "a refused create leaves nothing behind")

            // Another workspace is not affected, and a revoked key frees its place.
            let (_, _, other) = try await KeyIssuer(store: ws.store).createWorkspace(named: "other-\(UUID().uuidString.prefix(8))")
            #expect(try await client.call(.post, "/v1/api-keys", token: other.bearer, body: #"{"name": "theirs"}"#).status == .created)
            #expect(try await client.call(.delete, "/v1/api-keys/\(try #require(third["id"].string))", token: ws.adminToken).status == .ok)
            #expect(try await client.call(.post, "/v1/api-keys", token: ws.adminToken, body: #"{"name": "fourth"}"#).status == .created)
        }
    }

    /// On a frozen clock: the budget is the application's own timing, not the machine's.
    @Test func aWorkspacePastItsManagementBudgetGets429AndOthersDoNot() async throws {
        let clock = TestClock(frozen: true)
        try await withApp(.sqlite, configure: { $0.clock = clock.now; $0.managementRequestsPerSecond = 2 }) { client, ws in
            let (_, _, other) = try await KeyIssuer(store: ws.store).createWorkspace(named: "other-\(UUID().uuidString.prefix(8))")
            for index in 0..<20 {  // a burst of ten seconds' worth
                #expect(try await client.call(.get, "/v1/api-keys", token: ws.adminToken).status == .ok, "request \(index)")
            }
            let (status, json, response) = try await client.call(.get, "/v1/api-keys", token: ws.adminToken)
            #expect(status == .tooManyRequests)
            expectErrorShape(json, status: .tooManyRequests)
            #expect(response.headers[.retryAfter] == "1")
            #expect(try await client.call(.post, "/v1/webhooks", token: ws.adminToken, body: #"{"url": "https://example.com/hook"}"#).status == .tooManyRequests)
            #expect(try await client.call(.get, "/v1/audit-events", token: ws.adminToken).status == .tooManyRequests)
            // Authentication itself is not a management request, and the other workspace has its own budget.
            #expect(try await client.call(.get, "/v1/auth/whoami", token: ws.adminToken).status == .ok)
            #expect(try await client.call(.get, "/v1/api-keys", token: other.bearer).status == .ok)

            clock.advance(seconds: 1)  // two more
            #expect(try await client.call(.get, "/v1/api-keys", token: ws.adminToken).status == .ok)
            #expect(try await client.call(.get, "/v1/api-keys", token: ws.adminToken).status == .ok)
            #expect(try await client.call(.get, "/v1/api-keys", token: ws.adminToken).status == .tooManyRequests)
        }
    }
}
