#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

public struct GeneratorOptions: Sendable {
    public var days = 3
    public var startDate = CivilDate(year: 2026, month: 1, day: 1)!
    public var sessionsPerDay = 1000
    public var seed: UInt64 = 1
    public var dialect = Dialect.stalker
    public var compression = CorpusCompression.none
    /// Keep each session's lines in the ground truth (tests); costs memory on big corpora.
    public var recordLines = false
    /// Keep the ground truth at all (`sessions` of the result).
    public var recordTruth = true
    /// Sessions open at once; default grows with `sessionsPerDay` (8 to 400).
    public var concurrency: Int? = nil
    /// Plain bytes per zstd frame for `zstd-frames`.
    public var frameSize = 1 << 20
    public init() {}
}

/// Writes realistic daily SMTP logs of either dialect, with their ground truth.
///
/// The simulation keeps many sessions open at once and writes them line by line
/// in random order, so records interleave as on a busy server. It covers what the
/// parser must get right: reused line ids, skewed peers and addresses, rejected
/// recipients, sessions without DATA, several messages per session, the null
/// sender, lowercase commands, odd spacing, mixed-case addresses, records of other
/// components (some with continuation lines), sessions crossing midnight, sessions
/// whose start the log never saw, sessions never closed, and (CommuniGate) extra
/// files within a day. Deterministic for a seed.
public final class CorpusGenerator {
    let options: GeneratorOptions
    var random: SeededRandom
    let stalker: Bool

    // Output state.
    var corpus = GeneratedCorpus()
    var out = [UInt8]()
    var fileIndex = -1
    var fileLine: UInt64 = 0
    var filePlain: UInt64 = 0
    var fileHandle: UnsafeMutablePointer<FILE>? = nil
    var compressor: Zstd.StreamCompressor? = nil
    var frameFill = 0
    var frameCount = 0
    /// Plain bytes of the frame being cut that is written with its content size (`zstd-frames`).
    var pendingFrame = [UInt8]()
    var directory = ""

    // Time, in milliseconds since the first day's midnight.
    var now: Int64 = 0
    var timeText = [UInt8]()
    var timeTextSecond: Int64 = -1
    var timeTextMillis: Int64 = -1

    // Simulation state.
    var active: [GenSession] = []
    var freeStalkerIDs: [UInt32] = []
    var danglingIDs = Set<UInt32>()
    var nextCGPID: UInt32
    let cgpBase: UInt32
    var nextMessage: UInt64
    var messageNoise: [[UInt8]] = []
    var peers: [(ip: IPAddress, text: [UInt8])] = []
    var heloNames: [[UInt8]] = []
    var truth: [TruthSession?] = []
    var tcpSequence = 100

    /// Which of the independent parts of a corpus this generator writes (see `run`).
    let part: Int

    public convenience init(options: GeneratorOptions) { self.init(options: options, part: 0) }

    init(options: GeneratorOptions, part: Int) {
        self.options = options
        self.part = part
        random = SeededRandom(seed: options.seed)
        stalker = options.dialect == .stalker
        // Parts use disjoint line ids and message ids, so they never touch each other's sessions.
        cgpBase = UInt32(part) * 250_000
        nextCGPID = UInt32(random.below(100_000))
        nextMessage = (stalker ? UInt64(10_000 + random.below(10_000)) : UInt64(100_000_000 + random.below(90_000_000)))
            + UInt64(part) * 200_000_000
        let peerCount = max(200, options.sessionsPerDay / 3)
        for i in 0..<peerCount {
            var r = SeededRandom(seed: options.seed &* 31 &+ UInt64(i))
            if !stalker && i % 10 == 7 {
                let a = IPAddress(high: 0x2001_0DB8_0000_0000 | UInt64(r.below(0xFFFF)) << 16,
                                  low: UInt64(r.below(0xFFFF)) << 32 | UInt64(1 + r.below(0xFFFE)))
                peers.append((a, Array(a.description.utf8)))
            } else {
                let v = UInt32(1 + r.below(222)) << 24 | UInt32(r.below(256)) << 16 | UInt32(r.below(256)) << 8
                    | UInt32(1 + r.below(254))
                let a = IPAddress(v4: v)
                peers.append((a, Array(a.description.utf8)))
            }
        }
        for i in 0..<max(50, peerCount / 4) {
            switch i % 4 {
            case 0: heloNames.append(Array("desk\(i)".utf8))
            case 1: heloNames.append(Array("mail\(i).dom\(i % 97).example".utf8))
            case 2: heloNames.append(Array("MX\(i).Sender\(i % 13).test".utf8))
            default: heloNames.append(Array("User-PC\(i)".utf8))
            }
        }
        freeStalkerIDs = Array(1...UInt32(concurrency * 3)).map { $0 + 100 + UInt32(part) * 10_000 }
    }

