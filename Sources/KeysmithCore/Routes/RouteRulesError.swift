/// A route rules file that cannot be used, with where and why: start-up stops with it, and a reload keeps
/// the rules it had and logs it.
public struct RouteRulesError: Error, Sendable, CustomStringConvertible {
    public let file: String
    /// `nil` when the file as a whole is at fault (it cannot be read, or is not UTF-8).
    public let line: Int?
    public let message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "route rules file \(file), line \(line): \(message)" }
        return "route rules file \(file): \(message)"
    }
}
