import Foundation
import KeysmithWebhooks
import Testing

@Suite("Signer to verifier")
struct WebhookVerifierTests {
    let secret = WebhookSigner.generateSecret()
    let id = "evt_01HZX3"
    let now = Date(timeIntervalSince1970: 1_700_000_000)
    var timestamp: Int64 { 1_700_000_000 }
    let body = Array(#"{"type":"key.revoked","data":{"id":"key_9"}}"#.utf8)

    func signedHeaders(secret: String? = nil, body: [UInt8]? = nil) -> [String: String] {
        let signer = WebhookSigner(secret: secret ?? self.secret)
        let pairs = signer.headers(id: id, timestamp: timestamp, body: body ?? self.body)
        return Dictionary(uniqueKeysWithValues: pairs.map { ($0.name, $0.value) })
    }

    @Test func roundTripPassesForBothSignatureSchemes() throws {
        let signer = WebhookSigner(secret: secret)
        let verifier = WebhookVerifier(secret: secret)
        try verifier.verifyDialNexa(body: body, signature: signer.dialNexaSignature(body: body))
        try verifier.verifyStandard(
            body: body, id: id, timestamp: String(timestamp),
            signatures: signer.standardSignature(id: id, timestamp: timestamp, body: body), now: now)
        try verifier.verify(body: body, headers: signedHeaders(), now: now)
    }

    @Test func roundTripPassesWithNonWhsecSecret() throws {
        let headers = signedHeaders(secret: "plain secret")
        try WebhookVerifier(secret: "plain secret").verify(body: body, headers: headers, now: now)
    }

    @Test func tamperedBodyFails() {
        let headers = signedHeaders()
        var tampered = body
        tampered[tampered.count - 2] ^= 0x01
        let verifier = WebhookVerifier(secret: secret)
        #expect(throws: WebhookVerificationError.invalidSignature) {
            try verifier.verify(body: tampered, headers: headers, now: now)
        }
        #expect(throws: WebhookVerificationError.invalidSignature) {
            try verifier.verifyDialNexa(body: tampered, signature: headers["X-DialNexa-Signature"]!)
        }
    }

    @Test func tamperedIDFails() {
        var headers = signedHeaders()
        headers["webhook-id"] = "evt_other"
        #expect(throws: WebhookVerificationError.invalidSignature) {
            try WebhookVerifier(secret: secret).verify(body: body, headers: headers, now: now)
        }
    }

    @Test func wrongSecretFails() {
        let headers = signedHeaders()
        let verifier = WebhookVerifier(secret: WebhookSigner.generateSecret())
        #expect(throws: WebhookVerificationError.invalidSignature) {
            try verifier.verify(body: body, headers: headers, now: now)
        }
        #expect(throws: WebhookVerificationError.invalidSignature) {
            try verifier.verifyDialNexa(body: body, signature: headers["X-DialNexa-Signature"]!)
        }
    }

    @Test func rotatedSecretWithTwoSignaturesPassesForEitherSecret() throws {
        let oldSecret = WebhookSigner.generateSecret()
        let newSecret = WebhookSigner.generateSecret()
        let old = WebhookSigner(secret: oldSecret).standardSignature(id: id, timestamp: timestamp, body: body)
        let new = WebhookSigner(secret: newSecret).standardSignature(id: id, timestamp: timestamp, body: body)
        for secret in [oldSecret, newSecret] {
            try WebhookVerifier(secret: secret).verifyStandard(
                body: body, id: id, timestamp: String(timestamp), signatures: "\(old) \(new)", now: now)
        }
        #expect(throws: WebhookVerificationError.invalidSignature) {
            try WebhookVerifier(secret: WebhookSigner.generateSecret()).verifyStandard(
                body: body, id: id, timestamp: String(timestamp), signatures: "\(old) \(new)", now: now)
        }
    }

    /// A signer mid-rotation sends `v1,<new> v1,<old>`; either secret verifies, and X-DialNexa uses the new one.
    @Test func signerWithPreviousSecretSignsWithBoth() throws {
        let oldSecret = WebhookSigner.generateSecret()
        let newSecret = WebhookSigner.generateSecret()
        let signer = WebhookSigner(secret: newSecret, previousSecrets: [oldSecret])
        let signatures = signer.standardSignature(id: id, timestamp: timestamp, body: body)
        let entries = signatures.split(separator: " ").map(String.init)
        #expect(entries == [WebhookSigner(secret: newSecret).standardSignature(id: id, timestamp: timestamp, body: body),
                            WebhookSigner(secret: oldSecret).standardSignature(id: id, timestamp: timestamp, body: body)])
        for secret in [oldSecret, newSecret] {
            try WebhookVerifier(secret: secret).verifyStandard(body: body, id: id, timestamp: String(timestamp), signatures: signatures, now: now)
        }
        #expect(signer.dialNexaSignature(body: body) == WebhookSigner(secret: newSecret).dialNexaSignature(body: body))
    }

    @Test func unknownVersionEntriesAreIgnored() throws {
        let valid = WebhookSigner(secret: secret).standardSignature(id: id, timestamp: timestamp, body: body)
        let v2 = "v2," + valid.dropFirst(3)
        let verifier = WebhookVerifier(secret: secret)
        // The right MAC under a v2 prefix is not accepted ...
        #expect(throws: WebhookVerificationError.invalidSignature) {
            try verifier.verifyStandard(body: body, id: id, timestamp: String(timestamp), signatures: v2, now: now)
        }
        // ... but does not stop a v1 entry from matching.
        try verifier.verifyStandard(
            body: body, id: id, timestamp: String(timestamp), signatures: "\(v2)  v1a,xyz \(valid)", now: now)
    }

    @Test(arguments: [
        "v1,!!!not base64!!!", "v1,", "v1", ",", "v1,YWJj", "v1,\(String(repeating: "A", count: 4096))",
        "v1,kWtzXXnh2K3pFw0lSe+cF0fc1Ax5yu65kOPXedS9jbw", "v1,kWtzXXnh2K3pFw0lSe-cF0fc1Ax5yu65kOPXedS9jbw=",
        "v1,é", " ",
    ])
    func malformedStandardSignatureFailsWithoutCrashing(signatures: String) {
        #expect(throws: WebhookVerificationError.invalidSignature) {
            try WebhookVerifier(secret: secret).verifyStandard(
                body: body, id: id, timestamp: String(timestamp), signatures: signatures, now: now)
        }
    }

    @Test(arguments: [
        "zz", "abc", "f7118b554290bf516141d69f478d5eef81946871dcf32ad12d08962d46de0e0", "0x7118b554290bf516141d69f478d5eef81946871dcf32ad12d08962d46de0e0b",
        "f7118b554290bf516141d69f478d5eef81946871dcf32ad12d08962d46de0e0b00", String(repeating: "g", count: 64),
        "sha256=f7118b554290bf516141d69f478d5eef81946871dcf32ad12d08962d46de0e0b", "é", " ",
    ])
    func malformedDialNexaSignatureFailsWithoutCrashing(signature: String) {
        #expect(throws: WebhookVerificationError.invalidSignature) {
            try WebhookVerifier(secret: TestVectors.plainSecret).verifyDialNexa(
                body: TestVectors.jsonBody, signature: signature)
        }
    }
}
