extension RouteRules {
    public static let maxRules = 10_000

    /// The rules a file holds, in this shape (JSON):
    ///
    ///     {"default": "allow",
    ///      "rules": [
    ///        {"methods": ["GET", "HEAD"], "path": "/v1/calls/**", "permissions": ["calls.read"], "case_sensitive": false},
    ///        {"path": "/v1/calls/**", "permissions": ["calls.write"]}
    ///      ]}
    ///
    /// `methods` left out is every method, `case_sensitive` is true unless given, and a rule may also have a
    /// `comment` string. Anything else (an unknown key, a bad pattern, permission or method) is an error
    /// naming `file` and the line.
    public static func parse(_ bytes: [UInt8], file: String) throws(RouteRulesError) -> RouteRules {
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw RouteRulesError(file: file, line: nil, message: "the file is not UTF-8 text")
        }
        let document: LocatedJSON
        do {
            document = try LocatedJSON.parse(bytes)
        } catch {
            throw RouteRulesError(file: file, line: error.line, message: "not valid JSON: \(error.message)")
        }
        func fail(_ at: LocatedJSON, _ message: String) -> RouteRulesError {
            RouteRulesError(file: file, line: at.line, message: message)
        }

        guard case .object(let top) = document.value else {
            throw fail(document, "the file holds \(document.typeName); it must be an object with \"default\" and \"rules\"")
        }
        var defaultDecision: Default?
        var rules: [Rule]?
        for (key, value) in top {
            switch key {
            case "default":
                guard case .string(let text) = value.value, let decision = Default(rawValue: text) else {
                    throw fail(value, "\"default\" must be \"allow\" or \"deny\"")
                }
                defaultDecision = decision
            case "rules":
                guard case .array(let entries) = value.value else { throw fail(value, "\"rules\" must be an array of rules") }
                guard entries.count <= maxRules else { throw fail(value, "\"rules\" may hold at most \(maxRules) rules") }
                rules = []
                for (index, entry) in entries.enumerated() {
                    do {
                        rules?.append(try rule(entry))
                    } catch {
                        throw RouteRulesError(file: file, line: error.line, message: "rule \(index + 1): \(error.message)")
                    }
                }
            default:
                throw fail(value, "unknown key \"\(key.prefix(64))\"; the file has \"default\" and \"rules\"")
            }
        }
        guard let defaultDecision else { throw fail(document, "\"default\" is missing; it is \"allow\" or \"deny\"") }
        guard let rules else { throw fail(document, "\"rules\" is missing; it is an array of rules, possibly empty") }
        return RouteRules(default: defaultDecision, rules: rules)
    }

    /// One rule of the file; the error's line is the offending value's.
    private static func rule(_ entry: LocatedJSON) throws(LocatedJSON.SyntaxError) -> Rule {
        func fail(_ at: LocatedJSON, _ message: String) -> LocatedJSON.SyntaxError { .init(line: at.line, message: message) }
        guard case .object(let fields) = entry.value else {
            throw fail(entry, "a rule is an object with \"path\" and \"permissions\", and optionally \"methods\" and \"case_sensitive\"; this is \(entry.typeName)")
        }
        var methods: Set<String>?
        var pathText: (String, LocatedJSON)?
        var permissions: [String]?
        var caseSensitive = true
        for (key, value) in fields {
            switch key {
            case "methods":
                guard case .array(let names) = value.value, !names.isEmpty else {
                    throw fail(value, "\"methods\" must be a non-empty array such as [\"GET\", \"HEAD\"]; leave it out for every method")
                }
                var set = Set<String>()
                for name in names {
                    guard case .string(let method) = name.value, isMethod(method) else {
                        throw fail(name, "\"methods\" holds HTTP methods in upper case, such as GET or POST")
                    }
                    set.insert(method)
                }
                methods = set
            case "path":
                guard case .string(let text) = value.value else { throw fail(value, "\"path\" must be a string such as \"/v1/calls/**\"") }
                pathText = (text, value)
            case "permissions":
                guard case .array(let names) = value.value else {
                    throw fail(value, "\"permissions\" must be an array such as [\"calls.read\"] (empty: any valid key)")
                }
                var strings: [String] = []
                for name in names {
                    guard case .string(let permission) = name.value else { throw fail(name, "\"permissions\" holds strings such as \"calls.read\"") }
                    strings.append(permission)
                }
                do {
                    permissions = try Permissions.validate(strings)
                } catch {
                    throw fail(value, error.message)
                }
            case "case_sensitive":
                guard case .bool(let flag) = value.value else { throw fail(value, "\"case_sensitive\" must be true or false") }
                caseSensitive = flag
            case "comment":
                guard case .string = value.value else { throw fail(value, "\"comment\" must be a string") }
            default:
                throw fail(value, "unknown key \"\(key.prefix(64))\"; a rule has \"methods\", \"path\", \"permissions\", \"case_sensitive\" and \"comment\"")
            }
        }
        guard let (text, at) = pathText else { throw fail(entry, "\"path\" is missing") }
        guard let permissions else { throw fail(entry, "\"permissions\" is missing ([] lets any valid key through)") }
        do {
            return Rule(methods: methods, path: try PathPattern(text, caseSensitive: caseSensitive), permissions: permissions, line: entry.line)
        } catch {
            throw fail(at, "\"path\": \(error.message)")
        }
    }

    /// An HTTP method token in upper case (`GET`, `PROPFIND`), at most 32 characters.
    static func isMethod(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 32 && text.utf8.allSatisfy { (0x41...0x5A).contains($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }
}
