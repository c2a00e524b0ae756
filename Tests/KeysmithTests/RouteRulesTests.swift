import Testing

@testable import KeysmithCore

/// The route rules file (`--route-rules`): its parsing, the path normalisation that keeps a rule from
/// being passed by another spelling, and first-match decisions, without HTTP.
@Suite struct RouteRulesTests {
    static let issueExample = """
        {"default": "allow",
         "rules": [
           {"methods": ["GET", "HEAD"], "path": "/v1/calls/**", "permissions": ["calls.read"], "case_sensitive": false},
           {"path": "/v1/calls/**", "permissions": ["calls.write"]}
         ]}
        """

    static func rules(_ text: String) throws -> RouteRules {
        try RouteRules.parse(Array(text.utf8), file: "rules.json")
    }

    static func error(_ text: String) -> RouteRulesError? {
        do {
            _ = try rules(text)
            return nil
        } catch {
            return error as? RouteRulesError
        }
    }

    @Test(arguments: [
        ("/v1/calls", "/v1/calls"),
        ("/v1/calls/", "/v1/calls"),
        ("/v1//calls/1", "/v1/calls/1"),
        ("/v1/x/../calls/1", "/v1/calls/1"),
        ("/v1/./calls/./1", "/v1/calls/1"),
        ("/../../v1/calls", "/v1/calls"),
        ("/v1/%63alls/1", "/v1/calls/1"),
        ("/v1/%2e%2E/v1/calls", "/v1/calls"),            // encoded dots are dot-segments too
        ("/v1/calls%2F1", "/v1/calls%2F1"),              // an encoded / stays inside its segment
        ("/v1/calls%2f1", "/v1/calls%2F1"),
        ("/v1/calls?x=1&y=/../z", "/v1/calls"),
        ("/v1/calls#part", "/v1/calls"),
        ("/v1/a%20b/%7euser", "/v1/a%20b/~user"),
        ("/v1/a b/ü", "/v1/a%20b/%C3%BC"),
        ("/v1/100%", "/v1/100%25"),
        ("http://api.example.com/v1/calls?x", "/v1/calls"),
        ("http://api.example.com", "/"),
        ("", "/"),
        ("v1/calls", "/v1/calls"),
        ("/v1/calls.json", "/v1/calls.json"),
    ])
    func pathsAreNormalisedBeforeMatching(_ given: String, _ canonical: String) {
        #expect(RequestPath(given).description == canonical, "\(given)")
    }

    @Test func theIssuesExampleParsesAndTheFirstMatchingRuleDecides() throws {
        let rules = try Self.rules(Self.issueExample)
        #expect(rules.defaultDecision == .allow)
        #expect(rules.rules.count == 2)
        #expect(rules.rules[0].line == 3 && rules.rules[1].line == 4)
        for path in ["/v1/calls", "/v1/calls/", "/v1//calls/1", "/v1/x/../calls/1", "/v1/%63alls/1", "/V1/CALLS/1", "/v1/calls/1/notes?x=1"] {
            #expect(rules.decide(method: "GET", target: path) == .require(["calls.read"], rule: 0), "\(path)")
            #expect(rules.decide(method: "HEAD", target: path) == .require(["calls.read"], rule: 0), "\(path)")
        }
        // The second rule is case-sensitive: an upper-case POST path is not its.
        #expect(rules.decide(method: "POST", target: "/v1/calls/1") == .require(["calls.write"], rule: 1))
        #expect(rules.decide(method: "DELETE", target: "/v1/%63alls") == .require(["calls.write"], rule: 1))
        #expect(rules.decide(method: "POST", target: "/V1/CALLS/1") == .require([], rule: nil))
        // A suffix is part of the last segment; a sibling is not below the pattern.
        #expect(rules.decide(method: "GET", target: "/v1/calls.json") == .require([], rule: nil))
        #expect(rules.decide(method: "GET", target: "/v1/callsx") == .require([], rule: nil))
        #expect(rules.decide(method: "GET", target: "/v1/calls%2F1") == .require([], rule: nil))
        #expect(rules.decide(method: "GET", target: "/v1/agents") == .require([], rule: nil))
    }

