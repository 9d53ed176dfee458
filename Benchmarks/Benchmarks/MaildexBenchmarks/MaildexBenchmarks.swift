// Benchmarks of maildex's hot paths: record parsing, sessionizing (parse + stitch +
// build), stitching across chunks, posting-list coding and set operations, segment
// writing and zstd block compression.
//
// Each benchmark runs in its own process (package-benchmark spawns one per
// benchmark), so the shared input — a generated one-day Stalker corpus — is written
// once to a cache folder under $TMPDIR (or /tmp) and read back by every process.
// Delete `maildex-bench-*` there to regenerate it.
//
// Besides the tool's metrics, byte-oriented benchmarks report a custom
// "Throughput (MB/s)" metric (10^6 bytes of log text per second of wall clock,
// measured around the same region as the tool's own wall clock), and posting-list
// benchmarks report "Throughput (M postings/s)".

import Benchmark
import MaildexCore
import MaildexGenerate

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Metrics and configuration

enum Metrics {
    /// Log-text megabytes (10^6 bytes) per second.
    static let megabytesPerSecond = BenchmarkMetric.custom("Throughput (MB/s)", polarity: .prefersLarger, useScalingFactor: false)
    /// Million posting numbers per second (input numbers for encode/decode/intersect/union).
    static let postingsPerSecond = BenchmarkMetric.custom("Throughput (M postings/s)", polarity: .prefersLarger, useScalingFactor: false)
    /// Size of the output the benchmark produced, in KB (10^3 bytes); constant across iterations.
    static let outputKilobytes = BenchmarkMetric.custom("Output size (KB)", polarity: .prefersSmaller, useScalingFactor: false)

    /// The tool's metrics for every benchmark. Note: the peak-memory metric samples /proc
    /// from a background thread every ~10 ms, and that thread's own allocations land in
    /// the process-wide malloc counter (about 4 per sample, plus ~12 per iteration). For
    /// exact allocation counts run with `--metric mallocCountTotal --metric wallClock`.
    static let standard: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident]

    /// Plain counts (no K/M scaling) for allocation counts and the custom metrics.
    static var units: [BenchmarkMetric: BenchmarkUnits] { [
        .mallocCountTotal: .count, megabytesPerSecond: .count, postingsPerSecond: .count, outputKilobytes: .count,
    ] }
}

/// Short runs: the whole suite should finish in a few minutes on a 2-core box.
func configuration(_ custom: [BenchmarkMetric], tags: [String: String] = [:], maxIterations: Int = 50,
                   seconds: Int64 = 2) -> Benchmark.Configuration {
    .init(metrics: Metrics.standard + custom, tags: tags, units: Metrics.units, warmupIterations: 1,
          maxDuration: .seconds(seconds), maxIterations: maxIterations)
}

/// Wall-clock seconds of `body`.
@inline(__always)
func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let clock = ContinuousClock()
    let start = clock.now
    let result = try body()
    let d = clock.now - start
    let (s, atto) = d.components
    return (result, Double(s) + Double(atto) * 1e-18)
}

func rate(_ amount: Int, perSecond seconds: Double, unit: Double) -> Int {
    Int((Double(amount) / max(seconds, 1e-9) / unit).rounded())
}

// MARK: - Shared input

enum Fixture {
    static let sessionsPerDay = 20_000
    static let seed: UInt64 = 42
    static let date = CivilDate(year: 2026, month: 1, day: 1)!

    static var temporaryRoot: String {
        if let t = getenv("TMPDIR"), t.pointee != 0 { return String(cString: t) }
        return "/tmp"
    }

    /// The folder of the cached corpus; the name carries everything that shapes it.
    static var corpusDirectory: String {
        "\(temporaryRoot)/maildex-bench-v1-stalker-\(sessionsPerDay)x1-seed\(seed)"
    }

