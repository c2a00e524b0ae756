import HTTPTypes
import Hummingbird
import Logging

/// A request context that carries the id of its request (`X-Request-Id`).
public protocol RequestIDContext: RequestContext {
    /// Set by `RequestIDMiddleware`, the first middleware of every route.
    var requestID: String { get set }
}

/// Gives every request an id, before any other middleware: the client's `X-Request-Id` when it is one
/// (1 to 128 of `A-Z a-z 0-9 . _ : -`, sent once), else Hummingbird's own id of the request, the
/// `hb.request.id` of its log lines. The id goes on the context (the audit log records it), into the
/// logger's metadata as `request_id`, and onto every response, errors included.
struct RequestIDMiddleware<Context: RequestIDContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = Self.acceptedID(in: request.headers) ?? Self.generatedID(context)
        var context = context
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            // Answered here rather than by Hummingbird, so that the error carries the id too.
            response = try error.response(from: request, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            response = try APIError(.internalServerError, "Internal Server Error").response(from: request, context: context)
        }
        response.headers[.requestID] = id
        return response
    }

    /// The client's id when it is present once and well formed: nothing that could split a log line or a header.
    static func acceptedID(in headers: HTTPFields) -> String? {
        var found: String?
        for field in headers where field.name == .requestID {
            guard found == nil else { return nil }
            found = field.value
        }
        guard let id = found, (1...128).contains(id.utf8.count), id.utf8.allSatisfy(isAllowed) else { return nil }
        return id
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// Hummingbird's id of the request (a random per-process prefix and a counter, in hex), so that a
    /// generated id is the one its log lines already carry; a random one if the logger has none.
    private static func generatedID(_ context: Context) -> String {
        if case .some(let value) = context.logger[metadataKey: "hb.request.id"] { return value.description }
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
}
