import ArgumentParser
import MaildexCore
#if canImport(Glibc)
import Glibc
#endif

struct Index: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Index log files (plain or zstd) into an index directory; run again to add new files.",
        discussion: """
        Takes files and directories (searched recursively for *.log, *.log.zst, *.zst),
        orders them by the date and time in their names, and indexes them. Files already
        in the index (same name and size, and same modification time or SHA-256) are
        skipped, so a nightly run over the whole log directory is safe to repeat.

        Exit status: 0 when every file was indexed; 1 when a file could not be read in
        full (the others are still indexed, the message names the file and byte
        offset), or when merging the newest segments after the run failed (the run's
        files are indexed all the same); 2 for bad usage or an index that cannot be
        written.

        Examples:
          maildex index --index /srv/maildex /var/log/mail/
          maildex index --index idx --json corpus/2026-01-*.log.zst
          maildex index --index idx --date 2026-01-27 /tmp/current.log
          maildex index --index idx --server mx01 /var/log/mx01/
          maildex index --index idx --server mx02 /var/log/mx02/

        With --server NAME the run's files are that server's: its sessions carry the
        name (query server:mx01, JSON "server"), its channel and queue ids join only its
        own, and two servers' files of the same name are two files of the index.
        """
    )

    @Option(help: "Index directory (created if missing).")
    var index: String

    @Argument(help: "Log files and directories.")
    var paths: [String]

    @Option(help: "Date (YYYY-MM-DD) for files whose name has none.")
    var date: String? = nil

    @Option(help: "The server whose logs these are (letters, digits, . - _; at most 64).")
    var server: String? = nil

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))

    @Option(help: "Bytes per parse chunk.")
    var chunkSize: Int = 1 << 20

    @Option(help: ArgumentHelp("Bytes of log text parsed and written as one batch.", visibility: .hidden))
    var windowSize: Int = ReadOptions().windowSize

    @Flag(help: "Read every file with read(2) instead of mapping it.")
    var noMmap = false

    @Option(help: ArgumentHelp("Map only files last modified at least this long ago; read newer ones (a log still being written may be truncated under maildex) with read(2).", valueName: "seconds"))
    var mapAfter: Int = ReadOptions().restSeconds

    @Flag(help: "Do not merge the newest small segments after the run (merge by hand with `maildex compact`).")
    var noMerge = false

    @Flag(help: "Print a machine-readable summary on stdout.")
    var json = false

    func run() throws {
        var o = Indexer.Options()
        o.threads = max(1, threads)
        o.chunkSize = max(4096, chunkSize)
        o.read.useMmap = !noMmap
        o.read.restSeconds = max(0, mapAfter)
        if noMerge { o.mergePolicy = nil }
        if let server {
            guard Indexer.validServerName(server) else {
                throw ValidationError("--server: `\(server)` is not a server name (1 to 64 letters, digits, `.`, `-`, `_`)")
            }
            o.server = server.lowercased()  // one spelling, as the term and stats have it
        }
        // On a terminal, over the progress bar's line.
        let clear = isatty(2) != 0 ? "\r\u{1B}[K" : ""
        o.mergeStarting = { n, bytes in warn(clear + "merging the \(n) newest segments (\(formatBytes(bytes))) ...") }
        o.read.windowSize = min(max(1 << 20, windowSize), SourceReader.maxWindow / 2)
        if let date {
            guard let d = CivilDate(iso: date) else { throw ValidationError("--date must be YYYY-MM-DD") }
            o.defaultDate = d
        }
        let bar = ProgressBar()
        let report: Indexer.Report
        do {
            report = try Indexer.run(directory: index, paths: paths, options: o) { bar.update($0) }
        } catch {
            bar.finish()
            throw fail(error)
        }
        bar.finish()
        for e in report.errors { warn("maildex: error: \(e)") }
        for n in report.notes { warn("maildex: note: \(n)") }
        if getenv("MAILDEX_PHASES") != nil {
            warn("phases: " + report.phaseSeconds.sorted { $0.key < $1.key }.map { "\($0.key) \(formatDouble($0.value, digits: 2)) s" }.joined(separator: ", "))
        }
        let rate = Double(report.plainBytes) / max(report.seconds, 1e-9)
        if json {
            var j = JSONObjectWriter()
            j.int("files", report.files)
            j.int("skipped", report.skipped)
            j.uint("bytes", report.plainBytes)
            j.uint("diskBytes", report.diskBytes)
            j.uint("lines", report.lines)
            j.uint("unparsedLines", report.unparsed)
            j.uint("sessions", report.sessions)
            j.uint("messages", report.messages)
            j.double("seconds", report.seconds)
            j.double("bytesPerSecond", rate)
            j.uint("indexBytes", report.indexBytes)
            j.int("segmentsWritten", report.segmentsWritten)
            j.int("segmentsMerged", report.merged.segmentsMerged)
            j.int("segments", report.segments)
            j.int("errors", report.errors.count)
            ByteOutput.standardOutput.line(j.finish())
        } else {
            warn("indexed \(report.files) files (\(report.skipped) skipped), \(formatBytes(report.plainBytes)) of log text, \(report.lines) lines, \(report.sessions) sessions, \(report.messages) messages in \(formatDouble(report.seconds, digits: 2)) s (\(formatBytes(UInt64(rate)))/s); index now \(formatBytes(report.indexBytes))")
            if report.merged.merges > 0 {
                warn("merged \(report.merged.segmentsMerged) small segments into \(report.merged.segmentsWritten) in \(formatDouble(report.merged.seconds, digits: 2)) s; the index has \(report.segments) segment\(report.segments == 1 ? "" : "s")")
            }
        }
        try finishStandardOutput()
        if !report.errors.isEmpty { throw ExitCode(1) }
    }
}

/// A progress bar on stderr when it is a terminal; a plain line per file otherwise.
final class ProgressBar {
    let tty = isatty(2) != 0
    var lastFile = -1
    var lastDraw = 0.0

    func update(_ p: Indexer.Progress) {
        if tty {
            guard p.seconds - lastDraw > 0.1 else { return }
            lastDraw = p.seconds
            let rate = Double(p.plainBytes) / max(p.seconds, 1e-9)
            let frac = p.diskBytesTotal > 0 ? min(1, Double(p.diskBytesDone) / Double(p.diskBytesTotal)) : 0
            let eta = frac > 0.01 ? p.seconds * (1 - frac) / frac : 0
            let width = 30
            let filled = Int(frac * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            ByteOutput.standardError.write("\r[\(bar)] \(p.fileIndex + 1)/\(p.fileCount) files, \(formatBytes(p.plainBytes)), \(formatBytes(UInt64(rate)))/s, ETA \(Int(eta)) s   ")
            ByteOutput.standardError.flush()
        } else if p.fileIndex != lastFile {
            lastFile = p.fileIndex
            warn("indexing \(p.fileIndex + 1)/\(p.fileCount): \(p.file)")
        }
    }

    func finish() {
        if tty && lastDraw > 0 { ByteOutput.standardError.write("\r\u{1B}[K"); ByteOutput.standardError.flush() }
    }
}
