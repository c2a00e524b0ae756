import Foundation
import KeysmithWebhooks
import Testing

@Suite("Standard Webhooks signature")
struct StandardSignatureTests {
    @Test func standardSignatureWithWhsecSecretKeysWithBase64DecodedBytes() {
        let signer = WebhookSigner(secret: TestVectors.whsecSecret)
        let signature = signer.standardSignature(
            id: TestVectors.eventID, timestamp: TestVectors.timestamp, body: TestVectors.jsonBody)
        #expect(signature == TestVectors.standardWhsec)
    }

    @Test func standardSignatureWithPlainSecretKeysWithRawUTF8Bytes() {
        let signer = WebhookSigner(secret: TestVectors.plainSecret)
        let signature = signer.standardSignature(
            id: TestVectors.eventID, timestamp: TestVectors.timestamp, body: TestVectors.jsonBody)
        #expect(signature == TestVectors.standardPlain)
    }

    @Test func standardSignatureMatchesPublishedSpecExample() {
        let signer = WebhookSigner(secret: TestVectors.whsecSecret)
        let signature = signer.standardSignature(
            id: TestVectors.specExampleID, timestamp: TestVectors.specExampleTimestamp,
            body: TestVectors.specExampleBody)
        #expect(signature == TestVectors.specExampleSignature)
    }

    @Test func verifierAcceptsPythonComputedStandardSignatures() throws {
        let now = Date(timeIntervalSince1970: TimeInterval(TestVectors.timestamp))
        try WebhookVerifier(secret: TestVectors.whsecSecret).verifyStandard(
            body: TestVectors.jsonBody, id: TestVectors.eventID, timestamp: String(TestVectors.timestamp),
            signatures: TestVectors.standardWhsec, now: now)
        try WebhookVerifier(secret: TestVectors.plainSecret).verifyStandard(
            body: TestVectors.jsonBody, id: TestVectors.eventID, timestamp: String(TestVectors.timestamp),
            signatures: TestVectors.standardPlain, now: now)
    }

    @Test func headersAreAllFourInOrder() {
        let signer = WebhookSigner(secret: TestVectors.whsecSecret)
        let headers = signer.headers(
            id: TestVectors.eventID, timestamp: TestVectors.timestamp, body: TestVectors.jsonBody)
        #expect(headers.map(\.name) == [
            "X-DialNexa-Signature", "webhook-id", "webhook-timestamp", "webhook-signature",
        ])
        #expect(headers.map(\.value) == [
            TestVectors.dialNexaWhsec, TestVectors.eventID, "1674087231", TestVectors.standardWhsec,
        ])
    }
}