    @Test func aDenyDefaultRefusesWhatNoRuleNames() throws {
        let rules = try Self.rules("""
            {"default": "deny", "rules": [
              {"path": "/v1/public/*", "permissions": []},
              {"path": "/v1/calls*", "permissions": ["calls.read"]},
              {"path": "/v1/calls*/**", "permissions": ["calls.read"]}
            ]}
            """)
        #expect(rules.decide(method: "GET", target: "/v1/public/a") == .require([], rule: 0))
        #expect(rules.decide(method: "GET", target: "/v1/public") == .deny, "`*` is one whole segment, not none")
        #expect(rules.decide(method: "GET", target: "/v1/public/a/b") == .deny)
        #expect(rules.decide(method: "GET", target: "/v1/calls.json") == .require(["calls.read"], rule: 1))
        #expect(rules.decide(method: "GET", target: "/v1/calls") == .require(["calls.read"], rule: 1))
        #expect(rules.decide(method: "GET", target: "/v1/calls.json/7") == .require(["calls.read"], rule: 2))
        #expect(rules.decide(method: "GET", target: "/v1/other") == .deny)
        #expect(rules.decide(method: "GET", target: "/") == .deny)
    }

    @Test(arguments: [
        ("/v1/calls/**", "/v1/calls", true),
        ("/v1/calls/**", "/v1/calls/7/notes/8", true),
        ("/v1/calls/**", "/v1/callsx", false),
        ("/**", "/", true),
        ("/**", "/anything/at/all", true),
        ("/", "/", true),
        ("/", "/v1", false),
        ("/v1/**/notes", "/v1/notes", true),
        ("/v1/**/notes", "/v1/a/b/notes", true),
        ("/v1/**/notes", "/v1/a/b/notes/x", false),
        ("/v1/**/a/**/b", "/v1/x/a/y/a/z/b", true),
        ("/v1/*/notes", "/v1/7/notes", true),
        ("/v1/*/notes", "/v1/notes", false),
        ("/v1/*/notes", "/v1/7/8/notes", false),
        ("/v1/a*b*c", "/v1/abc", true),
        ("/v1/a*b*c", "/v1/axxbyyc", true),
        ("/v1/a*b*c", "/v1/axxbyy", false),
        ("/v1/a*a", "/v1/a", false),
        ("/v1/a*a", "/v1/aa", true),
        ("/v1/*.json", "/v1/calls.json", true),
        ("/v1/%63alls", "/v1/calls", true),
        ("/v1//calls/", "/v1/calls", true),
        ("/v1/Calls", "/v1/calls", false),
    ])
    func globsMatchWithinSegmentsAndDoubleStarsAcrossThem(_ pattern: String, _ path: String, _ matches: Bool) throws {
        #expect(try PathPattern(pattern).matches(RequestPath(path)) == matches, "\(pattern) \(path)")
    }

    @Test func caseInsensitiveRulesIgnoreTheCaseOfLettersAndOfPercentEncodings() throws {
        let pattern = try PathPattern("/v1/Calls/%c3%bc*", caseSensitive: false)
        #expect(pattern.matches(RequestPath("/V1/CALLS/%C3%BCx")))
        #expect(pattern.matches(RequestPath("/v1/calls/ü")))
        #expect(!pattern.matches(RequestPath("/v1/calls/u")))
    }

    @Test func aFileThatDoesNotParseNamesTheLine() {
        let broken = """
            {"default": "allow",
             "rules": [
               {"path": "/v1/calls/**", "permissions": ["calls.read"]}
               {"path": "/v1/x", "permissions": []}
             ]}
            """
        let error = Self.error(broken)
        #expect(error?.line == 4, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("route rules file rules.json, line 4: not valid JSON") == true, "\(String(describing: error))")
        #expect(Self.error("{\"default\": \"allow\",\n \"rules\": [\n")?.line == 3)
        #expect(Self.error("")?.line == 1)
        #expect(Self.error("{\"default\": \"allow\", \"rules\": []} x")?.line == 1)
        #expect(Self.error("{\"default\": \"allow\",\n\"default\": \"deny\", \"rules\": []}")?.line == 2, "a key given twice")
    }

