import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import SQLiteNIO
import Testing

@testable import Keysmith

/// Places where the two backends once disagreed, and the store's own guarantees.
@Suite struct StoreAgreementTests {
    @Test(arguments: Backend.available)
    func aKeyWithAnUnknownStoredScopeIsRefusedNotDowngraded(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (created, token) = try await client.createKey(ws.adminToken, #"{"name": "from the future", "scope": "read"}"#)
            let id = try #require(created["id"].string)
            // A newer version (or a hand edit) wrote a scope this version does not know.
            let store = try #require(ws.store as? SQLKeyStore)
            _ = try await store.database.execute("UPDATE api_keys SET scope = 'superuser' WHERE id = \(id)")
            #expect(try await ws.store.key(id: id) == nil)
            let (status, _, response) = try await client.call(.get, "/v1/auth/whoami", token: token)
            #expect(status == .unauthorized)
            #expect(String(buffer: response.body) == unauthorizedBody)
        }
    }

    /// Updates are one conditional `UPDATE … RETURNING` on both backends (SQLite used to read, then write):
    /// a rename racing a revocation either happens before it or finds the key gone, and never undoes it.
    @Test(arguments: Backend.available)
    func aRenameRacingARevocationNeverUndoesIt(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            for round in 0..<8 {
                let (created, _) = try await client.createKey(ws.adminToken, #"{"name": "racing \#(round)"}"#)
                let id = try #require(created["id"].string)
                async let renamed = client.call(.patch, "/v1/api-keys/\(id)", token: ws.adminToken, body: #"{"name": "renamed \#(round)"}"#)
                async let revoked = client.call(.delete, "/v1/api-keys/\(id)", token: ws.adminToken)
                let (rename, revoke) = try await (renamed, revoked)
                #expect(revoke.status == .ok)
                #expect(rename.status == .ok || rename.status == .notFound)
                let stored = try #require(try await ws.store.key(id: id))
                #expect(stored.revokedAt != nil, "round \(round): the rename must not undo the revocation")
                #expect(stored.name == (rename.status == .ok ? "renamed \(round)" : "racing \(round)"))
            }
        }
    }

    /// The change feed runs on the database's clock on both backends (SQLite used the application's):
    /// a poll from the cursor of an earlier poll sees a change made between the two.
    @Test(arguments: Backend.available)
    func theChangeFeedCursorIsTheDatabasesClock(_ backend: Backend) async throws {
        try await withApp(backend) { client, ws in
            let (created, _) = try await client.createKey(ws.adminToken, #"{"name": "fed"}"#)
            let id = try #require(created["id"].string)
            let store = try #require(ws.store as? SQLKeyStore)
            let before = try await store.keysChanged(since: nil).cursor
            let clock = try #require(try await store.database.first("SELECT \(raw: store.dialect.now) AS now")?.time("now"))
            #expect(abs(clock.milliseconds - before.milliseconds) < 5_000)
            _ = try await client.call(.delete, "/v1/api-keys/\(id)", token: ws.adminToken)
            let (changes, after) = try await store.keysChanged(since: before)
            #expect(changes.map(\.keyID).contains(id))
            #expect(after >= before)
        }
    }

    @Test func sqliteSyncsEveryCommitToDisk() async throws {
        let location = Backend.sqlite.freshLocation()
        try await location.withStore(logger: Logger(label: "keysmith-test")) { store in
            let sqlite = try #require((store as? SQLKeyStore)?.database as? SQLiteFile)
            let mode = try await sqlite.writer.query("PRAGMA synchronous").first?.column("synchronous")?.integer
            #expect(mode == 2, "synchronous=FULL")
        }
    }

    @Test func aFileThatIsNotADatabaseIsAnErrorNotACrash() async throws {
        let path = TemporaryFile.path(suffix: ".sqlite")
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        await #expect(throws: (any Error).self) {
            try await StoreLocation.sqlite(path: path).withStore(logger: Logger(label: "keysmith-test")) { _ in }
        }
    }

    @Test func postgresURLsArePercentDecodedOnce() throws {
        let parts = try PostgresPool.URLParts("postgres://us%40er:p%2541ss%3Aword@db.example.com:6543/keys")
        #expect(parts.username == "us@er")
        #expect(parts.password == "p%41ss:word")
        #expect(parts.port == 6543)
        #expect(parts.database == "keys")
        #expect(parts.poolSize == 20 && parts.poolTimeoutSeconds == 5)
    }

    @Test func poolSizeAndTimeoutAreReadAndBounded() throws {
        let parts = try PostgresPool.URLParts("postgres://u@db.example.com/k?pool_size=3&pool_timeout=30")
        #expect(parts.poolSize == 3 && parts.poolTimeoutSeconds == 30)
        for bad in ["pool_size=0", "pool_size=101", "pool_size=x", "pool_timeout=0", "pool_timeout=121", "pool_timeout=1.5"] {
            #expect(throws: StoreConfigurationError.self) { try PostgresPool.URLParts("postgres://u@db.example.com/k?\(bad)") }
        }
    }

    @Test(arguments: [
        ("postgres://u@db.example.com/k", "require"),
        ("postgres://u@10.1.2.3/k", "require"),
        ("postgres://u@localhost/k", "prefer"),
        ("postgres://u@127.0.0.1/k", "prefer"),
        ("postgres://u@[::1]/k", "prefer"),
        ("postgres://u@db.example.com/k?sslmode=disable", "disable"),
    ])
    func sslIsRequiredByDefaultForHostsThatAreNotLoopback(_ url: String, _ mode: String) throws {
        #expect(try PostgresPool.URLParts(url).sslMode == mode)
    }
}
