import Foundation
import Synchronization

/// The route rules of `--route-rules FILE`, read from the file at start and again on each `reload()`
/// (SIGHUP, see `RouteRulesReloader`). Every verify reads `current` once: a copy under a lock, no I/O.
public final class RouteRulesFile: Sendable {
    public let path: String
    private let rules: Mutex<RouteRules>

    /// Reads and parses `path`; throws `RouteRulesError` naming the file and the line when it cannot.
    public init(path: String) throws {
        self.path = path
        self.rules = Mutex(try Self.read(path))
    }

    public var current: RouteRules { rules.withLock { $0 } }

    /// Reads the file again and uses it from the next request on; when it does not parse, the rules in use
    /// stay, and the error says why.
    @discardableResult
    public func reload() throws -> RouteRules {
        let fresh = try Self.read(path)
        rules.withLock { $0 = fresh }
        return fresh
    }

    static func read(_ path: String) throws -> RouteRules {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RouteRulesError(file: path, line: nil, message: "cannot be read (missing, or not readable by this user)")
        }
        return try RouteRules.parse(Array(data), file: path)
    }
}
