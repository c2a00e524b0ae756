/// The platform's route rules (`keysmith serve --route-rules FILE`): which permissions a request needs,
/// by method and path, decided in one place instead of in each gateway's configuration. The first rule
/// that matches decides; a request no rule matches is allowed to any valid key, or refused, by `default`.
public struct RouteRules: Sendable {
    public enum Default: String, Sendable {
        case allow, deny
    }

    public struct Rule: Sendable {
        /// `nil`: every method.
        public let methods: Set<String>?
        public let path: PathPattern
        /// What the key must hold, all of them (`Permissions.covers`); may be empty.
        public let permissions: [String]
        /// Where the rule starts in its file, for messages.
        public let line: Int

        public init(methods: Set<String>?, path: PathPattern, permissions: [String], line: Int = 0) {
            self.methods = methods
            self.path = path
            self.permissions = permissions
            self.line = line
        }

        public func matches(method: String, path requestPath: RequestPath) -> Bool {
            path.matches(requestPath) && (methods?.contains(method) ?? true)
        }
    }

    /// What the rules ask of a request.
    public enum Decision: Sendable, Equatable {
        /// Allowed to a key that holds every one of these (none: any valid key). `rule` is the index of the
        /// rule that matched, `nil` when none did.
        case require([String], rule: Int?)
        /// No rule matched and the default is `deny`.
        case deny
    }

    public let defaultDecision: Default
    public let rules: [Rule]

    public init(default defaultDecision: Default, rules: [Rule]) {
        self.defaultDecision = defaultDecision
        self.rules = rules
    }

    /// No rules, everything allowed: the behaviour without `--route-rules`.
    public static let allowAll = RouteRules(default: .allow, rules: [])

    /// The decision for `method` (as sent, such as `GET`) and a request target (path and query).
    public func decide(method: String, target: some StringProtocol) -> Decision {
        decide(method: method, path: RequestPath(target))
    }

    public func decide(method: String, path: RequestPath) -> Decision {
        if let index = rules.firstIndex(where: { $0.matches(method: method, path: path) }) {
            return .require(rules[index].permissions, rule: index)
        }
        return defaultDecision == .allow ? .require([], rule: nil) : .deny
    }
}
