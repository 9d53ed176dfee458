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

    // MARK: - The simulation

    func step() {
        while active.count < concurrency { startSession() }
        // Records of other components, and the messages' own records.
        let r = random.unit()
        // A message's records follow it within a short while: the backlog stays small.
        if !messageNoise.isEmpty, r < 0.04 || messageNoise.count > 64 {
            let i = random.below(messageNoise.count)
            let line = messageNoise.swapAt(i)
            writeRaw(line)
            return
        }
        if r < 0.06 { noise(); return }
        let i = random.below(active.count)
        let s = active[i]
        emit(s)
        if s.next >= s.stop {
            active[i] = active[active.count - 1]
            active.removeLast()
            finishSession(s)
        }
    }

    func startSession() {
        let peer = peers[min(peers.count - 1, Int(Double(peers.count) * pow(random.unit(), 4)))]
        let orphan = random.chance(0.01)
        var id: UInt32
        if stalker {
            // An orphan may not take the id of a session that was never closed: its
            // records would continue that session.
            var k = random.below(freeStalkerIDs.count)
            if orphan {
                var tries = 0
                while danglingIDs.contains(freeStalkerIDs[k]) && tries < 20 { k = random.below(freeStalkerIDs.count); tries += 1 }
                if danglingIDs.contains(freeStalkerIDs[k]) { return startNormal(peer) }
            }
            id = freeStalkerIDs.swapAt(k)
            danglingIDs.remove(id)
        } else {
            id = cgpBase + nextCGPID
            nextCGPID = (nextCGPID + 1) % 250_000
        }
        let s = GenSession(key: ChannelKey(kind: stalker ? ChannelKey.smtp : ChannelKey.smtpi, id: id),
                           idText: stalker ? Array(String(id).utf8) : Array(pad6(id)),
                           peer: peer.ip, peerText: peer.text, port: 1024 + random.below(64000),
                           helo: heloNames[min(heloNames.count - 1, Int(Double(heloNames.count) * pow(random.unit(), 2)))])
        script(s)
        if orphan {
            s.next = min(s.steps.count - 1, 4 + random.below(8))
            while s.next < s.steps.count - 1, s.steps[s.next].flags & GenStep.continuation != 0 { s.next += 1 }
        }
        if random.chance(0.01) { s.stop = max(s.next + 1, s.steps.count - 1 - random.below(6)); s.vanishes = true }
        s.truthIndex = truth.count
        truth.append(nil)
        active.append(s)
    }

    func startNormal(_ peer: (ip: IPAddress, text: [UInt8])) {
        // Fallback when no id is safe for an orphan: start an ordinary session.
        let k = random.below(freeStalkerIDs.count)
        let id = freeStalkerIDs.swapAt(k)
        danglingIDs.remove(id)
        let s = GenSession(key: ChannelKey(kind: ChannelKey.smtp, id: id), idText: Array(String(id).utf8),
                           peer: peer.ip, peerText: peer.text, port: 1024 + random.below(64000),
                           helo: heloNames[random.below(heloNames.count)])
        script(s)
        s.truthIndex = truth.count
        truth.append(nil)
        active.append(s)
    }

    func pad6(_ v: UInt32) -> String.UTF8View {
        let s = String(v)
        return (String(repeating: "0", count: max(0, 6 - s.count)) + s).utf8
    }

    func finishSession(_ s: GenSession) {
        if stalker {
            freeStalkerIDs.append(s.key.id)
            if s.vanishes { danglingIDs.insert(s.key.id) }
        }
        finalizeTruth(s)
    }

    /// Writes the session's next record and the continuation lines that follow it.
    func emit(_ s: GenSession) {
        emitOne(s)
        while s.next < s.steps.count, s.steps[s.next].flags & GenStep.continuation != 0 { emitOne(s) }
    }

    func emitOne(_ s: GenSession) {
        let st = s.steps[s.next]
        s.next += 1
        if st.flags & GenStep.continuation == 0 {
            writeTimePrefix(level: st.level)
            if options.recordTruth {
                if s.firstTime == nil { s.firstTime = timeText }
                s.lastTime = timeText
            }
        }
        s.body.withUnsafeBufferPointer { b in
            out.append(contentsOf: UnsafeBufferPointer(rebasing: b[Int(st.start)..<Int(st.end)]))
        }
        out.append(10)
        fileLine += 1
        if options.recordTruth {
            if s.firstFile < 0 { s.firstFile = fileIndex; s.firstLine = TruthLine(file: fileIndex, line: fileLine) }
            s.emitted.append(Int32(s.next - 1))
            if options.recordLines { s.lines.append(TruthLine(file: fileIndex, line: fileLine)) }
        }
        if st.sem == .message { queueMessageNoise(s, Int(st.value)) }
    }

    /// Writes a record that belongs to no session: `line[0]` is its level, the rest its
    /// text, which may hold continuation lines after `\n`.
    func writeRaw(_ line: [UInt8]) {
        writeTimePrefix(level: line[0])
        out.append(contentsOf: line[1...])
        out.append(10)
        for c in line.dropFirst() where c == 10 { fileLine += 1 }
        fileLine += 1
    }

    func noise() {
        switch random.below(5) {
        case 0:
            let p = peers[random.below(peers.count)].text
            writeRaw([4] + Array("POP-\(random.below(900) + 1)([".utf8) + p + Array("]) Received 6 bytes".utf8))
        case 1:
            writeRaw([2] + Array("ROUTER [\(random.below(100000))] relay routing to \(random.below(50)).example.net".utf8))
        case 2:
            let p = peers[random.below(peers.count)].text
            writeRaw([5] + Array((stalker ? "IMAP-\(random.below(900) + 1)([" : "IMAPI-\(pad6(UInt32(random.below(999_999))))([").utf8) + p
                     + Array("]) Input Line: A01 NOOP\\r".utf8))
        case 3:
            // A record of another component with continuation lines.
            writeRaw([3] + Array("SYSTEM Warning: disk space is low\\r\\n".utf8))
            out.append(contentsOf: Array("  only 12% left on volume /var/spool".utf8)); out.append(10); fileLine += 1
            out.append(10); fileLine += 1
        default:
            tcpSequence += 1
            let p = peers[random.below(peers.count)].text
            if stalker {
                writeRaw([4] + Array("SMTP(tcp) Connection accepted from [".utf8) + p
                         + Array(":\(1024 + random.below(60000))], seq=\(tcpSequence), 3/9".utf8))
            } else {
                writeRaw([5] + Array("SMTP(tcp) connection from [".utf8) + p + Array("]:\(1024 + random.below(60000)) accepted".utf8))
            }
        }
    }

    func queueMessageNoise(_ s: GenSession, _ message: Int) {
        let id = s.messageIDs[message]
        let from = s.fromWritten[message]
        if stalker {
            messageNoise.append([2] + Array("SYSTEM [".utf8) + id + Array("] <\(random.below(1000)).\(random.below(999999))@host.example>".utf8)
                                + [10] + Array("0+1 From:".utf8) + from)
            messageNoise.append([2] + Array("SYSTEM(POP) [".utf8) + id + Array("] delivered to (user\(random.below(50)))".utf8))
            messageNoise.append([2] + Array("SYSTEM [".utf8) + id + Array("] deleted".utf8))
        } else {
            messageNoise.append([2] + Array("QUEUE([".utf8) + id + Array("]) from <".utf8) + from
                                + Array(">, \(1000 + random.below(50000)) bytes (<\(random.below(999999))@host.example>)".utf8))
            messageNoise.append([2] + Array("DEQUEUER [".utf8) + id + Array("] LOCAL(user\(random.below(50))@example.com) delivered: Delivered to the user mailbox".utf8))
        }
    }

    // MARK: - Time

    func writeTimePrefix(level: UInt8) {
        let dayMillis = now % 86_400_000
        let second = dayMillis / 1000
        if second != timeTextSecond || (!stalker && dayMillis != timeTextMillis) {
            timeTextSecond = second
            timeTextMillis = dayMillis
            timeText.removeAll(keepingCapacity: true)
            func two(_ v: Int64) { timeText.append(UInt8(48 + v / 10)); timeText.append(UInt8(48 + v % 10)) }
            two(second / 3600); timeText.append(58); two((second / 60) % 60); timeText.append(58); two(second % 60)
            if !stalker {
                let ms = dayMillis % 1000
                timeText.append(46)
                timeText.append(UInt8(48 + ms / 100)); timeText.append(UInt8(48 + (ms / 10) % 10)); timeText.append(UInt8(48 + ms % 10))
            }
        }
        out.append(contentsOf: timeText)
        out.append(32)
        out.append(48 + level)
        out.append(32)
    }

    // MARK: - Files

    func openFile(_ name: String, _ date: CivilDate) throws {
        try closeFile()
        fileIndex += 1
        fileLine = 0
        filePlain = 0
        let path = directory + "/" + name
        guard let f = fopen(path, "wb") else { throw GeneratorError(message: "cannot write \(path)") }
        fileHandle = f
        corpus.files.append(GeneratedFile(path: path, name: name, date: date, plainBytes: 0, bytesOnDisk: 0))
        switch options.compression {
        case .none: compressor = nil
        case .zstd: compressor = Zstd.StreamCompressor(level: 3, workers: 2)
        case .zstdFrames: compressor = Zstd.StreamCompressor(level: 3)
        }
        frameFill = 0
        frameCount = 0
    }

    func flush(final: Bool) throws {
        guard fileIndex >= 0, let f = fileHandle else { out.removeAll(keepingCapacity: true); return }
        filePlain += UInt64(out.count)
        corpus.lines += 0
        let write: (UnsafeRawBufferPointer) throws -> Void = { b in
            if b.count > 0, fwrite(b.baseAddress, 1, b.count, f) != b.count {
                throw GeneratorError(message: "write failed: \(self.corpus.files.last!.path)")
            }
        }
        switch options.compression {
        case .none:
            try out.withUnsafeBytes(write)
        case .zstd:
            try out.withUnsafeBytes { try compressor!.write($0, sink: write) }
            if final { try compressor!.endFrame(sink: write) }
        case .zstdFrames:
            // Cut frames every `frameSize` plain bytes; alternate frames with and
            // without a recorded content size.
            try out.withUnsafeBytes { all in
                var at = 0
                while at < all.count {
                    let n = min(options.frameSize - frameFill, all.count - at)
                    let piece = UnsafeRawBufferPointer(rebasing: all[at..<(at + n)])
                    if frameCount % 2 == 0 {
                        pendingFrame.append(contentsOf: piece)
                    } else {
                        try compressor!.write(piece, sink: write)
                    }
                    frameFill += n
                    at += n
                    if frameFill == options.frameSize { try endFrame(write) }
                }
            }
            if final && frameFill > 0 { try endFrame(write) }
        }
        out.removeAll(keepingCapacity: true)
    }

    var pendingFrame = [UInt8]()

    func endFrame(_ write: (UnsafeRawBufferPointer) throws -> Void) throws {
        if frameCount % 2 == 0 {
            let frame = pendingFrame.withUnsafeBytes { Zstd.compress($0, level: 3) }
            try frame.withUnsafeBytes(write)
            pendingFrame.removeAll(keepingCapacity: true)
        } else {
            try compressor!.endFrame(sink: write)
        }
        frameCount += 1
        frameFill = 0
    }

    func closeFile() throws {
        guard fileIndex >= 0, let f = fileHandle else { return }
        try flush(final: true)
        let size = UInt64(max(0, ftell(f)))
        fclose(f)
        fileHandle = nil
        corpus.files[fileIndex].plainBytes = filePlain
        corpus.files[fileIndex].bytesOnDisk = size
        corpus.lines += fileLine
    }
}

public struct GeneratorError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension Array {
    /// Removes and returns element `i` in O(1), moving the last element into its place.
    mutating func swapAt(_ i: Int) -> Element {
        let v = self[i]
        self[i] = self[count - 1]
        removeLast()
        return v
    }
}
