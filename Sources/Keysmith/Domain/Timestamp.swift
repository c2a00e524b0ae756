import Foundation

/// A point in time with millisecond precision: the one type Keysmith stores, compares and formats.
///
/// Stored as milliseconds since the Unix epoch in both backends; formatted as `2024-03-01T10:00:00.000Z`.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public init(_ date: Date) {
        self.milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    public static func now() -> Timestamp { Timestamp(Date()) }

    public var date: Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    public func adding(milliseconds delta: Int64) -> Timestamp { Timestamp(milliseconds: milliseconds + delta) }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, formatted by hand because it is on the request path of `whoami`.
    public var description: String {
        let (days, msOfDay) = milliseconds.floorDivided(by: 86_400_000)
        let (year, month, day) = Self.civil(fromDays: days)
        let seconds = msOfDay / 1000
        var out = ""
        out.reserveCapacity(24)
        Self.pad(&out, year, 4); out += "-"
        Self.pad(&out, month, 2); out += "-"
        Self.pad(&out, day, 2); out += "T"
        Self.pad(&out, seconds / 3600, 2); out += ":"
        Self.pad(&out, seconds / 60 % 60, 2); out += ":"
        Self.pad(&out, seconds % 60, 2); out += "."
        Self.pad(&out, msOfDay % 1000, 3); out += "Z"
        return out
    }

    /// Parses ISO 8601 date-times with or without fractional seconds, with `Z` or an offset.
    public init?(iso8601 text: String) {
        let styles = [Date.ISO8601FormatStyle(includingFractionalSeconds: true), Date.ISO8601FormatStyle()]
        guard let date = styles.lazy.compactMap({ try? $0.parse(text) }).first else { return nil }
        self.init(date)
    }

    private static func pad(_ out: inout String, _ value: Int64, _ width: Int) {
        let digits = String(value)
        if digits.count < width { out += String(repeating: "0", count: width - digits.count) }
        out += digits
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
