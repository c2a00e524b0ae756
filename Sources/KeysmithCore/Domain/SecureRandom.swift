#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Random characters from the operating system's generator, one call for a whole string.
///
/// `SystemRandomNumberGenerator` makes a system call every 8 bytes, a large share of a bulk create's CPU when
/// drawn per character; this makes one `getrandom` per string (see docs/performance.md).
public enum SecureRandom {
    /// `count` characters of `alphabet` (at most 256 ASCII characters), uniformly: bytes past the largest
    /// multiple of the alphabet's size are dropped, never folded in.
    public static func characters(_ count: Int, from alphabet: [UInt8]) -> [UInt8] {
        precondition(!alphabet.isEmpty && alphabet.count <= 256)
        let limit = 256 - 256 % alphabet.count
        var output: [UInt8] = []
        output.reserveCapacity(count)
        while output.count < count {
            for byte in bytes((count - output.count) * 2) where Int(byte) < limit {
                output.append(alphabet[Int(byte) % alphabet.count])
                if output.count == count { break }
            }
        }
        return output
    }

    public static func string(_ count: Int, from alphabet: [UInt8]) -> String {
        String(decoding: characters(count, from: alphabet), as: UTF8.self)
    }

    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    private static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        // glibc's (2.36 and later) reads the kernel's generator with `getrandom`, the source of
        // `SystemRandomNumberGenerator`, for the whole buffer at once.
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        arc4random_buf(base, buffer.count)
    }
}
