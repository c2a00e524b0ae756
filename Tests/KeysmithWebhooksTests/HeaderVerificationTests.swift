import Foundation
import KeysmithWebhooks
import Testing

@Suite("verify(body:headers:)")
struct HeaderVerificationTests {
    let secret = TestVectors.whsecSecret
    let body = TestVectors.jsonBody
    let now = Date(timeIntervalSince1970: TimeInterval(TestVectors.timestamp))
    var verifier: WebhookVerifier { WebhookVerifier(secret: secret) }
    /// Opted in to the bare, replayable `X-DialNexa-Signature`.
    var replayableVerifier: WebhookVerifier { WebhookVerifier(secret: secret, acceptsBareDialNexaSignature: true) }

    var allHeaders: [String: String] {
        [
            "X-DialNexa-Signature": TestVectors.dialNexaWhsec,
            "webhook-id": TestVectors.eventID,
            "webhook-timestamp": String(TestVectors.timestamp),
            "webhook-signature": TestVectors.standardWhsec,
        ]
    }

    @Test func allFourHeadersPass() throws {
        try verifier.verify(body: body, headers: allHeaders, now: now)
    }

    @Test func headerNamesAreCaseInsensitive() throws {
        try verifier.verify(
            body: body,
            headers: [
                "WEBHOOK-ID": TestVectors.eventID,
                "Webhook-Timestamp": String(TestVectors.timestamp),
                "Webhook-Signature": TestVectors.standardWhsec,
            ],
            now: now)
        try replayableVerifier.verify(body: body, headers: ["x-dialnexa-signature": TestVectors.dialNexaWhsec], now: now)
        try replayableVerifier.verify(body: body, headers: ["X-DIALNEXA-SIGNATURE": TestVectors.dialNexaWhsec], now: now)
    }

    /// By default the Standard Webhooks headers are required: their timestamp is the replay protection.
    @Test func dialNexaSignatureAloneIsRefusedByDefault() {
        #expect(throws: WebhookVerificationError.missingHeader("webhook-id")) {
            try verifier.verify(body: body, headers: ["X-DialNexa-Signature": TestVectors.dialNexaWhsec], now: now)
        }
    }

    @Test func dialNexaSignatureAloneIsEnoughWhenOptedIn() throws {
        try replayableVerifier.verify(body: body, headers: ["X-DialNexa-Signature": TestVectors.dialNexaWhsec])
    }

    @Test func optingInStillChecksStandardHeadersWhenPresent() {
        var headers = allHeaders
        headers["webhook-timestamp"] = nil
        #expect(throws: WebhookVerificationError.missingHeader("webhook-timestamp")) {
            try replayableVerifier.verify(body: body, headers: headers, now: now)
        }
    }

    @Test func standardHeadersTakePrecedenceOverDialNexa() {
        var headers = allHeaders
        headers["webhook-signature"] = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        #expect(throws: WebhookVerificationError.invalidSignature) {
            try verifier.verify(body: body, headers: headers, now: now)
        }
    }

    @Test func noSignatureHeadersFailsAsMissingDialNexaSignature() {
        #expect(throws: WebhookVerificationError.missingHeader("webhook-id")) {
            try verifier.verify(body: body, headers: ["Content-Type": "application/json"], now: now)
        }
        #expect(throws: WebhookVerificationError.missingHeader("X-DialNexa-Signature")) {
            try replayableVerifier.verify(body: body, headers: ["Content-Type": "application/json"], now: now)
        }
    }

    @Test(arguments: ["webhook-id", "webhook-timestamp", "webhook-signature"])
    func missingStandardHeaderIsNamed(missing: String) {
        var headers = allHeaders
        headers[missing] = nil
        #expect(throws: WebhookVerificationError.missingHeader(missing)) {
            try verifier.verify(body: body, headers: headers, now: now)
        }
    }

    @Test(arguments: ["webhook-id", "webhook-timestamp", "webhook-signature"])
    func emptyStandardHeaderCountsAsMissing(empty: String) {
        var headers = allHeaders
        headers[empty] = ""
        #expect(throws: WebhookVerificationError.missingHeader(empty)) {
            try verifier.verify(body: body, headers: headers, now: now)
        }
    }

    @Test func emptyDialNexaSignatureCountsAsMissing() {
        #expect(throws: WebhookVerificationError.missingHeader("X-DialNexa-Signature")) {
            try replayableVerifier.verify(body: body, headers: ["X-DialNexa-Signature": ""], now: now)
        }
    }

    @Test func staleTimestampIsReportedThroughHeaders() {
        #expect(throws: WebhookVerificationError.timestampTooOld) {
            try verifier.verify(body: body, headers: allHeaders, now: now.addingTimeInterval(360))
        }
    }
}
