import ArgumentParser
import MaildexCore
import MaildexGenerate
#if canImport(Glibc)
import Glibc
#endif

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a realistic corpus of daily log files, with its ground truth.",
        discussion: """
        Hundreds of concurrent sessions interleaved line by line, reused line ids,
        skewed peers and addresses, rejected recipients, sessions without DATA,
        several messages per session, null senders, lowercase commands, odd spacing,
        mixed-case addresses, records of other components, sessions crossing midnight
        and (CommuniGate) extra files within a day. The same seed writes the same bytes.

        Examples:
          maildex generate --out corpus --days 7 --start-date 2026-01-01 --sessions-per-day 5000 --seed 1
          maildex generate --out cgp --dialect cgp --compress zstd-frames --days 2 --sessions-per-day 1000 --seed 2
          maildex generate --out big --size 2G --seed 3          # about 2 GB of log text
        """
    )

    @Option(help: "Directory to write the day files into (created if missing).")
    var out: String

    @Option(help: "Number of days (files per day: 1 for stalker, 3 for cgp).")
    var days: Int = 3

    @Option(help: "First day, YYYY-MM-DD.")
    var startDate: String = "2026-01-01"

    @Option(help: "SMTP sessions per day.")
    var sessionsPerDay: Int = 2000

    @Option(help: "Seed of the random generator.")
    var seed: UInt64 = 1

    @Option(help: "Log dialect: stalker or cgp.")
    var dialect: String = "stalker"

    @Option(help: "none, zstd (one frame per file) or zstd-frames (many independent frames).")
    var compress: String = "none"

    @Option(help: "Approximate total log text (e.g. 500M, 2G, 10G): sets --sessions-per-day from --days.")
    var size: String? = nil

    @Option(help: "Write the ground truth (one JSON object per session) to this file.")
    var truth: String? = nil

    @Flag(help: "Print a JSON summary on stdout.")
    var json = false

    func run() throws {
        var o = GeneratorOptions()
        guard let start = CivilDate(iso: startDate) else { throw ValidationError("--start-date must be YYYY-MM-DD") }
        guard let d = Dialect(rawValue: dialect) else { throw ValidationError("--dialect must be stalker or cgp") }
        guard let c = CorpusCompression(rawValue: compress) else { throw ValidationError("--compress must be none, zstd or zstd-frames") }
        guard days > 0, sessionsPerDay > 0 else { throw ValidationError("--days and --sessions-per-day must be positive") }
        o.days = days
        o.startDate = start
        o.seed = seed
        o.dialect = d
        o.compression = c
        o.sessionsPerDay = sessionsPerDay
        if let size {
            guard let bytes = parseSize(size) else { throw ValidationError("--size must look like 500M or 2G") }
            // About 2.95 KB of log text per session, noise included.
            o.sessionsPerDay = max(10, Int(bytes / 2950 / UInt64(days)))
        }
        o.recordTruth = truth != nil
        o.recordLines = false
        let clock = Stopwatch()
        let corpus = try CorpusGenerator(options: o).run(directory: out)
        let seconds = clock.seconds
        if let truth { try writeTruth(corpus, to: truth) }
        let plain = corpus.plainBytes
        let disk = corpus.files.reduce(0) { $0 + $1.bytesOnDisk }
        if json {
            emit("{\"files\":\(corpus.files.count),\"plainBytes\":\(plain),\"bytesOnDisk\":\(disk),\"lines\":\(corpus.lines),\"seconds\":\(formatDouble(seconds)),\"bytesPerSecond\":\(Int(Double(plain) / max(seconds, 1e-9)))}")
        } else {
            emit("wrote \(corpus.files.count) files, \(formatBytes(plain)) of log text (\(formatBytes(disk)) on disk), \(corpus.lines) lines in \(formatDouble(seconds)) s (\(formatBytes(UInt64(Double(plain) / max(seconds, 1e-9))))/s) to \(out)")
        }
        try finishStandardOutput()
    }

    func writeTruth(_ corpus: GeneratedCorpus, to path: String) throws {
        guard let f = fopen(path, "wb") else { throw ValidationError("cannot write \(path)") }
        defer { fclose(f) }
        for t in corpus.sessions {
            var o = JSONObjectWriter()
            o.string("date", t.date.description)
            o.int("line", Int(t.channel.id))
            o.string("channel", t.channel.kind == ChannelKey.smtpi ? "SMTPI" : "SMTP")
            o.string("start", t.start)
            o.optionalString("end", t.end)
            o.bool("complete", t.complete)
            o.optionalString("peer", t.peer?.description)
            o.optionalInt("port", t.port)
            o.optionalString("helo", t.helo)
            o.strings("from", t.from)
            o.strings("to", t.to)
            o.strings("rejected", t.rejected)
            o.strings("messages", t.messages)
            o.optionalString("auth", t.auth)
            o.bool("tls", t.tls)
            o.string("file", corpus.files[t.firstLine.file].name)
            o.int("firstLine", Int(t.firstLine.line))
            var line = o.finish()
            line.append("\n")
            fputs(line, f)
        }
    }
}
