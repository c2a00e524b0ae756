import Foundation
import Testing

@testable import Keysmith

@Suite struct APIKeyTokenTests {
    @Test func generatedTokenMatchesTheDocumentedScannerRegex() throws {
        let regex = try Regex("^[a-z]{14}:ks_[0-9A-Za-z]{38}$")
        for _ in 0..<200 {
            let token = APIKeyToken.generate(prefix: "ks_")
            #expect(token.bearer.wholeMatch(of: regex) != nil, "\(token.keyID)")
        }
    }

    @Test func generatedTokenParsesBackToItsParts() throws {
        let token = APIKeyToken.generate(prefix: "acme_")
        let parsed = try #require(APIKeyToken(bearer: Substring(token.bearer)))
        #expect(parsed == token)
        #expect(parsed.secret.hasPrefix("acme_"))
    }

    @Test func twoTokensNeverShareIDOrSecret() {
        var ids = Set<String>(), secrets = Set<String>()
        for _ in 0..<1000 {
            let token = APIKeyToken.generate(prefix: "ks_")
            ids.insert(token.keyID)
            secrets.insert(token.secret)
        }
        #expect(ids.count == 1000 && secrets.count == 1000)
    }

    @Test(arguments: [0, 5, 14, 20, 30, 40])
    func anySingleCharacterChangeFailsTheChecksum(position: Int) throws {
        let token = APIKeyToken.generate(prefix: "ks_").bearer
        var characters = Array(token)
        guard position < characters.count, characters[position] != ":" else { return }
        characters[position] = characters[position] == "a" ? "b" : "a"
        #expect(APIKeyToken(bearer: Substring(String(characters))) == nil)
    }

    @Test(arguments: [
        "", "abc", "abcdefghijklmn", "abcdefghijklmn:", ":ks_abc", "ABCDEFGHIJKLMN:ks_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "abcdefghijklm:ks_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abcdefghijklmn:ks_ aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "abcdefghijklmn:123456a1b1234b",
    ])
    func malformedTokensAreRejectedWithoutLookup(token: String) {
        #expect(APIKeyToken(bearer: Substring(token)) == nil)
    }

    @Test func secretHashMatchesOnlyItsSecret() {
        let token = APIKeyToken.generate(prefix: "ks_")
        let hash = SecretHash(secret: token.secret)
        #expect(hash.matches(secret: token.secret))
        #expect(!hash.matches(secret: token.secret + "x"))
        #expect(!hash.matches(secret: APIKeyToken.generate(prefix: "ks_").secret))
        #expect(hash.bytes.count == 32)
    }

    @Test(arguments: ["ks_", "acme_", "k1_"]) func validPrefixesAreAccepted(prefix: String) {
        #expect(KeyIssuer.isValidPrefix(prefix))
    }

    @Test(arguments: ["", "ks", "KS_", "a b_", "toolongprefixxxxx_", "ks-"]) func invalidPrefixesAreRefused(prefix: String) {
        #expect(!KeyIssuer.isValidPrefix(prefix))
    }

    @Test func timestampsUseTheSeedFormat() {
        #expect(Timestamp(milliseconds: 1_709_287_200_000).description == "2024-03-01T10:00:00.000Z")
        #expect(Timestamp(milliseconds: 1_715_623_200_123).description == "2024-05-13T18:00:00.123Z")
        #expect(Timestamp(milliseconds: 0).description == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp(iso8601: "2024-03-01T10:00:00.000Z")?.milliseconds == 1_709_287_200_000)
        #expect(Timestamp(iso8601: "2024-03-01T12:00:00+02:00")?.milliseconds == 1_709_287_200_000)
        #expect(Timestamp(iso8601: "yesterday") == nil)
        // RFC 3339's shape only: Foundation alone would take the offsets below.
        for malformed in ["2096-08-05T03:51:35+01:60", "2096-08-05T03:51:35+0100", "2096-08-05T03:51:35+19:00",
                          "2096-08-05 03:51:35Z", "2096-08-05T03:51:35", "2096-08-05T03:51:35.Z", "2096-08-05T03:51:35.1234567890Z"] {
            #expect(Timestamp(iso8601: malformed) == nil, "\(malformed)")
        }
        #expect(Timestamp(iso8601: "2096-08-05T03:51:35.123456Z") != nil)
        #expect(Timestamp(iso8601: "2096-08-05T03:51:35-18:00") != nil)
    }

    @Test func timestampsAreFormattedAsFoundationFormatsThem() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var generator = SystemRandomNumberGenerator()
        let edges: [Int64] = [0, 1, 999, 86_399_999, 951_782_400_000, 4_107_542_399_999, 253_402_300_799_999]
        for milliseconds in edges + (0..<2000).map({ _ in Int64.random(in: 0...253_402_300_799_999, using: &generator) }) {
            let timestamp = Timestamp(milliseconds: milliseconds)
            #expect(timestamp.description == formatter.string(from: timestamp.date), "\(milliseconds)")
            #expect(Timestamp(iso8601: timestamp.description) == timestamp, "\(milliseconds)")
        }
    }
}
