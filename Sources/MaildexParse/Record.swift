#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport

/// One parsed record header: `TIME SP LEVEL SP TAG[-ID][(CONTEXT)] SP DATA`.
///
/// All positions are byte offsets into the buffer the record was parsed from;
/// nothing is copied. `data` excludes the line end (`\n`, and a `\r` before it).
public struct RecordHeader: Sendable, Equatable {
    public var time: Range<Int>
    /// Seconds since midnight, as written (local time).
    public var secondOfDay: Int32
    public var level: UInt8
    public var tag: Range<Int>
    /// The channel number after `-` (`SMTP-509`, `SMTPI-060353`), or -1.
    public var id: Int32
    /// The text between the parentheses after the tag, if any.
    public var context: Range<Int>?
    public var data: Range<Int>
}

/// The byte-level record parser for both dialects (Stalker 1.8 and CommuniGate Pro).
///
/// It never allocates and never reads outside `[start, end)`. Any input is
/// accepted: a line that does not begin with a timestamp is not a record (the
/// caller treats it as a continuation of the record above), and one that begins with a
/// time but does not parse (`beginsWithTime`) is a damaged record.
public enum RecordParser {
    @inline(__always) package static func isDigit(_ c: UInt8) -> Bool { c &- 48 < 10 }

    /// The length of the timestamp at `start` (`HH:MM:SS` or `HH:MM:SS.d{1,6}`)
    /// when it is followed by ` LEVEL` (a digit) and then a space or the line end; else 0.
    @inline(__always)
    public static func timestampLength(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int {
        guard end - start >= 10 else { return 0 }
        let b = p.baseAddress!.assumingMemoryBound(to: UInt8.self) + start
        guard isClock(b) else { return 0 }
        var n = 8
        if b[8] == 46 {  // '.'
            var k = 9
            while start + k < end, k < 15, isDigit(b[k]) { k += 1 }
            guard k > 9 else { return 0 }
            n = k
        }
        // SP LEVEL (SP | end)
        guard start + n + 2 <= end, b[n] == 32, isDigit(b[n + 1]) else { return 0 }
        if start + n + 2 < end {
            let after = b[n + 2]
            guard after == 32 || after == 13 else { return 0 }
        }
        return n
    }

    /// Whether `b[0..<8]` is `HH:MM:SS` (digits and colons; the caller checked the length).
    @inline(__always)
    static func isClock(_ b: UnsafePointer<UInt8>) -> Bool {
        isDigit(b[0]) && isDigit(b[1]) && b[2] == 58 && isDigit(b[3]) && isDigit(b[4]) && b[5] == 58
            && isDigit(b[6]) && isDigit(b[7])
    }

    /// Whether the line at `start` begins with a time (`HH:MM:SS` and then a space, a
    /// `.` or the line's end), record or not: a line that does but is no record (no
    /// level digit, no tag, binary bytes) is a damaged record, not a continuation line.
    @inline(__always)
    public static func beginsWithTime(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Bool {
        guard end - start >= 8 else { return false }
        let b = p.baseAddress!.assumingMemoryBound(to: UInt8.self) + start
        guard isClock(b) else { return false }
        return end - start == 8 || b[8] == 32 || b[8] == 46 || b[8] == 13
    }

    /// Whether the line at `start` begins a record.
    @inline(__always)
    public static func startsRecord(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Bool {
        timestampLength(p, start, end) > 0
    }

    /// Parses the line `[start, end)` (no line end included, or a trailing `\r`).
    public static func parse(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> RecordHeader? {
        let tl = timestampLength(p, start, end)
        guard tl > 0 else { return nil }
        let b = p.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var lineEnd = end
        if lineEnd > start, b[lineEnd - 1] == 13 { lineEnd -= 1 }
        let secs = Int32(b[start] - 48) * 36000 + Int32(b[start + 1] - 48) * 3600
            + Int32(b[start + 3] - 48) * 600 + Int32(b[start + 4] - 48) * 60
            + Int32(b[start + 6] - 48) * 10 + Int32(b[start + 7] - 48)
        let level = b[start + tl + 1] - 48
        var i = min(start + tl + 3, lineEnd)
        let tagStart = i
        var id: Int32 = -1
        while i < lineEnd {
            let c = b[i]
            if c == 32 || c == 40 { break }  // ' ' '('
            if c == 45, i + 1 < lineEnd, isDigit(b[i + 1]) {  // '-' digit: the channel id
                let tagEnd = i
                i += 1
                var v: Int64 = 0
                while i < lineEnd, isDigit(b[i]) {
                    if v < 1_000_000_000 { v = v * 10 + Int64(b[i] - 48) }
                    i += 1
                }
                if i == lineEnd || b[i] == 32 || b[i] == 40 {
                    id = v < Int64(Int32.max) ? Int32(v) : Int32.max
                    return finish(p, b, start, tl, secs, level, tagStart..<tagEnd, id, i, lineEnd)
                }
                // Not an id after all (`X-1a`): part of the tag.
                continue
            }
            i += 1
        }
        return finish(p, b, start, tl, secs, level, tagStart..<i, id, i, lineEnd)
    }

    @inline(__always)
    static func finish(_ p: UnsafeRawBufferPointer, _ b: UnsafePointer<UInt8>, _ start: Int, _ tl: Int,
                       _ secs: Int32, _ level: UInt8, _ tag: Range<Int>, _ id: Int32,
                       _ after: Int, _ lineEnd: Int) -> RecordHeader {
        var i = after
        var context: Range<Int>? = nil
        if i < lineEnd, b[i] == 40 {
            // The context ends at the first ')' followed by a space or the line end.
            var close = -1
            var j = i &+ 1
            while j < lineEnd, let q = memchr(b + j, 41, lineEnd &- j) {
                let k = b.distance(to: q.assumingMemoryBound(to: UInt8.self))
                if k &+ 1 == lineEnd || b[k &+ 1] == 32 { close = k; break }
                j = k &+ 1
            }
            if close >= 0 {
                context = (i + 1)..<close
                i = close + 1
            }
        }
        if i < lineEnd, b[i] == 32 { i += 1 }
        return RecordHeader(time: start..<(start + tl), secondOfDay: secs, level: level, tag: tag,
                            id: id, context: context, data: i..<lineEnd)
    }
}

/// Small byte-matching helpers used by the parser and the session rules.
@usableFromInline
package enum Bytes {
    /// Whether `p[range]` starts with `prefix` (exact bytes).
    @inline(__always)
    package static func hasPrefix(_ p: UnsafeRawBufferPointer, _ range: Range<Int>, _ prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        guard range.count >= n else { return false }
        return memcmp(p.baseAddress! + range.lowerBound, prefix.utf8Start, n) == 0
    }

    /// Case-insensitive (ASCII) prefix test; `prefix` must be uppercase.
    @inline(__always)
    package static func hasPrefixCI(_ p: UnsafeRawBufferPointer, _ at: Int, _ end: Int, _ prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        guard end - at >= n else { return false }
        let s = prefix.utf8Start
        for k in 0..<n {
            var c = p[at + k]
            if c >= 97 && c <= 122 { c -= 32 }
            if c != s[k] { return false }
        }
        return true
    }

    /// Whether `p[range]` ends with `suffix` (exact bytes).
    @inline(__always)
    package static func hasSuffix(_ p: UnsafeRawBufferPointer, _ range: Range<Int>, _ suffix: StaticString) -> Bool {
        let n = suffix.utf8CodeUnitCount
        guard range.count >= n else { return false }
        return memcmp(p.baseAddress! + range.upperBound - n, suffix.utf8Start, n) == 0
    }

    /// Whether `p[range]` holds exactly `bytes`.
    @inline(__always)
    package static func equals(_ p: UnsafeRawBufferPointer, _ range: Range<Int>, _ bytes: [UInt8]) -> Bool {
        guard range.count == bytes.count else { return false }
        return bytes.withUnsafeBytes { b in range.isEmpty || memcmp(p.baseAddress! + range.lowerBound, b.baseAddress!, range.count) == 0 }
    }

    @inline(__always)
    package static func equals(_ p: UnsafeRawBufferPointer, _ range: Range<Int>, _ s: StaticString) -> Bool {
        range.count == s.utf8CodeUnitCount && hasPrefix(p, range, s)
    }

    @inline(__always)
    package static func lower(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c + 32 : c }
}

extension RecordParser {
    /// Seconds since midnight of a time written `HH:MM:SS...`; 0 if it is shorter.
    package static func secondOfDay(_ t: UnsafeRawBufferPointer) -> Int32 {
        guard t.count >= 8 else { return 0 }
        func d(_ i: Int) -> Int32 { Int32(t[i] &- 48) }
        return d(0) * 36000 + d(1) * 3600 + d(3) * 600 + d(4) * 60 + d(6) * 10 + d(7)
    }
}
