import KeysmithWebhooks
import Testing

@Suite("X-DialNexa-Signature")
struct DialNexaSignatureTests {
    @Test func dialNexaSignatureMatchesSeedPythonReceiver() {
        let signer = WebhookSigner(secret: TestVectors.plainSecret)
        #expect(signer.dialNexaSignature(body: TestVectors.jsonBody) == TestVectors.dialNexaPlain)
    }

    @Test func dialNexaSignatureKeysWithWholeWhsecSecretString() {
        let signer = WebhookSigner(secret: TestVectors.whsecSecret)
        #expect(signer.dialNexaSignature(body: TestVectors.jsonBody) == TestVectors.dialNexaWhsec)
    }

    @Test func dialNexaSignatureEncodesNonASCIISecretAsUTF8() {
        let signer = WebhookSigner(secret: TestVectors.unicodeSecret)
        #expect(signer.dialNexaSignature(body: TestVectors.unicodeBody) == TestVectors.dialNexaUnicode)
    }

    @Test func dialNexaSignatureIsLowercaseHexOf32Bytes() {
        let signature = WebhookSigner(secret: "s").dialNexaSignature(body: [UInt8]())
        #expect(signature.count == 64)
        #expect(signature.allSatisfy { "0123456789abcdef".contains($0) })
    }

    @Test func dialNexaSignatureIsTheSameForAnyByteSequence() {
        let signer = WebhookSigner(secret: TestVectors.plainSecret)
        // A lazily mapped sequence has no contiguous storage.
        let lazyBody = TestVectors.jsonBody.lazy.map { $0 }
        #expect(signer.dialNexaSignature(body: lazyBody) == TestVectors.dialNexaPlain)
        #expect(signer.dialNexaSignature(body: TestVectors.jsonBody[...]) == TestVectors.dialNexaPlain)
    }

    @Test func verifierAcceptsPythonComputedDialNexaSignature() throws {
        let verifier = WebhookVerifier(secret: TestVectors.plainSecret)
        try verifier.verifyDialNexa(body: TestVectors.jsonBody, signature: TestVectors.dialNexaPlain)
        try verifier.verifyDialNexa(body: TestVectors.jsonBody, signature: TestVectors.dialNexaPlain.uppercased())
    }
}
