import Foundation
import Hummingbird
import NIOCore

/// The dashboard (Settings › API Keys, Settings › Webhooks): static files shipped as package resources,
/// loaded once at start, served with a strict Content-Security-Policy. The page uses the public API only.
struct DashboardController<Context: RequestContext> {
    static var contentSecurityPolicy: String {
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
            + "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    }

    struct File {
        let contentType: String
        let bytes: ByteBuffer
    }

    let files: [String: File]

    /// Loads every file of the `Public` resource folder.
    init() {
        var files: [String: File] = [:]
        if let folder = Bundle.module.url(forResource: "Public", withExtension: nil),
           let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) {
            for name in names {
                guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) else { continue }
                files[name] = File(contentType: Self.contentType(of: name), bytes: ByteBuffer(bytes: data))
            }
        }
        self.files = files
    }

    func addRoutes(to router: some RouterMethods<Context>) {
        router.get("/") { _, _ in Response.redirect(to: "/settings/api-keys", type: .found) }
        router.get("/settings/api-keys") { _, _ in try serve("index.html") }
        router.get("/settings/webhooks") { _, _ in try serve("index.html") }
        router.get("/assets/:file") { _, context in try serve(try context.parameters.require("file")) }
    }

    private func serve(_ name: String) throws -> Response {
        guard let file = files[name] else { throw APIError.notFound("no such file") }
        return Response(
            status: .ok,
            headers: [
                .contentType: file.contentType,
                .contentSecurityPolicy: Self.contentSecurityPolicy,
                .init("X-Content-Type-Options")!: "nosniff",
                .init("Referrer-Policy")!: "no-referrer",
                .cacheControl: "no-cache",
            ],
            body: .init(byteBuffer: file.bytes)
        )
    }

    private static func contentType(of name: String) -> String {
        switch name.split(separator: ".").last {
        case "html": "text/html; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        default: "application/octet-stream"
        }
    }
}
