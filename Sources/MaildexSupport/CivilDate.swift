/// A calendar day, stored as days since 1970-01-01 (proleptic Gregorian).
///
/// Log lines carry no date: a line's date comes only from its file's name
/// (`YYYY-MM-DD.log`, `YYYY-MM-DD_HH-MM.log`, optionally `.zst`).
public struct CivilDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var daysSinceEpoch: Int32

    public init(daysSinceEpoch: Int32) { self.daysSinceEpoch = daysSinceEpoch }

    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), (1...31).contains(day), (1...9999).contains(year) else { return nil }
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        self.daysSinceEpoch = Int32(era * 146097 + doe - 719468)
        guard self.components.day == day else { return nil }  // rejects 2021-02-30
    }

    /// Parses `YYYY-MM-DD` from the start of `bytes`.
    public init?<C: Collection>(isoBytes bytes: C) where C.Element == UInt8 {
        let b = Array(bytes.prefix(10))
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r { guard b[i] >= 48 && b[i] <= 57 else { return nil }; v = v * 10 + Int(b[i] - 48) }
            return v
        }
        guard let y = num(0..<4), let m = num(5..<7), let d = num(8..<10) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    public init?(iso: String) { self.init(isoBytes: Array(iso.utf8)) }

    public var components: (year: Int, month: Int, day: Int) {
        let z = Int(daysSinceEpoch) + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    public var description: String {
        let c = components
        func pad(_ v: Int, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))"
    }

    public func adding(days: Int) -> CivilDate { CivilDate(daysSinceEpoch: daysSinceEpoch + Int32(days)) }

    public static func < (a: CivilDate, b: CivilDate) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }
}

/// What a log file's name says about when it starts: its date and, for the extra
/// files CommuniGate Pro starts within a day, an hour and minute.
public struct FileNameStamp: Comparable, Sendable {
    public var date: CivilDate
    public var minuteOfDay: Int

    /// Finds `YYYY-MM-DD` (optionally followed by `_HH-MM`) in the last path component.
    public init?(fileName: String) {
        let name = Array((fileName.split(separator: "/").last.map(String.init) ?? fileName).utf8)
        guard name.count >= 10 else { return nil }
        for start in 0...(name.count - 10) {
            guard let date = CivilDate(isoBytes: name[start..<(start + 10)]) else { continue }
            if start > 0, name[start - 1] >= 48 && name[start - 1] <= 57 { continue }
            self.date = date
            self.minuteOfDay = 0
            let rest = name[(start + 10)...]
            if rest.count >= 6, rest.first == UInt8(ascii: "_") {
                let r = Array(rest.prefix(6))
                if r[3] == UInt8(ascii: "-"), let h = Int(String(decoding: r[1..<3], as: UTF8.self)),
                   let m = Int(String(decoding: r[4..<6], as: UTF8.self)), h < 24, m < 60 {
                    self.minuteOfDay = h * 60 + m
                }
            }
            return
        }
        return nil
    }

    public init(date: CivilDate, minuteOfDay: Int = 0) { self.date = date; self.minuteOfDay = minuteOfDay }

    public static func < (a: FileNameStamp, b: FileNameStamp) -> Bool {
        (a.date, a.minuteOfDay) < (b.date, b.minuteOfDay)
    }
}
