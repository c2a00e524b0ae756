import Foundation
import Testing

@testable import Keysmith

/// The binary as an operator runs it: first start, restart, the CLI, and what it writes where.
@Suite(.serialized) struct ProcessTests {
    /// stdout here is a pipe, as under systemd or Docker, where it is a log: the key goes to a new file only
    /// its owner can read, and the log names the file, never the key.
    @Test func firstStartWritesOneAdminKeyToAPrivateFileAndKeysSurviveARestart() async throws {
        let database = TemporaryFile.path(suffix: ".sqlite")
        let first = try ServerProcess(database: database)
        try await first.waitUntilReady()
        var (stdout, stderr) = first.stop()
        let keyFile = try #require(first.bootstrapKeyFile(in: stderr), "the log names the key file: \(stderr)")
        let attributes = try FileManager.default.attributesOfItem(atPath: keyFile)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let contents = try String(contentsOfFile: keyFile, encoding: .utf8)
        let adminToken = try #require(contents.firstMatch(of: try Regex("[a-z]{14}:ks_[0-9A-Za-z]{38}"))).output[0].substring.map(String.init)
        let token = try #require(adminToken)
        #expect(contents.contains("ONLY ONCE"))
        #expect(!stdout.contains(token.split(separator: ":")[1]) && !stdout.contains("ONLY ONCE"), "nothing of the key on stdout")
        #expect(!stderr.contains(token.split(separator: ":")[1]), "the secret never reaches a log line")

        let second = try ServerProcess(database: database)
        try await second.waitUntilReady()
        let (status, body) = try await second.request("GET", "/v1/auth/whoami", token: token)
        #expect(status == 200, "\(body)")
        let (created, createdBody) = try await second.request("POST", "/v1/api-keys", token: token, body: #"{"name": "survivor"}"#)
        #expect(created == 201)
        let secret = try #require(try JSON(.init(string: createdBody))["secret"].string)
        (stdout, stderr) = second.stop()
        #expect(second.bootstrapKeyFile(in: stderr) == nil, "no second bootstrap on a database that has a workspace")
        #expect(!stderr.contains(secret.split(separator: ":")[1]) && !stderr.contains(token.split(separator: ":")[1]))

        let third = try ServerProcess(database: database)
        try await third.waitUntilReady()
        let (again, _) = try await third.request("GET", "/v1/auth/whoami", token: secret)
        #expect(again == 200)
        _ = third.stop()

        // The database holds hashes only: neither secret appears in the file or its WAL.
        for file in [database, database + "-wal"] where FileManager.default.fileExists(atPath: file) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            for secretPart in [token.split(separator: ":")[1], secret.split(separator: ":")[1]] {
                #expect(bytes.range(of: Data(secretPart.utf8)) == nil, "\(file) contains a secret")
            }
        }
    }

    @Test func theCacheMemoryIsGivenWithABinaryUnit() async throws {
        let database = TemporaryFile.path(suffix: ".sqlite")
        for refused in ["512MB", "512KiB"] {
            let result = try KeysmithBinary.run(["serve", "--database", database, "--port", "0", "--cache-memory", refused])
            #expect(result.status != 0 && result.stderr.contains("--cache-memory '\(refused)' must be at least 1MiB"), "\(result.stderr)")
        }
        let server = try ServerProcess(database: database, extraArguments: ["--cache-memory", "64MiB"])
        try await server.waitUntilReady()
        _ = server.stop()
    }

