/// Thrown by stores when the database cannot be reached; the HTTP layer answers 503.
public struct StoreUnavailable: Error {
    public let underlying: String
    public init(_ underlying: String) { self.underlying = underlying }
}

/// A `--database` value (or a store's setting) that cannot be used as given; start-up stops with it.
public struct StoreConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
