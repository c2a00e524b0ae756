import Foundation

/// An amount of memory as an operator writes it (`--cache-memory`): bytes, or a number with a binary
/// suffix, `KiB`, `MiB` or `GiB` (any case, a space allowed before it): `512MiB`, `1GiB`, `1.5 GiB`.
public enum MemorySize {
    /// The bytes `text` names, or `nil` when it is not such an amount (or does not fit in an `Int`).
    public static func bytes(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let number = trimmed.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unit = trimmed.dropFirst(number.count).trimmingCharacters(in: .whitespaces).lowercased()
        let units: [String: Double] = ["": 1, "b": 1, "kib": 1024, "mib": 1024 * 1024, "gib": 1024 * 1024 * 1024]
        guard let scale = units[unit], number.filter({ $0 == "." }).count <= 1, number.first != ".", number.last != ".",
              let value = Double(number)
        else { return nil }
        let bytes = (value * scale).rounded(.down)
        guard bytes < Double(Int.max) else { return nil }
        return Int(bytes)
    }

    /// `256MiB`, `1.5GiB`, `700KiB` or `12345 bytes`: the largest unit that leaves at most one decimal.
    public static func describe(_ bytes: Int) -> String {
        for (unit, scale) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes >= scale {
            let tenths = Int((Double(bytes) * 10 / Double(scale)).rounded())
            return tenths % 10 == 0 ? "\(tenths / 10)\(unit)" : "\(tenths / 10).\(tenths % 10)\(unit)"
        }
        return "\(bytes) bytes"
    }
}
