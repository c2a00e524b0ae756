import Foundation
import KeysmithWebhooks
import Testing

@Suite("Secret generation")
struct SecretGenerationTests {
    @Test func generatedSecretStartsWithWhsecAndDecodesTo32Bytes() throws {
        let secret = WebhookSigner.generateSecret()
        #expect(secret.hasPrefix("whsec_"))
        let decoded = try #require(Data(base64Encoded: String(secret.dropFirst("whsec_".count))))
        #expect(decoded.count == 32)
    }

    @Test func twoGeneratedSecretsDiffer() {
        #expect(WebhookSigner.generateSecret() != WebhookSigner.generateSecret())
    }

    @Test func whsecSecretOfGeneratedShapeKeysWithDecodedBytes() {
        // "whsec_" + 32 base64 'A's decodes to 24 zero bytes, the key Python uses here:
        // python3 -c 'import hmac,hashlib,base64; print("v1,"+base64.b64encode(hmac.new(bytes(24), b"evt_1.1.{}", hashlib.sha256).digest()).decode())'
        let signer = WebhookSigner(secret: "whsec_" + String(repeating: "A", count: 32))
        let signature = signer.standardSignature(id: "evt_1", timestamp: 1, body: Array("{}".utf8))
        #expect(signature == "v1,muCx1fPIWZVtN0cl/vho4tzy0i7qQUXwCYxUCtYIGFg=")
    }

    @Test func generatedSecretRoundTrips() throws {
        let secret = WebhookSigner.generateSecret()
        let body = Array("{}".utf8)
        let headers = WebhookSigner(secret: secret).headers(id: "evt_1", timestamp: 1_700_000_000, body: body)
        try WebhookVerifier(secret: secret).verify(
            body: body,
            headers: Dictionary(uniqueKeysWithValues: headers.map { ($0.name, $0.value) }),
            now: Date(timeIntervalSince1970: 1_700_000_000))
    }
}
