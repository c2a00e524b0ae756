import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Keysmith

/// `openapi.yaml` describes exactly what the router serves.
@Suite struct OpenAPIRoutesTests {
    /// `(METHOD, /path/{param})` of every operation in the document.
    static func documentedOperations() throws -> Set<String> {
        let bytes = try #require(OpenAPIDocument.bytes, "openapi.yaml is bundled")
        let text = String(buffer: bytes)
        var operations = Set<String>()
        var path: String?
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]
        var inPaths = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("paths:") { inPaths = true; continue }
            guard inPaths else { continue }
            if let first = line.first, first != " ", first != "#" { break }  // the next top-level key
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast()).trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), let path {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if line.hasSuffix(":"), methods.contains(String(key)) { operations.insert("\(key.uppercased()) \(path)") }
            }
        }
        return operations
    }

    @Test func everyAPIRouteIsDocumentedAndEveryDocumentedOperationIsRouted() async throws {
        let routes = RouteTable()
        try await withApp(.sqlite, routes: routes) { _, _ in }
        let served = Set(routes.all.compactMap { route -> String? in
            // The dashboard's pages and assets are not part of the API.
            guard route.path.hasPrefix("/v1/") || route.path == "/healthz" || route.path == "/openapi.yaml" else { return nil }
            // `**` (the rest of the path, for Envoy's ext_authz) is documented as `{original_path}`.
            let path = route.path.split(separator: "/").map {
                $0 == "**" ? "{original_path}" : RouteTable.isCapture($0) ? "{\($0.trimmingCharacters(in: CharacterSet(charactersIn: ":{}")))}" : String($0)
            }.joined(separator: "/")
            return "\(route.method.rawValue) /\(path)"
        })
        let documented = try Self.documentedOperations().filter { !$0.hasPrefix("HEAD ") }
        #expect(served.subtracting(documented).sorted() == [], "routes missing from openapi.yaml")
        #expect(documented.subtracting(served).sorted() == [], "documented operations the router does not serve")
        #expect(served.count >= 14)
    }
}
