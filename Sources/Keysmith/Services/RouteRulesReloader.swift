import Dispatch
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reloads the route rules file on SIGHUP until graceful shutdown; a file that does not parse leaves the
/// rules in use as they were, and the log says why.
struct RouteRulesReloader: Service {
    let file: RouteRulesFile
    let logger: Logger

    /// SIGHUP's default action ends the process: ignored from the moment the server is built, so that a
    /// SIGHUP sent before this service listens is lost rather than fatal. The signal source still sees it.
    static func ignoreHangUp() {
        signal(SIGHUP, SIG_IGN)
    }

    func run() async throws {
        let (hangUps, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { continuation.yield() }
        source.resume()
        defer { source.cancel() }
        logger.info("route rules: reloading \(file.path) on SIGHUP", metadata: ["rules": "\(file.current.rules.count)"])
        for await _ in hangUps.cancelOnGracefulShutdown() {
            do {
                let rules = try file.reload()
                logger.notice("route rules reloaded", metadata: ["file": "\(file.path)", "rules": "\(rules.rules.count)", "default": "\(rules.defaultDecision.rawValue)"])
            } catch {
                logger.error("route rules not reloaded; the previous rules stay in use: \(error)")
            }
        }
    }
}
