import Foundation
import KeysmithWebhooks
import Testing

/// Runs the seed's Python receiver, verbatim, against signatures made by
/// ``WebhookSigner``.
@Suite("Python receiver interop")
struct PythonReceiverInteropTests {
    /// The seed's `verify_webhook`, unchanged, plus a driver that reads the body
    /// from stdin and the hex-encoded secret and the signature from argv.
    static let script = """
        import hmac
        import hashlib

        def verify_webhook(payload_body: bytes, signature_header: str, secret: str) -> bool:
            expected = hmac.new(
                secret.encode(),
                payload_body,
                hashlib.sha256
            ).hexdigest()
            return hmac.compare_digest(expected, signature_header)

        import sys
        secret = bytes.fromhex(sys.argv[1]).decode("utf-8")
        signature = sys.argv[2]
        body = sys.stdin.buffer.read()
        print(verify_webhook(body, signature, secret))
        """

    /// Runs the receiver and returns what it printed, trimmed.
    static func pythonVerify(body: [UInt8], signature: String, secret: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let secretHex = secret.utf8.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
        }.joined()
        process.arguments = ["python3", "-c", script, secretHex, signature]
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(body))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(
            process.terminationStatus == 0,
            "python3 failed (\(process.terminationStatus)): \(String(decoding: errors, as: UTF8.self))")
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(arguments: [
        (TestVectors.plainSecret, TestVectors.jsonBody),
        (TestVectors.unicodeSecret, TestVectors.unicodeBody),
        ("generated", Array(#"{"type":"key.created","data":{"id":"key_1","tags":["a","ü"]}}"#.utf8)),
    ])
    func seedPythonReceiverAcceptsSignerOutput(secret: String, body: [UInt8]) throws {
        let secret = secret == "generated" ? WebhookSigner.generateSecret() : secret
        let signature = WebhookSigner(secret: secret).dialNexaSignature(body: body)
        #expect(try Self.pythonVerify(body: body, signature: signature, secret: secret) == "True")
    }

    @Test func seedPythonReceiverRejectsTamperedBody() throws {
        let secret = WebhookSigner.generateSecret()
        let body = TestVectors.jsonBody
        let signature = WebhookSigner(secret: secret).dialNexaSignature(body: body)
        var tampered = body
        tampered[10] ^= 0x20
        #expect(try Self.pythonVerify(body: tampered, signature: signature, secret: secret) == "False")
    }

    @Test func seedPythonReceiverRejectsWrongSecret() throws {
        let body = TestVectors.jsonBody
        let signature = WebhookSigner(secret: WebhookSigner.generateSecret()).dialNexaSignature(body: body)
        #expect(try Self.pythonVerify(body: body, signature: signature, secret: TestVectors.plainSecret) == "False")
    }
}
