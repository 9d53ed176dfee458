import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize
import MaildexIndex

/// The width of a histogram's bars.
public enum HistogramBucket: String, Sendable, CaseIterable {
    case day, hour
}

/// Matching sessions per day or per hour of their first line, from the session tables
/// (no session is decompressed). Buckets between the first and the last are all
/// present, empty ones with 0, unless that would make more than `maxBuckets`.
public struct Histogram: Sendable, Equatable {
    public struct Bar: Sendable, Equatable {
        public var date: CivilDate
        /// The hour (0–23) of an hourly bar; nil for a daily one.
        public var hour: Int?
        public var sessions: Int

        /// `2026-01-05` or `2026-01-05T13`.
        public var label: String {
            hour.map { date.description + "T" + ($0 < 10 ? "0" : "") + String($0) } ?? date.description
        }

        /// The query terms that select this bar's sessions.
        public var terms: String {
            guard let hour else { return "date:\(date)" }
            let h = (hour < 10 ? "0" : "") + String(hour)
            return "since:\(date)T\(h):00 until:\(date)T\(h):59"
        }
    }

    public var bucket: HistogramBucket
    public var bars: [Bar]
    public var total: Int { bars.reduce(0) { $0 + $1.sessions } }

    static let maxBuckets = 20_000

    /// Bars of `bucket` width over sessions that started on `dates` at `seconds` of the day.
    static func of(_ starts: [(CivilDate, Int32)], bucket: HistogramBucket) -> Histogram {
        var counts = [Int: Int]()  // day number * 24 + hour, or day number
        for (d, s) in starts {
            let key = bucket == .day ? Int(d.daysSinceEpoch) : Int(d.daysSinceEpoch) * 24 + Int(max(0, min(23, s / 3600)))
            counts[key, default: 0] += 1
        }
        func bar(_ key: Int, _ n: Int) -> Bar {
            bucket == .day ? Bar(date: CivilDate(daysSinceEpoch: Int32(key)), hour: nil, sessions: n)
                : Bar(date: CivilDate(daysSinceEpoch: Int32(key.floorDiv(24))), hour: key - key.floorDiv(24) * 24, sessions: n)
        }
        guard let lo = counts.keys.min(), let hi = counts.keys.max() else { return Histogram(bucket: bucket, bars: []) }
        if hi - lo < maxBuckets {
            return Histogram(bucket: bucket, bars: (lo...hi).map { bar($0, counts[$0] ?? 0) })
        }
        return Histogram(bucket: bucket, bars: counts.keys.sorted().map { bar($0, counts[$0]!) })
    }

    /// `{"bucket":"day","total":N,"buckets":[{"start":"2026-01-05","sessions":3,"terms":"date:2026-01-05"},...]}`
    public func json() -> String {
        var o = JSONObjectWriter()
        o.string("bucket", bucket.rawValue)
        o.int("total", total)
        o.raw("buckets", "[" + bars.map { b in
            var j = JSONObjectWriter()
            j.string("start", b.label); j.int("sessions", b.sessions); j.string("terms", b.terms)
            return j.finish()
        }.joined(separator: ",") + "]")
        return o.finish()
    }
}

/// What an index holds, in brief.
public struct IndexInfo: Sendable, Equatable {
    public var segments: Int
    public var sourceFiles: Int
    public var sessions: Int
    public var firstDate: CivilDate?
    public var lastDate: CivilDate?
    public var formatVersion: Int

    public func json() -> String {
        var o = JSONObjectWriter()
        o.int("segments", segments); o.int("sourceFiles", sourceFiles); o.int("sessions", sessions)
        o.optionalString("firstDate", firstDate?.description); o.optionalString("lastDate", lastDate?.description)
        o.int("formatVersion", formatVersion)
        return o.finish()
    }

    /// Of `index`: one pass over its session tables.
    public static func of(_ index: IndexReader) throws -> IndexInfo {
        var first: CivilDate? = nil, last: CivilDate? = nil
        for (i, seg) in index.segments.enumerated() {
            for k in 0..<seg.sessionCount {
                let e = try seg.entry(at: k)
                if index.shadowed[i].contains(e.number) { continue }
                if first.map({ e.date < $0 }) ?? true { first = e.date }
                if last.map({ e.date > $0 }) ?? true { last = e.date }
            }
        }
        return IndexInfo(segments: index.segments.count, sourceFiles: index.sources.count, sessions: index.sessionCount,
                         firstDate: first, lastDate: last, formatVersion: Int(SegmentFormat.version))
    }
}

extension Searcher {
    /// Sessions matching `query` per `bucket` of their first line's date and time; with
    /// `bucket` nil, per hour when they span two days or less, else per day.
    public func histogram(_ query: Query, bucket: HistogramBucket?) throws -> Histogram {
        let index = try index()
        let numbers = try budget.withThreads { try QueryEngine(index: index, threads: $0).matches(query) }
        var starts = [(CivilDate, Int32)]()
        starts.reserveCapacity(numbers.count)
        for n in numbers {
            if let (_, e) = try index.entry(n) { starts.append((e.date, e.startSecond)) }
        }
        if let bucket { return Histogram.of(starts, bucket: bucket) }
        let days = Histogram.of(starts, bucket: .day)
        return days.bars.count <= 2 ? Histogram.of(starts, bucket: .hour) : days
    }

    /// The index as it is now, in brief.
    public func info() throws -> IndexInfo { try IndexInfo.of(index()) }
}

extension SearchResult {
    /// The sessions at `range` of this page, as a page of their own (for streaming an
    /// answer a part at a time); `next` is kept.
    public func slice(_ range: Range<Int>) -> SearchResult {
        SearchResult(index: index, numbers: Array(numbers[range]), total: total, next: next)
    }
}

extension Int {
    func floorDiv(_ d: Int) -> Int { self >= 0 ? self / d : -((-self + d - 1) / d) }
}
