import Crypto
import Foundation

/// Seals webhook signing secrets with AES-GCM under a server key kept outside the database, so the
/// database alone never yields a secret. Every instance on one database needs the same key.
public struct SecretBox: Sendable {
    private let keyBytes: [UInt8]

    public init(key: [UInt8]) throws {
        guard key.count == 32 else { throw StoreConfigurationError("the encryption key must be 32 bytes (base64 of 32 random bytes)") }
        self.keyBytes = key
    }

    /// The key from `KEYSMITH_ENCRYPTION_KEY` (base64) if set, else from `file`, created (mode 0600) on first use.
    public static func load(environment: String?, file: String) throws -> SecretBox {
        if let environment {
            guard let data = Data(base64Encoded: environment.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw StoreConfigurationError("KEYSMITH_ENCRYPTION_KEY is not base64")
            }
            return try SecretBox(key: Array(data))
        }
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw StoreConfigurationError("\(file) does not hold a base64 key")
            }
            return try SecretBox(key: Array(data))
        }
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        guard FileManager.default.createFile(atPath: file, contents: Data(Data(key).base64EncodedString().utf8), attributes: [.posixPermissions: 0o600]) else {
            throw StoreConfigurationError("cannot create the encryption key file \(file)")
        }
        return try SecretBox(key: key)
    }

    public func seal(_ secret: String) throws -> String {
        let box = try AES.GCM.seal(Array(secret.utf8), using: SymmetricKey(data: keyBytes))
        guard let combined = box.combined else { throw StoreConfigurationError("cannot seal a secret") }
        return "v1:" + combined.base64EncodedString()
    }

    public func open(_ sealed: String) throws -> String {
        guard sealed.hasPrefix("v1:"), let data = Data(base64Encoded: String(sealed.dropFirst(3))) else {
            throw StoreConfigurationError("a sealed webhook secret is malformed")
        }
        let plain = try AES.GCM.open(try AES.GCM.SealedBox(combined: data), using: SymmetricKey(data: keyBytes))
        return String(decoding: plain, as: UTF8.self)
    }
}