    var concurrency: Int { options.concurrency ?? min(400, max(8, options.sessionsPerDay / 10)) }

    /// Writes the corpus into `directory` (created if missing) and returns what it wrote.
    ///
    /// A corpus of three days or more is written as up to four independent parts (runs
    /// of consecutive days, two or more but for the last) in parallel, each with its own seed and its own ranges of line
    /// and message ids. The number of parts depends only on `days`, so a seed gives the
    /// same bytes on any machine. No session crosses from one part into the next: the
    /// sessions open at the end of a part stay incomplete, as at the end of a log.
    public func run(directory: String) throws -> GeneratedCorpus {
        makeDirectories(directory)
        // Parts of two days (the last may have one), so sessions still cross midnight.
        let parts = min((options.days + 1) / 2, 4)
        if parts <= 1 || part > 0 { return try runPart(directory: directory) }
        var generators = [CorpusGenerator]()
        var firstDay = 0
        for k in 0..<parts {
            let days = options.days / parts + (k < options.days % parts ? 1 : 0)
            var o = options
            o.days = days
            o.startDate = options.startDate.adding(days: firstDay)
            o.seed = options.seed &+ UInt64(k) &* 0x9E37_79B9_7F4A_7C15
            generators.append(CorpusGenerator(options: o, part: k))
            firstDay += days
        }
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let results = Parallel.map(parts, threads: max(1, cores)) { k in
            Result { try generators[k].runPart(directory: directory) }
        }
        var all = GeneratedCorpus()
        for r in results {
            let c = try r.get()
            let offset = all.files.count
            all.files += c.files
            all.lines += c.lines
            for var t in c.sessions {
                t.firstLine.file += offset
                for i in t.lines.indices { t.lines[i].file += offset }
                all.sessions.append(t)
            }
        }
        return all
    }

    func runPart(directory: String) throws -> GeneratedCorpus {
        self.directory = directory
        let dayMillis: Int64 = 86_400_000
        let total = Int64(options.days) * dayMillis
        // About 38 lines per session (and noise): spread them over the day.
        let linesPerDay = Double(options.sessionsPerDay) * 38.0 * 1.08
        let meanStep = Double(dayMillis) / max(linesPerDay, 1)
        let fileStarts = fileSchedule()
        var nextFile = 0
        out.reserveCapacity(1 << 22)
        while now < total {
            if nextFile < fileStarts.count && now >= fileStarts[nextFile].start {
                try openFile(fileStarts[nextFile].name, fileStarts[nextFile].date)
                nextFile += 1
            }
            step()
            now += Int64(random.unit() * 2 * meanStep)
            if out.count >= 1 << 22 { try flush(final: false) }
        }
        try closeFile()
        corpus.sessions = truth.compactMap { $0 }
        // Sessions the file set leaves open are incomplete: their truth is final now.
        for s in active { finalizeTruth(s) }
        corpus.sessions = truth.compactMap { $0 }
        return corpus
    }

    /// Start times (ms) and names of the files: one per day; CommuniGate also starts
    /// files at 08:00 and 16:00, and names some days' first file with a time.
    func fileSchedule() -> [(start: Int64, name: String, date: CivilDate)] {
        var out: [(Int64, String, CivilDate)] = []
        let ext = options.compression == .none ? ".log" : ".log.zst"
        for d in 0..<options.days {
            let date = options.startDate.adding(days: d)
            let base = Int64(d) * 86_400_000
            if stalker {
                out.append((base, "\(date)\(ext)", date))
            } else {
                out.append((base, d % 2 == 1 ? "\(date)_00-00\(ext)" : "\(date)\(ext)", date))
                out.append((base + 8 * 3_600_000, "\(date)_08-00\(ext)", date))
                out.append((base + 16 * 3_600_000, "\(date)_16-00\(ext)", date))
            }
        }
        return out
    }
}
