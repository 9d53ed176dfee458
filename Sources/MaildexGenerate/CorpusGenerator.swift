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
    /// CommuniGate only: the share of sessions that are outbound (`SMTP-N`); 0: none.
    public var outboundShare = 0.2
    /// Write each received message's trail (the records about it after the session's) and
    /// record its lines in the truth (`messageLines`, with `recordLines`).
    public var messageTrails = true
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
///
/// Message trails (`messageTrails`): every received message gets the records about it
/// that are no session's. Stalker: `SYSTEM [S.N] <msgid>` with its continuation line
/// `0+1 From:...`, then `SYSTEM(POP) [S.N] delivered to (user)` or `SYSTEM [S.N] relayed
/// to <addr>`, then `SYSTEM [S.N] deleted`. CommuniGate: `QUEUE([N]) from <...>, n bytes
/// (<msgid>)`, sometimes `EXTFILTER(kaspersky) [N] ... completed`, `QUEUE([N]) enqueued`,
/// then `LOCAL-N(addr) [N] stored on ...`, `DEQUEUER [N] delivered: ...`, `QUEUE([N])
/// deleted`, or, for a relayed message, once an outbound session has sent it, `SMTP(queue)
/// [N] batch relayed`, `DEQUEUER [N] SMTP(queue)addr relayed: relayed via host`,
/// `DEQUEUER-N [N] processing`, `QUEUE([N]) deleted`. The first records follow the
/// received record within milliseconds; the later ones come soon (while the session runs),
/// after the session has ended, or (4%) in the next file. Among them, records that name no
/// message in brackets (`ROUTER LOCAL: '<addr>' accepted`, `EXTFILTER(DKIM_verify) out(036):
/// ... FILE Queue/57/N.msg`) belong to no trail. The truth's `messageLines` of a session are
/// the lines of the trails of its `messages`.
///
/// CommuniGate also writes outbound sessions (`outboundShare`): `SMTP-N(relay ip:port)` or
/// `SMTP-N(domain)` from `rsp: 220` (which opens them) to `closing connection`, delivering
/// one queued message (mostly one an inbound session received; a reenqueued one is tried
/// again by a later session) with `[N] sent [local]:port -> [remote]:25, got:250 ...` or
/// `[N] reenqueueing addresses with temporary failure`. Its inbound sessions sometimes open
/// with `[local]:25 <- [peer]:port incoming connection`, close with `closing connection`, log
/// no HELO command (the context still turns to the HELO name), or name the account in the
/// received record (`received(account NAME)`, `received encrypted(account NAME)`).
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
    var peers: [(ip: IPAddress, text: [UInt8])] = []
    var heloNames: [[UInt8]] = []
    var truth: [TruthSession?] = []
    var tcpSequence = 100

    // Message trails and outbound sessions (GeneratorTrails.swift).
    var pending = PendingHeap()
    var pendingSeq: UInt64 = 0
    /// Messages waiting for an outbound session.
    var relayPool: [QueuedMessage] = []
    /// Outbound channel ids, counted apart from the inbound ones.
    var nextOutID: UInt32
    var relays: [(ip: IPAddress, text: [UInt8])] = []
    /// The lines of each message's trail (with `recordLines`).
    var trailLines: [[UInt8]: [TruthLine]] = [:]
    /// When the files start, and which opens next (a late trail record waits for it).
    var fileStartTimes: [Int64] = []
    var nextFileIndex = 0

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
        nextOutID = UInt32(random.below(100_000))
        for r in ["193.95.123.24", "198.51.100.25", "203.0.113.7"] {
            let a = IPAddress(r)!
            relays.append((a, Array(a.description.utf8)))
        }
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
                for i in t.messageLines.indices { t.messageLines[i].file += offset }
                all.sessions.append(t)
            }
        }
        return all
    }

    func runPart(directory: String) throws -> GeneratedCorpus {
        self.directory = directory
        let dayMillis: Int64 = 86_400_000
        let total = Int64(options.days) * dayMillis
        // About 38 lines per session (and noise): spread them over the day. The message
        // trails' lines add to them (CommuniGate's more than Stalker's).
        let trailShare = options.messageTrails ? (stalker ? 1.04 : 1.16) : 1.0
        let linesPerDay = Double(options.sessionsPerDay) * 38.0 * 1.08 * trailShare
        let meanStep = Double(dayMillis) / max(linesPerDay, 1)
        let fileStarts = fileSchedule()
        fileStartTimes = fileStarts.map(\.start)
        nextFileIndex = 0
        out.reserveCapacity(1 << 22)
        while now < total {
            if nextFileIndex < fileStarts.count && now >= fileStarts[nextFileIndex].start {
                try openFile(fileStarts[nextFileIndex].name, fileStarts[nextFileIndex].date)
                nextFileIndex += 1
            }
            step()
            now += Int64(random.unit() * 2 * meanStep)
            if out.count >= 1 << 22 { try flush(final: false) }
        }
        try closeFile()
        corpus.sessions = truth.compactMap { $0 }
        // Sessions the file set leaves open are incomplete: their truth is final now.
        // (Trail records still pending, or held back by open sessions, are never written.)
        for s in active { finalizeTruth(s) }
        if options.recordTruth && options.recordLines && options.messageTrails { linkTrails() }
        corpus.sessions = truth.compactMap { $0 }
        return corpus
    }

    /// Gives each session the lines of its messages' trails, in file order.
    func linkTrails() {
        for i in truth.indices {
            guard var t = truth[i], !t.messages.isEmpty else { continue }
            var lines = [TruthLine]()
            for m in t.messages { if let l = trailLines[Array(m.utf8)] { lines += l } }
            if t.messages.count > 1 { lines.sort { ($0.file, $0.line) < ($1.file, $1.line) } }
            t.messageLines = lines
            truth[i] = t
        }
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