    @Test func workspaceCreateJSONIsOneObjectWithAWorkingKey() async throws {
        let database = TemporaryFile.path(suffix: ".sqlite")
        let result = try KeysmithBinary.run(["workspace", "create", "Acme", "--database", database, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let json = try JSON(.init(string: String(lines[0])))
        let secret = try #require(json["secret"].string)
        let workspaceID = try #require(json["workspace_id"].string)
        #expect(json["workspace_name"].string == "Acme")

        let duplicate = try KeysmithBinary.run(["workspace", "create", "Acme", "--database", database, "--json"])
        #expect(duplicate.status != 0 && duplicate.stderr.contains("already exists"))

        let server = try ServerProcess(database: database)
        try await server.waitUntilReady()
        let (status, body) = try await server.request("GET", "/v1/auth/whoami", token: secret)
        #expect(status == 200)
        #expect(try JSON(.init(string: body))["workspace"]["id"].string == workspaceID)
        let (_, log) = server.stop()
        #expect(server.bootstrapKeyFile(in: log) == nil, "a database with a workspace is not bootstrapped again")
    }

    @Test func operatorCanListCreateAndRevokeKeysWithoutTheAPI() async throws {
        let database = TemporaryFile.path(suffix: ".sqlite")
        _ = try KeysmithBinary.run(["workspace", "create", "ops", "--database", database, "--json"])
        let created = try KeysmithBinary.run(["keys", "create", "--workspace", "ops", "--name", "break glass", "--database", database, "--json"])
        #expect(created.status == 0, "\(created.stderr)")
        let json = try JSON(.init(string: created.stdout))
        let id = try #require(json["id"].string)
        let secret = try #require(json["secret"].string)

        let server = try ServerProcess(database: database)
        try await server.waitUntilReady()
        let (before, _) = try await server.request("GET", "/v1/api-keys", token: secret)
        #expect(before == 200)

        let listed = try KeysmithBinary.run(["keys", "list", "--workspace", "ops", "--database", database, "--json"])
        #expect(listed.stdout.split(separator: "\n").count == 2 && listed.stdout.contains(id))
        #expect(!listed.stdout.contains(secret.split(separator: ":")[1]))

        let revoked = try KeysmithBinary.run(["keys", "revoke", id, "--database", database])
        #expect(revoked.status == 0, "\(revoked.stderr)")
        // The running server learns of the revocation from the change feed (its bound is tested with several
        // instances; here the deadline only ends a wait that would otherwise be endless).
        let deadline = ContinuousClock.now + .seconds(10)
        var status = 200
        while status != 401 && ContinuousClock.now < deadline {
            (status, _) = try await server.request("GET", "/v1/auth/whoami", token: secret)
        }
        #expect(status == 401)
        _ = server.stop()

        let bad = try KeysmithBinary.run(["keys", "create", "--workspace", "ops", "--name", " ", "--database", database])
        #expect(bad.status != 0 && bad.stderr.contains("name must not be empty"))
    }

    /// `keysmith backup` while the server serves and writes: the copy authenticates every key acknowledged
    /// before the backup began, and its webhook secrets open with the original key file and no other.
    @Test func aBackupTakenWhileServingRestoresEveryAcknowledgedKey() async throws {
        let database = TemporaryFile.path(suffix: ".sqlite")
        let workspace = try KeysmithBinary.run(["workspace", "create", "ops", "--database", database, "--json"])
        let admin = try #require(try JSON(.init(string: workspace.stdout))["secret"].string)
        let server = try ServerProcess(database: database, extraArguments: ["--allow-private-webhook-targets"])
        try await server.waitUntilReady()
        var acknowledged = [admin]
        for index in 0..<5 {
            let (status, body) = try await server.request("POST", "/v1/api-keys", token: admin, body: #"{"name": "before \#(index)"}"#)
            #expect(status == 201)
            acknowledged.append(try #require(try JSON(.init(string: body))["secret"].string))
        }
        let (hook, _) = try await server.request("POST", "/v1/webhooks", token: admin, body: #"{"url": "http://127.0.0.1:9/hook"}"#)
        #expect(hook == 201)

        // Writes go on while the copy is taken.
        let writes = Task {
            for index in 0..<20 { _ = try? await server.request("POST", "/v1/api-keys", token: admin, body: #"{"name": "during \#(index)"}"#) }
        }
        let copy = TemporaryFile.path(suffix: ".sqlite")
        let backup = try KeysmithBinary.run(["backup", copy, "--database", database])
        _ = await writes.result
        _ = server.stop()
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stdout.contains(database + ".key"), "the operator is told to keep the key file: \(backup.stdout)")
        let mode = (try FileManager.default.attributesOfItem(atPath: copy)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        #expect(try KeysmithBinary.run(["backup", copy, "--database", database]).status != 0, "an existing file is never overwritten")

        let restored = try ServerProcess(database: copy, extraArguments: ["--encryption-key-file", database + ".key"])
        try await restored.waitUntilReady()
        for token in acknowledged {
            #expect(try await restored.request("GET", "/v1/auth/whoami", token: token).0 == 200)
        }
        let (listed, hooks) = try await restored.request("GET", "/v1/webhooks", token: admin)
        #expect(listed == 200 && hooks.contains("127.0.0.1:9"))
        _ = restored.stop()

        // Another key cannot open the copy's webhook secrets: the server refuses to start.
        let wrongKey = try ServerProcess(database: copy, extraArguments: ["--encryption-key-file", TemporaryFile.path(suffix: ".key")])
        let exited = try await eventually(timeout: .seconds(60)) { !wrongKey.process.isRunning }
        let (_, log) = wrongKey.stop()
        #expect(exited && log.contains("encryption key"), "\(log.suffix(2000))")

        let postgres = try KeysmithBinary.run(["backup", copy + ".pg", "--database", "postgres://keysmith@127.0.0.1:1/keysmith"])
        #expect(postgres.status != 0 && postgres.stderr.contains("pg_dump"))
    }
}