    @Test(arguments: [
        ("{\"rules\": []}", 1, "\"default\" is missing"),
        ("{\"default\": \"allow\"}", 1, "\"rules\" is missing"),
        ("{\"default\": \"maybe\", \"rules\": []}", 1, "\"default\" must be"),
        ("[]", 1, "it must be an object"),
        ("{\"default\": \"allow\", \"rules\": [],\n\"rule\": []}", 2, "unknown key \"rule\""),
        ("{\"default\": \"allow\", \"rules\": [\n{\"path\": \"/v1\", \"permissions\": [],\n \"method\": [\"GET\"]}]}", 3, "rule 1: unknown key \"method\""),
        ("{\"default\": \"allow\", \"rules\": [\n{\"permissions\": []}]}", 2, "rule 1: \"path\" is missing"),
        ("{\"default\": \"allow\", \"rules\": [\n{\"path\": \"/v1\"}]}", 2, "rule 1: \"permissions\" is missing"),
        ("{\"default\": \"allow\", \"rules\": [{\"path\": \"/v1\", \"permissions\": []},\n{\"path\": \"v1/calls\", \"permissions\": []}]}", 2, "rule 2: \"path\": a path pattern starts with '/'"),
        ("{\"default\": \"allow\", \"rules\": [\n{\"path\": \"/v1/calls**\", \"permissions\": []}]}", 2, "'**' matches whole segments only"),
        ("{\"default\": \"allow\", \"rules\": [\n{\"path\": \"/v1/calls?x=1\", \"permissions\": []}]}", 2, "may not hold '?'"),
        ("{\"default\": \"allow\", \"rules\": [\n{\"path\": \"/v1/../calls\", \"permissions\": []}]}", 2, "'.' or '..'"),
        ("{\"default\": \"allow\", \"rules\": [\n{\"path\": \"/v1/a b\", \"permissions\": []}]}", 2, "may not hold a space"),
        ("{\"default\": \"allow\", \"rules\": [\n{\"path\": \"/v1\",\n \"permissions\": [\"Calls.Read\"]}]}", 3, "is not a permission"),
        ("{\"default\": \"allow\", \"rules\": [\n{\"path\": \"/v1\", \"permissions\": [7]}]}", 2, "holds strings"),
        ("{\"default\": \"allow\", \"rules\": [\n{\"path\": \"/v1\", \"permissions\": [],\n \"methods\": [\"GET\",\n \"get\"]}]}", 4, "in upper case"),
        ("{\"default\": \"allow\", \"rules\": [\n{\"path\": \"/v1\", \"permissions\": [], \"methods\": []}]}", 2, "non-empty array"),
        ("{\"default\": \"allow\", \"rules\": [\n{\"path\": \"/v1\", \"permissions\": [], \"case_sensitive\": \"no\"}]}", 2, "true or false"),
        ("{\"default\": \"allow\", \"rules\": [\n\"/v1/calls\"]}", 2, "a rule is an object"),
    ])
    func invalidValuesAreErrorsNamingTheRuleAndLine(_ text: String, _ line: Int, _ fragment: String) {
        let error = Self.error(text)
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.message.contains(fragment) == true, "\(String(describing: error))")
    }

    @Test func stringsMayUseEveryJSONEscape() throws {
        let rules = try Self.rules(#"{"default": "allow", "rules": [{"path": "\/v1\/calls\u002F**", "permissions": ["calls.read"], "comment": "tab\t\"q\" \ud83d\ude00"}]}"#)
        #expect(rules.decide(method: "GET", target: "/v1/calls/1") == .require(["calls.read"], rule: 0))
        #expect(Self.error(#"{"default": "allow", "rules": [], "c": "\ud83d"}"#) != nil)
        #expect(Self.error("{\"default\": \"all\nw\", \"rules\": []}")?.line == 1)
        #expect(throws: RouteRulesError.self) { try RouteRules.parse([0x22, 0xFF, 0x22], file: "rules.json") }
    }

    @Test func withoutRulesEverythingIsAllowed() {
        #expect(RouteRules.allowAll.decide(method: "DELETE", target: "/v1/calls/1") == .require([], rule: nil))
    }
}
