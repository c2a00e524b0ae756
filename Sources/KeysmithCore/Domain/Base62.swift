/// Base62 (`0-9A-Za-z`) for the random part and checksum of a secret.
enum Base62 {
    static let alphabet: [Character] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    static let alphabetBytes: [UInt8] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// Fixed-width, most significant digit first.
    static func encode(_ value: UInt32, width: Int) -> String {
        var digits = [Character](repeating: "0", count: width)
        var rest = UInt64(value)
        for index in stride(from: width - 1, through: 0, by: -1) {
            digits[index] = alphabet[Int(rest % 62)]
            rest /= 62
        }
        return String(digits)
    }

    static func decode(_ text: some Collection<UInt8>) -> UInt32? {
        var value: UInt64 = 0
        for byte in text {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): digit = byte - UInt8(ascii: "A") + 10
            case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = byte - UInt8(ascii: "a") + 36
            default: return nil
            }
            value = value * 62 + UInt64(digit)
            if value > UInt64(UInt32.max) { return nil }
        }
        return UInt32(value)
    }
}
