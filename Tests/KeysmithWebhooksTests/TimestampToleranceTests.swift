import Foundation
import KeysmithWebhooks
import Testing

@Suite("Timestamp tolerance")
struct TimestampToleranceTests {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    let id = "evt_ts"
    let body = Array("{}".utf8)
    let now = Date(timeIntervalSince1970: 1_700_000_000)

    /// Verifies a correctly signed delivery sent `offset` seconds from `now`.
    func verify(sentAt offset: Int64, tolerance: Duration = .seconds(300)) throws(WebhookVerificationError) {
        let timestamp = 1_700_000_000 + offset
        let signature = WebhookSigner(secret: secret).standardSignature(id: id, timestamp: timestamp, body: body)
        try WebhookVerifier(secret: secret, tolerance: tolerance).verifyStandard(
            body: body, id: id, timestamp: String(timestamp), signatures: signature, now: now)
    }

    @Test func timestampSixMinutesOldFailsAsTooOld() {
        #expect(throws: WebhookVerificationError.timestampTooOld) { try verify(sentAt: -360) }
    }

    @Test func timestampSixMinutesInFutureFailsAsTooNew() {
        #expect(throws: WebhookVerificationError.timestampTooNew) { try verify(sentAt: 360) }
    }

    @Test func timestampFourMinutesOffPassesBothWays() throws {
        try verify(sentAt: -240)
        try verify(sentAt: 240)
    }

    @Test func timestampExactlyAtToleranceEdgePasses() throws {
        try verify(sentAt: -300)
        try verify(sentAt: 300)
        #expect(throws: WebhookVerificationError.timestampTooOld) { try verify(sentAt: -301) }
        #expect(throws: WebhookVerificationError.timestampTooNew) { try verify(sentAt: 301) }
    }

    @Test func customToleranceIsHonoured() throws {
        try verify(sentAt: -50, tolerance: .seconds(60))
        #expect(throws: WebhookVerificationError.timestampTooOld) { try verify(sentAt: -61, tolerance: .seconds(60)) }
        #expect(throws: WebhookVerificationError.timestampTooNew) { try verify(sentAt: 61, tolerance: .seconds(60)) }
    }

    @Test func defaultNowIsTheCurrentTime() throws {
        let timestamp = Int64(Date().timeIntervalSince1970)
        let signature = WebhookSigner(secret: secret).standardSignature(id: id, timestamp: timestamp, body: body)
        try WebhookVerifier(secret: secret).verifyStandard(
            body: body, id: id, timestamp: String(timestamp), signatures: signature)
    }

    @Test(arguments: ["abc", "1700000000.5", "-1700000000", "+1700000000", " 1700000000", "1700000000 ", "1e9", "99999999999999999999", "١٧٠٠٠٠٠٠٠٠"])
    func nonNumericTimestampFailsAsInvalidTimestamp(timestamp: String) {
        #expect(throws: WebhookVerificationError.invalidTimestamp) {
            try WebhookVerifier(secret: secret).verifyStandard(
                body: body, id: id, timestamp: timestamp, signatures: "v1,AAAA", now: now)
        }
    }
}
