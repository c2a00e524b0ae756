// The cost of one route-rules decision (normalise the original URI, first match), as /v1/auth/verify pays it
// per request: bench/route-rules.sh compiles this with the domain's route files, optimised, and runs it.
import Foundation

/// This process's CPU time in nanoseconds: on a loaded machine, wall-clock time would count other work too.
func cpuNanoseconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) * 1e9 + Double(time.tv_nsec)
}

let shipped = try RouteRules.parse(Array(FileManager.default.contents(atPath: CommandLine.arguments[1])!), file: "deploy/route-rules.json")
// A platform with many routes: 200 rules ahead of the calls rules, none of which match /v1/calls.
var many = (0..<200).map { #"{"methods": ["GET"], "path": "/v1/service\#($0)/**", "permissions": ["service\#($0).read"], "case_sensitive": false}"# }
many.append(#"{"path": "/v1/calls/**", "permissions": ["calls.read"], "case_sensitive": false}"#)
let large = try RouteRules.parse(Array(#"{"default": "deny", "rules": [\#(many.joined(separator: ",\n"))]}"#.utf8), file: "many")

let targets = ["/v1/calls/42", "/V1/CALLS/42?page=2", "/v1/x/../%63alls//42/notes", "/v1/agents/7", "/v1/calls.json"]
for (name, rules) in [("shipped (4 rules)", shipped), ("200 rules, match last", large)] {
    var sink = 0
    let rounds = 200_000
    var best = Double.infinity
    for _ in 0..<5 {
        let start = cpuNanoseconds()
        for i in 0..<rounds {
            if case .require(let p, _) = rules.decide(method: "GET", target: targets[i % targets.count]) { sink &+= p.count }
        }
        best = min(best, cpuNanoseconds() - start)
    }
    print("\(name): \(String(format: "%.0f", best / Double(rounds))) ns of CPU per decision (best of 5 rounds of \(rounds); \(sink) permissions required in all)")
}
