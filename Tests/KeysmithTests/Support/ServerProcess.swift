import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

/// The real `keysmith` binary, for what only a process can show: restarts, the CLI, stdout and stderr.
enum KeysmithBinary {
    static var path: String {
        if let path = ProcessInfo.processInfo.environment["KEYSMITH_BIN"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/keysmith").path
    }

    /// Runs a command to completion and returns its exit status, stdout and stderr.
    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }
}

/// `keysmith serve` in a child process on a free port.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    let stdout = Pipe()
    let stderr = Pipe()
    var baseURL: String { "http://127.0.0.1:\(port)" }

    init(database: String, extraArguments: [String] = []) throws {
        port = Int.random(in: 20_000..<60_000)
        process.executableURL = URL(fileURLWithPath: KeysmithBinary.path)
        process.arguments = ["serve", "--database", database, "--port", String(port), "--log-level", "trace"] + extraArguments
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
    }

    /// Waits until `/healthz` answers.
    func waitUntilReady() async throws {
        for _ in 0..<200 {
            if let (status, _) = try? await request("GET", "/healthz"), status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("keysmith serve did not become ready on port \(port)")
    }

    func request(_ method: String, _ path: String, token: String? = nil, body: String? = nil) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: bytes))
    }

    /// Stops the server with SIGTERM (a graceful shutdown) and returns everything it wrote.
    func stop() -> (stdout: String, stderr: String) {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        return (
            String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        )
    }

    deinit { _ = stop() }
}
