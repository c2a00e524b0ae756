import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The dashboard (Settings › API Keys, Webhooks, Audit log): the files of the `Public` package resource,
/// served by Hummingbird's `FileMiddleware` under `/assets/` and, for the pages, `index.html`, all with
/// the strict Content-Security-Policy of `ContentSecurityMiddleware`. The page uses the public API only.
///
/// Everything sits in route groups, so the middlewares see only the dashboard's own routes: a `/v1` route
/// is never shadowed by a file, and the API's 404s and 405s are untouched.
struct DashboardController<Context: RequestContext> {
    static var contentSecurityPolicy: ContentSecurityPolicy {
        [
            .defaultSrc(.none), .scriptSrc(.self), .styleSrc(.self), .connectSrc(.self), .imgSrc(.self, "data:"),
            .fontSrc(.self), .baseURI(.none), .formAction(.none), .frameAncestors(.none),
        ]
    }

    /// Our own media types where Hummingbird's table has none or no charset (it says `application/javascript`).
    static var mediaTypes: [String: MediaType] {
        let utf8 = ("charset", "utf-8")
        return [
            "html": MediaType(type: .text, subType: "html", parameter: utf8),
            "js": MediaType(type: .text, subType: "javascript", parameter: utf8),
            "css": MediaType(type: .text, subType: "css", parameter: utf8),
            "svg": .imageSvg,
        ]
    }

    let files: LocalFileSystem

    /// The `Public` resource folder as SwiftPM copied it into the bundle. Without it (a broken build),
    /// every file is a 404, as an empty folder would be.
    init() {
        let folder = Bundle.module.url(forResource: "Public", withExtension: nil)?.path ?? "/nonexistent/keysmith-dashboard"
        // LocalFileSystem logs the folder at `info` on every start: an implementation detail, kept quiet.
        var logger = Logger(label: "keysmith.dashboard")
        logger.logLevel = .notice
        files = LocalFileSystem(rootFolder: folder, threadPool: .singleton, logger: logger)
    }

    func addRoutes(to router: some RouterMethods<Context>) {
        router.get("/") { _, _ in Response.redirect(to: "/settings/api-keys", type: .found) }

        let dashboard = router.group()
            .add(middleware: ContentSecurityMiddleware(contentSecurityPolicy: Self.contentSecurityPolicy)) // and nosniff
            .add(middleware: NoReferrerMiddleware())
        // Client-side routes: all are the one page, whose script picks the tab.
        dashboard.get("/settings/api-keys") { _, context in try await page(context: context) }
        dashboard.get("/settings/webhooks") { _, context in try await page(context: context) }
        dashboard.get("/settings/audit-log") { _, context in try await page(context: context) }

        // The route exists so the RouteRecorder knows the path (405 for other methods) and so FileMiddleware,
        // which serves a file only when the router answers 404, runs for it. When there is no such file,
        // FileMiddleware rethrows this error: the seeds' 404.
        dashboard.group("assets")
            .add(middleware: PlainFileNameMiddleware())
            .add(middleware: FileMiddleware(fileProvider: files, urlBasePath: "/assets", cacheControl: Self.noCache)
                .withAdditionalMediaTypes(forFileExtensions: Self.mediaTypes))
            .get(":file") { _, _ -> Response in throw APIError.notFound("no such file") }
    }

    /// Every file is revalidated: the dashboard changes with the binary, and its URLs carry no version.
    private static var noCache: CacheControl { CacheControl([(MediaType(type: .any), [CacheControl.CacheControlValue.noCache])]) }

    /// `index.html` from the same folder as the assets, for the page URLs (FileMiddleware maps URLs to files
    /// one to one, so it cannot serve one file under other names).
    private func page(context: Context) async throws -> Response {
        guard let id = files.getFileIdentifier("index.html"), try await files.getAttributes(id: id) != nil else {
            throw APIError.notFound("no such file")
        }
        let body = try await files.loadFile(id: id, context: context)
        return Response(status: .ok, headers: [.contentType: Self.mediaTypes["html"]!.description, .cacheControl: "no-cache"], body: body)
    }
}

/// `Referrer-Policy: no-referrer`, which `ContentSecurityMiddleware` does not set. Like it, only on success.
struct NoReferrerMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return response
    }
}

/// Lets through only a plain file name after `/assets/`. FileMiddleware answers a `..` with 400 and a folder
/// (`/assets/.`) with a redirect; here both, and any hidden or nested name however encoded, are the 404 of
/// a file that does not exist, in the seeds' shape.
struct PlainFileNameMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let raw = request.uri.path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        guard let name = raw.removingPercentEncoding, !name.isEmpty, !name.hasPrefix("."),
              !name.contains("/"), !name.contains("\\"), !name.contains("\0")
        else {
            throw APIError.notFound("no such file")
        }
        return try await next(request, context)
    }
}
