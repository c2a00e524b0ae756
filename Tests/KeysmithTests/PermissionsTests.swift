import Testing

@testable import KeysmithCore

/// Seed 000: keys inherit the permissions of the caller that creates them; the rules, without HTTP.
@Suite struct PermissionsTests {
    @Test(arguments: ["*", "calls.read", "agents.*", "a", "billing:invoices.read", "x_y-z.0", "calls.recordings.*"])
    func permissionNamesAreAccepted(_ name: String) {
        #expect(Permissions.isValid(name))
    }

    @Test(arguments: ["", ".*", "Calls.read", "calls.read ", "calls/read", "calls.**", "*.read", "calls*", "ünï", "calls.*.read",
                      String(repeating: "a", count: 129)])
    func malformedPermissionsAreRefused(_ name: String) {
        #expect(!Permissions.isValid(name))
    }

    @Test func aWildcardCoversEveryNameBelowIt() {
        #expect(Permissions.covers("*", "calls.read"))
        #expect(Permissions.covers("*", "*"))
        #expect(Permissions.covers("calls.*", "calls.read"))
        #expect(Permissions.covers("calls.*", "calls.*"))
        #expect(Permissions.covers("calls.*", "calls.recordings.read"))
        #expect(Permissions.covers("calls.read", "calls.read"))
        #expect(!Permissions.covers("calls.*", "*"))
        #expect(!Permissions.covers("calls.*", "calls"))
        #expect(!Permissions.covers("calls.*", "callsx.read"))
        #expect(!Permissions.covers("calls.read", "calls.write"))
        #expect(!Permissions.covers("calls.read", "calls.*"))
        #expect(!Permissions.covers([], "calls.read"))
    }

    @Test func everyRequestedPermissionMustBeCoveredByTheCreators() {
        #expect(Permissions.firstUncovered(["calls.read", "calls.*"], by: ["calls.*"]) == nil)
        #expect(Permissions.firstUncovered(["calls.read", "agents.read"], by: ["calls.*"]) == "agents.read")
        #expect(Permissions.firstUncovered(["*"], by: ["calls.*", "agents.*"]) == "*")
        #expect(Permissions.firstUncovered(["anything.at.all", "*"], by: ["*"]) == nil)
    }

    @Test func validationKeepsTheOrderDropsDuplicatesAndBoundsTheCount() throws {
        #expect(try Permissions.validate(["calls.read", "agents.*", "calls.read"]) == ["calls.read", "agents.*"])
        #expect(try Permissions.validate([]) == [])
        #expect(throws: FieldError.self) { try Permissions.validate(["calls.read", "Bad"]) }
        #expect(throws: FieldError.self) { try Permissions.validate((0...100).map { "p\($0)" }) }
    }

    @Test func allowedIPsAreStrictCIDRBlocksNormalisedToTheirNetwork() throws {
        let ranges = try KeyFields.allowedIPs(["203.0.113.7/24", "2001:db8::1/32", "198.51.100.9", "203.0.113.0/24", "::1"])
        #expect(ranges.map(\.description) == ["203.0.113.0/24", "2001:db8::/32", "198.51.100.9/32", "::1/128"])
        for bad in ["203.0.113.0/33", "203.0.113.0/", "203.0.113.0/+8", "203.0.113.0/08", "203.0.113", "example.com", "10.0.0.1/8/8",
                    "fe80::1%eth0", "2001:db8::/129", " 10.0.0.1", "010.0.0.1"] {
            #expect(throws: FieldError.self, "\(bad)") { try KeyFields.allowedIPs([bad]) }
        }
        #expect(throws: FieldError.self, "an empty list would lock the key out") { try KeyFields.allowedIPs([]) }
        #expect(throws: FieldError.self) { try KeyFields.allowedIPs((0...100).map { "10.0.\($0 / 256).\($0 % 256)" }) }
    }

    @Test func rateLimitsAreBounded() throws {
        #expect(try KeyFields.rateLimit(limit: 100, windowSeconds: 60) == RateLimit(limit: 100, windowSeconds: 60))
        #expect(try KeyFields.rateLimit(limit: 1_000_000, windowSeconds: 86_400) == RateLimit(limit: 1_000_000, windowSeconds: 86_400))
        for (limit, window) in [(0, 60), (1_000_001, 60), (10, 0), (10, 86_401), (-1, 1)] {
            #expect(throws: FieldError.self) { try KeyFields.rateLimit(limit: limit, windowSeconds: window) }
        }
        #expect(throws: FieldError.self) { try KeyFields.rateLimit(limit: nil, windowSeconds: 60) }
        #expect(throws: FieldError.self) { try KeyFields.rateLimit(limit: 10, windowSeconds: nil) }
    }
}
