import ArgumentParser
import MaildexCore

struct Sessions: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read log files and print their sessions, without an index.",
        discussion: """
        For a quick look at a few files, or to check what maildex makes of a log.

        Examples:
          maildex sessions /var/log/mail/2026-01-27.log
          maildex sessions --summary corpus/
        """
    )

    @Argument(help: "Files or directories.")
    var paths: [String]

    @Option(help: "Date for files whose name has none (YYYY-MM-DD).")
    var date: String? = nil

    @Flag(help: "One line per session.")
    var summary = false

    @Option(help: "Worker threads.")
    var threads: Int = 2

    func run() throws {
        let found = InputFiles.discover(paths, defaultDate: date.flatMap { CivilDate(iso: $0) })
        for e in found.errors { warn("maildex: \(e)") }
        let result = FileSetReader.sessions(of: found.files, threads: threads)
        for e in result.errors { warn("maildex: \(e)") }
        let names = found.files.map(\.name)
        for s in result.sessions {
            let view = SessionView(session: s, sourceName: { Int($0) < names.count ? names[Int($0)] : "?" })
            let out = ByteOutput.standardOutput
            if summary {
                out.line(view.summaryLine())
            } else {
                var bytes = [UInt8]()
                view.appendTranscript(to: &bytes, provenance: false, offsets: false)
                out.write(bytes)
                out.write("\n\n")
            }
        }
        try finishStandardOutput()
        warn("\(result.sessions.count) sessions, \(result.counts.lines) lines, \(result.counts.unparsed) unparsed")
        if !found.errors.isEmpty || !result.errors.isEmpty { throw ExitCode(1) }
    }
}
