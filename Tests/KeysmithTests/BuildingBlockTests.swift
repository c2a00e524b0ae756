import Foundation
import Logging
import Testing

@testable import Keysmith
@testable import KeysmithCore

/// Known answers for the small pieces everything else stands on.
@Suite struct BuildingBlockTests {
    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    /// Every character of the alphabet, about equally often: a chi-squared statistic over 620,000 draws
    /// from 62 characters (61 degrees of freedom) passes 140 with probability below one in a million.
    @Test func secureRandomCharactersAreUniformOverTheAlphabet() {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        var counts = [UInt8: Int]()
        for _ in 0..<10_000 {
            let drawn = SecureRandom.characters(62, from: alphabet)
            #expect(drawn.count == 62)
            for byte in drawn { counts[byte, default: 0] += 1 }
        }
        #expect(Set(counts.keys) == Set(alphabet))
        let expected = 620_000.0 / 62
        let chiSquared = counts.values.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        #expect(chiSquared < 140, "chi-squared \(chiSquared)")
        #expect(SecureRandom.bytes(0).isEmpty && SecureRandom.bytes(33).count == 33)
        #expect(SecureRandom.string(20, from: alphabet) != SecureRandom.string(20, from: alphabet))
    }

    /// Statements run on SQLite with anonymous `?` parameters: `SQLStatement` numbers values in the order
    /// they appear, nested statements and lists included; out of order, `?n` keeps each value in place.
    @Test func sqlStatementsBindTheRightValuesOnSQLite() async throws {
        let database = try await SQLiteFile.open(path: TemporaryFile.path(suffix: ".sqlite"), logger: Logger(label: "keysmith-test"))
        let inner: SQLStatement = "\("b") || \("c")"
        let row = try #require(try await database.first("SELECT \("a") AS first, (\(inner)) AS second, \(Int64(4)) AS third, \(Timestamp(milliseconds: 9)) AS fourth"))
        #expect(row.text("first") == "a" && row.text("second") == "bc" && row.integer("third") == 4 && row.integer("fourth") == 9)
        #expect(SQLiteFile.sqliteText(of: "SELECT \("a"), \(inner), \(Int64(1))") == "SELECT ?, ? || ?, ?")
        #expect(SQLiteFile.sqliteText(of: SQLStatement(stringLiteral: "SELECT $2, $1")) == "SELECT ?2, ?1")
        let listed = try await database.execute("SELECT column1 AS n FROM (\(SQLStatement.values([7, 8, 9]) { [.integer(Int64($0))] })) AS v WHERE column1 IN (\(list: [.integer(8), .integer(9)]))")
        #expect(listed.compactMap { $0.integer("n") }.sorted() == [8, 9])
        try await database.close()
    }

    @Test func jsonWriterEscapesWhatJSONRequiresAndKeepsOrder() throws {
        var writer = JSONWriter()
        writer.object { json in
            json.field("b", "quote \" backslash \\ newline \n tab \t nul \u{0} emoji \u{1F600}")
            json.field("a", nil as String?)
            json.field("n", 42)
            json.field("t", true)
            json.key("list")
            json.array([1, 2]) { json, item in json.raw(String(item)) }
        }
        let text = String(decoding: writer.bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"b":"quote \" backslash \\ newline \n tab \t nul \u0000 emoji 😀","a":null,"n":42,"t":true,"list":[1,2]}"#))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [String: Any])
        #expect(parsed["b"] as? String == "quote \" backslash \\ newline \n tab \t nul \u{0} emoji \u{1F600}")
    }

    @Test(arguments: [
        ("10.0.0.0/8", "10.255.1.2", true), ("10.0.0.0/8", "11.0.0.1", false),
        ("192.168.1.7", "192.168.1.7", true), ("192.168.1.7", "192.168.1.8", false),
        ("2001:db8::/32", "2001:db8:ffff::1", true), ("2001:db8::/32", "2001:db9::1", false),
        ("127.0.0.0/8", "::ffff:127.0.0.9", true),  // a dual-stack socket's view of an IPv4 peer
        ("0.0.0.0/0", "203.0.113.1", true), ("::/0", "203.0.113.1", false),
    ])
    func ipRangesContainWhatTheyShould(_ range: String, _ address: String, _ expected: Bool) throws {
        let parsed = try #require(IPRange(range))
        let ip = try #require(IPAddress(address))
        #expect(parsed.contains(ip) == expected)
    }

    @Test(arguments: ["", "10.0.0.0/33", "::/129", "10.0.0.1/", "example.com", "10.0.0.1:80", "1.2.3", "10.0.0.0/8/8", "fe80::1%eth0"])
    func malformedRangesAreRefused(_ text: String) {
        #expect(IPRange(text) == nil)
    }

    @Test func secretBoxOpensWhatItSealedOnlyForTheSameWebhook() throws {
        let box = try SecretBox(key: Array(repeating: 7, count: 32))
        let sealed = try box.seal("whsec_the-secret", webhookID: "wh_a")
        #expect(!sealed.contains("the-secret"))
        #expect(try box.open(sealed, webhookID: "wh_a") == "whsec_the-secret")
        #expect(throws: (any Error).self) { try box.open(sealed, webhookID: "wh_b") }
        let other = try SecretBox(key: Array(repeating: 8, count: 32))
        #expect(throws: (any Error).self) { try other.open(sealed, webhookID: "wh_a") }
        #expect(try box.seal("same", webhookID: "wh_a") != box.seal("same", webhookID: "wh_a"), "a fresh nonce every time")
        #expect(throws: (any Error).self) { try SecretBox(key: Array(repeating: 7, count: 16)) }
    }

    @Test func queryParametersAreFormDecoded() {
        let query = QueryParameters("search=a+b%2Bc&page=2&empty=&flag&bad=%zz&utf=%C3%A9")
        #expect(query["search"] == "a b+c")
        #expect(query["page"] == "2")
        #expect(query["empty"] == "")
        #expect(query["flag"] == "")
        #expect(query["bad"] == "%zz")
        #expect(query["utf"] == "é")
        #expect(query["missing"] == nil)
    }
}
