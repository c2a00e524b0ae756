import Foundation

/// A point in time with millisecond precision: the one type Keysmith stores, compares and formats.
///
/// Stored as milliseconds since the Unix epoch in both backends; formatted as `2024-03-01T10:00:00.000Z`.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public init(_ date: Date) {
        // Through tenths of a millisecond first: a parsed `.999` is 0.99899999... as a Double, and a plain
        // floor would make it `.998`. A Date is exact to far better than 0.05 ms up to the year 9999.
        let tenths = Int64((date.timeIntervalSince1970 * 10_000).rounded())
        self.milliseconds = tenths.floorDivided(by: 10).0
    }

    public static func now() -> Timestamp { Timestamp(Date()) }

    public var date: Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    public func adding(milliseconds delta: Int64) -> Timestamp { Timestamp(milliseconds: milliseconds + delta) }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public var description: String {
        var bytes: [UInt8] = []
        writeISO8601(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ`, formatted by hand because it is on the request path of `whoami`.
    public func writeISO8601(into bytes: inout [UInt8]) {
        let (days, msOfDay) = milliseconds.floorDivided(by: 86_400_000)
        let (year, month, day) = Self.civil(fromDays: days)
        let seconds = msOfDay / 1000
        func digit(_ value: Int64) { bytes.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: value)) }
        func twoDigits(_ value: Int64) { digit(value / 10); digit(value % 10) }
        let fourDigitYear = max(0, year) % 10_000
        twoDigits(fourDigitYear / 100); twoDigits(fourDigitYear % 100); bytes.append(UInt8(ascii: "-"))
        twoDigits(month); bytes.append(UInt8(ascii: "-"))
        twoDigits(day); bytes.append(UInt8(ascii: "T"))
        twoDigits(seconds / 3600); bytes.append(UInt8(ascii: ":"))
        twoDigits(seconds / 60 % 60); bytes.append(UInt8(ascii: ":"))
        twoDigits(seconds % 60); bytes.append(UInt8(ascii: "."))
        digit(msOfDay % 1000 / 100); twoDigits(msOfDay % 100); bytes.append(UInt8(ascii: "Z"))
    }

    /// Parses RFC 3339 date-times (`2030-01-31T12:00:00Z`, fractional seconds optional, `Z` or an offset
    /// `±HH:MM` of at most 18 hours). The shape is checked first, because Foundation's parser also takes
    /// forms such as `+0100` or minute 60 of an offset.
    public init?(iso8601 text: String) {
        guard Self.isRFC3339(text) else { return nil }
        let styles = [Date.ISO8601FormatStyle(includingFractionalSeconds: true), Date.ISO8601FormatStyle()]
        guard let date = styles.lazy.compactMap({ try? $0.parse(text) }).first else { return nil }
        self.init(date)
    }

    private static func isRFC3339(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        func digits(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count, range.allSatisfy({ (0x30...0x39).contains(bytes[$0]) }) else { return nil }
            return range.reduce(0) { $0 * 10 + Int(bytes[$1] - 0x30) }
        }
        func byte(_ index: Int, _ ascii: Unicode.Scalar) -> Bool { index < bytes.count && bytes[index] == UInt8(ascii: ascii) }
        guard bytes.count >= 20, digits(0..<4) != nil, byte(4, "-"), digits(5..<7) != nil, byte(7, "-"), digits(8..<10) != nil,
              byte(10, "T"), digits(11..<13) != nil, byte(13, ":"), digits(14..<16) != nil, byte(16, ":"), digits(17..<19) != nil
        else { return false }
        var index = 19
        if byte(index, ".") {
            index += 1
            let start = index
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
            guard (1...9).contains(index - start) else { return false }
        }
        if byte(index, "Z") { return index + 1 == bytes.count }
        guard byte(index, "+") || byte(index, "-"), index + 6 == bytes.count, byte(index + 3, ":"),
              let hours = digits(index + 1..<index + 3), let minutes = digits(index + 4..<index + 6)
        else { return false }
        return minutes <= 59 && (hours < 18 || (hours == 18 && minutes == 0))
    }

    /// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
    private static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> (Int64, Int64) {
        let q = self >= 0 ? self / divisor : (self - divisor + 1) / divisor
        return (q, self - q * divisor)
    }
}
