/// A value a client may not set, with a message that says what to fix. The HTTP layer answers it with a
/// 400 in the seeds' error shape; the CLI prints it.
public struct FieldError: Error, Sendable, Equatable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }
}