    /// The plain text of one generated day (about 60 MB), generated on first use.
    static func corpusText() throws -> [UInt8] {
        let path = corpusDirectory + "/\(date).log"
        if let bytes = readFile(path) { return bytes }
        // Generate into a private folder, then move it into place, so concurrent or
        // interrupted runs never see half a corpus.
        let staging = corpusDirectory + ".tmp-\(getpid())"
        var options = GeneratorOptions()
        options.days = 1
        options.startDate = date
        options.sessionsPerDay = sessionsPerDay
        options.seed = seed
        options.dialect = .stalker
        options.compression = .none
        options.recordTruth = false
        let corpus = try CorpusGenerator(options: options).run(directory: staging)
        guard corpus.files.count == 1, corpus.files[0].name == "\(date).log" else {
            throw FixtureError("unexpected corpus layout: \(corpus.files.map(\.name))")
        }
        if rename(staging, corpusDirectory) != 0 {
            // Another process won the race: use its copy.
            unlink(staging + "/\(date).log")
            rmdir(staging)
        }
        guard let bytes = readFile(path) else { throw FixtureError("cannot read \(path)") }
        return bytes
    }

    /// The sessions of the corpus, as the indexer would hand them to a segment writer.
    static func sessions() throws -> (sessions: [Session], textBytes: Int) {
        let text = try corpusText()
        let sessions = Sessionizer.sessions(of: text, date: date, threads: 2).sessions
        return (sessions, sessions.reduce(0) { $0 + $1.text.count })
    }

    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        let size = Int(st.st_size)
        var ok = true
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buf, count in
            var at = 0
            while at < size {
                let n = read(fd, buf.baseAddress! + at, size - at)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { ok = false; break }
                at += n
            }
            count = at
        }
        return ok ? bytes : nil
    }

    /// `count` sorted, distinct session numbers with realistic gaps: a busy key's
    /// sessions cluster (gaps of 1 to 64 most of the time), with occasional longer
    /// pauses (up to 16K) and rare jumps (up to 1M). Deterministic for a seed.
    static func postings(count: Int, seed: UInt64, start: UInt64 = 1_000) -> [UInt64] {
        var rng = SplitMix64(seed: seed)
        var out = [UInt64]()
        out.reserveCapacity(count)
        var n = start
        for _ in 0..<count {
            out.append(n)
            let r = rng.next()
            let pick = r % 100
            let gap: UInt64
            if pick < 90 { gap = 1 + (r >> 8) % 64 } else if pick < 99 { gap = 65 + (r >> 8) % 16_384 } else { gap = 16_449 + (r >> 8) % 1_000_000 }
            n += gap
        }
        return out
    }

    /// A sorted, distinct subset of `list` with about `keep` of every 1000 numbers.
    static func sample(_ list: [UInt64], perMille keep: UInt64, seed: UInt64) -> [UInt64] {
        var rng = SplitMix64(seed: seed)
        return list.filter { _ in rng.next() % 1000 < keep }
    }

    /// A unique path for one segment-writer iteration.
    static func segmentDirectory() -> String {
        let dir = "\(temporaryRoot)/maildex-bench-segments-\(getpid())"
        mkdir(dir, 0o755)
        return dir
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Parses every line of `text` with `RecordParser.parse`, single-threaded, the way
/// a chunk parser walks its chunk. Returns (records, a checksum of their fields).
@inline(never)
func parseAllRecords(_ p: UnsafeRawBufferPointer) -> (records: Int, check: Int) {
    guard let base = p.baseAddress else { return (0, 0) }
    let n = p.count
    var start = 0
    var records = 0
    var check = 0
    while start < n {
        let end: Int
        if let nl = memchr(base + start, 10, n - start) {
            end = base.distance(to: UnsafeRawPointer(nl))
        } else {
            end = n
        }
        if let h = RecordParser.parse(p, start, end) {
            records += 1
            check &+= Int(h.secondOfDay) &+ Int(h.id) &+ h.data.count
        }
        start = end + 1
    }
    return (records, check)
}

// MARK: - Benchmarks

/// Sessionizes the corpus text once per iteration and reports MB/s; `chunkSize`
/// picks the chunk size from the text.
func sessionizerBenchmark(_ name: String, tags: [String: String] = [:], threads: Int,
                          chunkSize: @escaping @Sendable ([UInt8]) -> Int) {
    Benchmark(name, configuration: configuration([Metrics.megabytesPerSecond], tags: tags, maxIterations: 20)) { benchmark, text in
        let size = chunkSize(text)
        benchmark.startMeasurement()
        let (r, seconds) = timed { Sessionizer.sessions(of: text, date: Fixture.date, threads: threads, chunkSize: size) }
        benchmark.stopMeasurement()
        blackHole(r)
        if r.sessions.isEmpty || r.counts.unparsed > 0 { benchmark.error("sessionizer: \(r.counts)") }
        benchmark.measurement(Metrics.megabytesPerSecond, rate(text.count, perSecond: seconds, unit: 1e6))
    } setup: {
        try Fixture.corpusText()
    }
}

let benchmarks: @Sendable () -> Void = {

    // Record parser: the per-line header parser alone, one thread.
    Benchmark("Parser: records (1 thread)", configuration: configuration([Metrics.megabytesPerSecond])) { benchmark, text in
        text.withUnsafeBytes { p in
            benchmark.startMeasurement()
            let (r, seconds) = timed { parseAllRecords(p) }
            benchmark.stopMeasurement()
            blackHole(r)
            if r.records == 0 { benchmark.error("no records parsed") }
            benchmark.measurement(Metrics.megabytesPerSecond, rate(p.count, perSecond: seconds, unit: 1e6))
        }
    } setup: {
        try Fixture.corpusText()
    }

    // Sessionizer: split into 1 MiB chunks, parse them (in parallel), stitch, build sessions.
    for threads in [1, 2] {
        sessionizerBenchmark("Sessionizer: \(threads) thread\(threads == 1 ? "" : "s")", threads: threads) { _ in 1 << 20 }
    }

    // Stitching: the same text sessionized on one thread as one chunk (nothing to stitch
    // across chunks) and as 64 KiB chunks (~870 chunk boundaries; every session that
    // spans one is carried over and stitched). The difference is the stitching cost.
    for (label, chunkSize) in [("64 MiB (one chunk)", 0), ("64 KiB (~870 chunks)", 64 << 10)] {
        sessionizerBenchmark("Stitching: one chunk vs many", tags: ["chunkSize": label], threads: 1) { text in
            chunkSize == 0 ? max(1 << 26, text.count + 1) : chunkSize
        }
    }

    // Posting lists: 1M sorted numbers with realistic gaps.
    Benchmark("PostingList: encode 1M",
              configuration: configuration([Metrics.postingsPerSecond, Metrics.outputKilobytes])) { benchmark, numbers in
        benchmark.startMeasurement()
        let (bytes, seconds) = timed { PostingList.encode(numbers) }
        benchmark.stopMeasurement()
        blackHole(bytes)
        benchmark.measurement(Metrics.postingsPerSecond, rate(numbers.count, perSecond: seconds, unit: 1e6))
        benchmark.measurement(Metrics.outputKilobytes, bytes.count / 1000)
    } setup: {
        Fixture.postings(count: 1_000_000, seed: 1)
    }

    Benchmark("PostingList: decode 1M",
              configuration: configuration([Metrics.postingsPerSecond, Metrics.megabytesPerSecond])) { (benchmark, input: ([UInt8], Int)) in
        let (encoded, count) = input
        var out = [UInt64]()
        out.reserveCapacity(count)  // outside the measurement: decode only
        encoded.withUnsafeBytes { p in
            benchmark.startMeasurement()
            let (_, seconds) = timed { try! PostingList.decode(p, count: count, into: &out) }
            benchmark.stopMeasurement()
            blackHole(out)
            precondition(out.count == count)
            benchmark.measurement(Metrics.postingsPerSecond, rate(count, perSecond: seconds, unit: 1e6))
            benchmark.measurement(Metrics.megabytesPerSecond, rate(p.count, perSecond: seconds, unit: 1e6))
        }
    } setup: { () -> ([UInt8], Int) in
        let numbers = Fixture.postings(count: 1_000_000, seed: 1)
        return (PostingList.encode(numbers), numbers.count)
    }

    // Intersect: two 1M-ish lists of the same key space (linear merge), and a 1M list
    // with a 10K one (the small list is binary-searched in the large one).
    for shape in ["merge 1M x 1M", "gallop 1M x 10K"] {
        Benchmark("PostingList: intersect",
                  configuration: configuration([Metrics.postingsPerSecond], tags: ["lists": shape])) { (benchmark, lists: ([UInt64], [UInt64])) in
            let (a, b) = lists
            benchmark.startMeasurement()
            let (r, seconds) = timed { PostingList.intersect(a, b) }
            benchmark.stopMeasurement()
            blackHole(r)
            benchmark.measurement(Metrics.postingsPerSecond, rate(a.count + b.count, perSecond: seconds, unit: 1e6))
        } setup: { () -> ([UInt64], [UInt64]) in
            let a = Fixture.postings(count: 1_000_000, seed: 1)
            let b = shape.hasPrefix("merge")
                ? Fixture.postings(count: 1_000_000, seed: 2)
                : Fixture.sample(a, perMille: 5, seed: 3) + Fixture.postings(count: 5_000, seed: 4, start: 1_001)
            let sortedB = PostingList.dedupeSorted(b.sorted())
            return (a, sortedB)
        }
    }

    // Union of three 300K lists (concatenate, sort, dedupe).
    Benchmark("PostingList: union 3 x 300K", configuration: configuration([Metrics.postingsPerSecond])) { benchmark, lists in
        benchmark.startMeasurement()
        let (r, seconds) = timed { PostingList.union(lists) }
        benchmark.stopMeasurement()
        blackHole(r)
        benchmark.measurement(Metrics.postingsPerSecond, rate(lists.reduce(0) { $0 + $1.count }, perSecond: seconds, unit: 1e6))
    } setup: {
        (1...3).map { Fixture.postings(count: 300_000, seed: UInt64(10 + $0)) }
    }

    // Segment writer: a fresh segment per iteration holding all sessions of the corpus:
    // block encoding + zstd (level 1, as `index` writes; in parallel), term postings,
    // tables, fsync, rename. Throughput counts the sessions' text bytes.
    for threads in [1, 2] {
        Benchmark("SegmentWriter: add+finish",
                  configuration: configuration([Metrics.megabytesPerSecond, Metrics.outputKilobytes],
                                               tags: ["threads": "\(threads)"], maxIterations: 20)) { (benchmark, input: (sessions: [Session], textBytes: Int)) in
            let (sessions, textBytes) = input
            let dir = Fixture.segmentDirectory()
            let name = "bench-\(benchmark.currentIteration).seg"
            benchmark.startMeasurement()
            let (size, seconds) = timed { () -> UInt64 in
                let w = try! SegmentWriter(directory: dir, name: name, threads: threads, level: SegmentWriter.indexingLevel)
                try! w.add(sessions)
                return try! w.finish()
            }
            benchmark.stopMeasurement()
            unlink(dir + "/" + name)
            benchmark.measurement(Metrics.megabytesPerSecond, rate(textBytes, perSecond: seconds, unit: 1e6))
            benchmark.measurement(Metrics.outputKilobytes, Int(size / 1000))
        } setup: {
            try Fixture.sessions()
        } teardown: {
            _ = rmdir(Fixture.segmentDirectory())
        }
    }

    // zstd on raw log text in the store's block size (256 KiB), one thread: level 1 as
    // `index` writes, level 3 as `compact` does. (The store compresses line-encoded
    // columns, about half these bytes; this row is the cost of zstd itself.)
    for level: Int32 in [1, 3] {
    Benchmark("Zstd: compress 256 KiB blocks (level \(level))",
              configuration: configuration([Metrics.megabytesPerSecond, Metrics.outputKilobytes])) { benchmark, text in
        let block = 256 << 10
        let limit = min(text.count, 16 << 20)  // 16 MiB of the corpus per iteration
        text.withUnsafeBytes { p in
            benchmark.startMeasurement()
            let (out, seconds) = timed { () -> Int in
                var total = 0
                var at = 0
                while at < limit {
                    let end = min(at + block, limit)
                    total += Zstd.compress(UnsafeRawBufferPointer(rebasing: p[at..<end]), level: level).count
                    at = end
                }
                return total
            }
            benchmark.stopMeasurement()
            benchmark.measurement(Metrics.megabytesPerSecond, rate(limit, perSecond: seconds, unit: 1e6))
            benchmark.measurement(Metrics.outputKilobytes, out / 1000)
        }
    } setup: {
        try Fixture.corpusText()
    }
    }
}
