import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Seals webhook signing secrets with AES-GCM under a server key kept outside the database, so the
/// database alone never yields a secret. Every instance on one database needs the same key.
///
/// `v2:` boxes bind the webhook id as associated data, so a sealed secret copied onto another webhook's
/// row does not open; `v1:` boxes (sealed before that, without associated data) still open.
public struct SecretBox: Sendable {
    private let keyBytes: [UInt8]

    public init(key: [UInt8]) throws {
        guard key.count == 32 else { throw StoreConfigurationError("the encryption key must be 32 bytes (base64 of 32 random bytes)") }
        self.keyBytes = key
    }

    /// The key from `KEYSMITH_ENCRYPTION_KEY` (base64) if set, else from `file`. The file is created (mode 0600,
    /// exclusively) only when it does not exist and `createIfMissing` is set; one that exists but cannot be read
    /// or decoded stops start-up, since a new key would orphan every sealed secret.
    public static func load(environment: String?, file: String?, createIfMissing: Bool = true) throws -> SecretBox {
        if let environment {
            guard let data = Data(base64Encoded: environment.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw StoreConfigurationError("KEYSMITH_ENCRYPTION_KEY is not base64")
            }
            return try SecretBox(key: Array(data))
        }
        guard let file else {
            throw StoreConfigurationError("on PostgreSQL the webhook encryption key must be given: set KEYSMITH_ENCRYPTION_KEY or --encryption-key-file (the same on every instance)")
        }
        if FileManager.default.fileExists(atPath: file) || (try? FileManager.default.destinationOfSymbolicLink(atPath: file)) != nil {
            return try read(file)
        }
        guard createIfMissing else { throw StoreConfigurationError("the encryption key file \(file) does not exist") }
        return try create(file)
    }

    private static func read(_ file: String) throws -> SecretBox {
        guard let bytes = FileManager.default.contents(atPath: file) else {
            throw StoreConfigurationError("the encryption key file \(file) exists but cannot be read; fix its permissions (Keysmith never replaces an existing key)")
        }
        guard let data = Data(base64Encoded: String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
              data.count == 32
        else {
            throw StoreConfigurationError("the encryption key file \(file) does not hold the base64 of 32 bytes (Keysmith never replaces an existing key)")
        }
        return try SecretBox(key: Array(data))
    }

    /// O_CREAT|O_EXCL: of two processes starting at once, one creates the key and the other reads it.
    private static func create(_ file: String) throws -> SecretBox {
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let descriptor = Glibc.open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            if errno == EEXIST { return try read(file) }
            throw StoreConfigurationError("cannot create the encryption key file \(file): \(String(cString: strerror(errno)))")
        }
        let text = Array((Data(key).base64EncodedString() + "\n").utf8)
        let written = text.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        Glibc.close(descriptor)
        guard written == text.count, synced == 0 else {
            unlink(file)
            throw StoreConfigurationError("cannot write the encryption key file \(file)")
        }
        return try SecretBox(key: key)
    }

    /// Seals `secret` for the webhook `webhookID` (the associated data).
    public func seal(_ secret: String, webhookID: String) throws -> String {
        let box = try AES.GCM.seal(Array(secret.utf8), using: SymmetricKey(data: keyBytes), authenticating: Array(webhookID.utf8))
        guard let combined = box.combined else { throw SecretBoxError.cannotSeal }
        return "v2:" + combined.base64EncodedString()
    }

    public func open(_ sealed: String, webhookID: String) throws -> String {
        let version = sealed.prefix(3)
        guard version == "v1:" || version == "v2:", let data = Data(base64Encoded: String(sealed.dropFirst(3))) else {
            throw SecretBoxError.malformed
        }
        do {
            let box = try AES.GCM.SealedBox(combined: data)
            let plain = version == "v2:"
                ? try AES.GCM.open(box, using: SymmetricKey(data: keyBytes), authenticating: Array(webhookID.utf8))
                : try AES.GCM.open(box, using: SymmetricKey(data: keyBytes))
            return String(decoding: plain, as: UTF8.self)
        } catch {
            throw SecretBoxError.cannotOpen
        }
    }

    /// The value stored in the database to recognise this key: a known text sealed under it.
    func makeKeyCheck() throws -> String { try seal(Self.keyCheckText, webhookID: Self.keyCheckText) }

    func matches(keyCheck: String) -> Bool { (try? open(keyCheck, webhookID: Self.keyCheckText)) == Self.keyCheckText }

    static let keyCheckText = "keysmith-key-check"
}

/// Why a sealed secret did not open; never carries the secret or the key.
public enum SecretBoxError: Error, Equatable {
    case cannotSeal, malformed, cannotOpen
}
