#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport

/// Where records begin in a stretch of log text: the reader cuts windows there, the
/// sessionizer cuts chunks there, so a continuation line always stays with its record.
public enum RecordBoundaries {
    /// Cuts `window[0..<count]` into ranges of about `target` bytes, each starting at a
    /// record (a line that begins with a timestamp), so a continuation line always
    /// stays in the chunk of its record. The first range starts at 0 whatever is there.
    public static func split(_ p: UnsafeRawBufferPointer, target: Int) -> [Range<Int>] {
        let n = p.count
        var cuts = [0]
        var next = target
        while next < n {
            guard let cut = nextRecordStart(p, from: next) else { break }
            cuts.append(cut)
            next = cut + target
        }
        var out = [Range<Int>]()
        for i in cuts.indices { out.append(cuts[i]..<(i + 1 < cuts.count ? cuts[i + 1] : n)) }
        return out
    }

    /// The start of the first record whose line begins after `from` (not at it).
    /// Looks no further than `before` (a record starting there or later is not found).
    public static func nextRecordStart(_ p: UnsafeRawBufferPointer, from: Int, before: Int = .max) -> Int? {
        let n = p.count
        let base = p.baseAddress!
        var i = from
        let stop = min(n, before)
        while i < stop {
            guard let nl = memchr(base + i, 10, stop - i) else { return nil }
            let lineStart = base.distance(to: UnsafeRawPointer(nl)) + 1
            if lineStart >= stop { return nil }
            var lineEnd = n
            if let e = memchr(base + lineStart, 10, min(n - lineStart, 64)) {
                lineEnd = base.distance(to: UnsafeRawPointer(e))
            } else {
                lineEnd = min(n, lineStart + 64)
            }
            if RecordParser.startsRecord(p, lineStart, lineEnd) { return lineStart }
            i = lineStart
        }
        return nil
    }

    /// The start of the last record in `p` that begins after offset 0, if any.
    public static func lastRecordStart(_ p: UnsafeRawBufferPointer) -> Int? {
        let base = p.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var i = p.count - 1
        while i > 0 {
            if base[i - 1] == 10 {
                var e = i
                while e < p.count, e < i + 64, base[e] != 10 { e += 1 }
                if RecordParser.startsRecord(p, i, e) { return i }
            }
            i -= 1
        }
        return nil
    }
}
