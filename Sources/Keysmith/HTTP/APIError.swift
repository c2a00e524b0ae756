import Hummingbird
import NIOCore

/// Every error Keysmith returns, in the seeds' shape: `{"statusCode": N, "message": "...", "error": "..."}`.
public struct APIError: HTTPResponseError, Sendable, Equatable {
    public let status: HTTPResponse.Status
    public let message: String

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    /// The one 401 (seed 001); missing, malformed, unknown, wrong, revoked and expired keys all get it.
    public static let unauthorized = APIError(.unauthorized, "Unauthorized")
    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }
    public static func forbidden(_ message: String) -> APIError { APIError(.forbidden, message) }
    public static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }

    /// The body, with keys in the seed's order.
    var body: String {
        #"{"statusCode":\#(status.code),"message":\#(JSONWriter.quote(message)),"error":\#(JSONWriter.quote(status.reasonPhrase))}"#
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

