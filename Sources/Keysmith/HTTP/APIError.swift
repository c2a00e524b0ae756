import Hummingbird
import NIOCore

/// Every error Keysmith returns, in the seeds' shape: `{"statusCode": N, "message": "...", "error": "..."}`.
public struct APIError: HTTPResponseError, Sendable, Equatable {
    public let status: HTTPResponse.Status
    public let message: String
    /// Headers the answer needs besides the body, such as `Retry-After` or `Allow`.
    public let headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    /// The one 401 (seed 001); missing, malformed, unknown, wrong, revoked and expired keys all get it.
    public static let unauthorized = APIError(.unauthorized, "Unauthorized")
    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }
    public static func forbidden(_ message: String) -> APIError { APIError(.forbidden, message) }
    public static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }
    public static func conflict(_ message: String) -> APIError { APIError(.conflict, message) }
    /// 429 in the seeds' shape, with `Retry-After` in whole seconds.
    public static func tooManyRequests(retryAfter seconds: Int, _ message: String = "Too Many Requests") -> APIError {
        APIError(.tooManyRequests, message, headers: [.retryAfter: String(max(1, seconds))])
    }

    /// The body, with keys in the seed's order.
    var body: String {
        #"{"statusCode":\#(status.code),"message":\#(JSONWriter.quote(message)),"error":\#(JSONWriter.quote(status.reasonPhrase))}"#
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        headers.append(contentsOf: self.headers)
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

