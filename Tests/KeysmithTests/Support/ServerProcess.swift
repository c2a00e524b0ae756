import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
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

/// `keysmith serve` in a child process, on a port the system chooses (`--port 0`), read back from the
/// server's "listening on" log line: no port is guessed, so two runs never race for one.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let stdout = Pipe()
    let stderr = Pipe()
    /// What the server has written to stderr so far (its log).
    private let log = Mutex(Data())
    private let boundPort = Mutex<Int?>(nil)
    var port: Int { boundPort.withLock { $0 } ?? 0 }
    var baseURL: String { "http://127.0.0.1:\(port)" }
    /// What the server has logged so far.
    var logText: String { String(decoding: log.withLock { $0 }, as: UTF8.self) }

    /// The server's working directory: a new one, where a first start writes its bootstrap key file.
    let directory = TemporaryFile.path(suffix: ".dir")

    init(database: String, extraArguments: [String] = []) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.executableURL = URL(fileURLWithPath: KeysmithBinary.path)
        process.arguments = ["serve", "--database", database, "--port", "0", "--log-level", "trace"] + extraArguments
        process.standardOutput = stdout
        process.standardError = stderr
        stderr.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { self?.log.withLock { $0.append(data) } }
        }
        try process.run()
    }

    /// Waits for the server to say where it listens, then until `/healthz` answers.
    func waitUntilReady() async throws {
        for _ in 0..<400 {
            if boundPort.withLock({ $0 }) == nil, let found = Self.listeningPort(in: log.withLock { $0 }) {
                boundPort.withLock { $0 = found }
            }
            if boundPort.withLock({ $0 }) != nil, let (status, _) = try? await request("GET", "/healthz"), status == 200 { return }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("keysmith serve did not become ready; its log ends: \(String(decoding: log.withLock { $0 }.suffix(2000), as: UTF8.self))")
    }

    /// The file a first start named in `log` (its stderr) as holding the bootstrap admin key, when it did.
    func bootstrapKeyFile(in logText: String) -> String? {
        guard let line = logText.split(separator: "\n").first(where: { $0.contains("bootstrap_key_file=") }),
              let value = line.split(separator: "bootstrap_key_file=").last?.split(separator: " ").first
        else { return nil }
        let path = String(value)
        return path.hasPrefix("/") ? path : directory + "/" + path
    }

    /// The port of Hummingbird's "Server started and listening on HOST:PORT" line.
    static func listeningPort(in log: Data) -> Int? {
        let text = String(decoding: log, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.contains("listening on") }),
              let portText = line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces)
        else { return nil }
        return Int(portText)
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
        stderr.fileHandleForReading.readabilityHandler = nil
        let rest = stderr.fileHandleForReading.readDataToEndOfFile()
        let written = log.withLock { log in
            log.append(rest)
            defer { log.removeAll() }
            return log
        }
        return (
            String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            String(decoding: written, as: UTF8.self)
        )
    }

    deinit { _ = stop() }
}
