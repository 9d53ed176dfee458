import ArgumentParser
import MaildexCore

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every byte of an index against its checksums, and show what it holds.",
        discussion: """
        Exit status 0 when the index is intact, 2 when a file is corrupt (the message
        names the file and the byte offset). A source file recorded without its SHA-256
        (by a maildex before 2026-11-30) is named in a warning on stderr.

        Example:
          maildex verify --index idx
        """
    )

    @Option(help: "Index directory.")
    var index: String

    func run() throws {
        do {
            let reader = try IndexReader(directory: index)
            var total = 0
            for s in reader.segments {
                try s.verifyAll()
                total += s.fileSize
                let parts = s.sectionSizes.map { "\($0.name) \(formatBytes($0.bytes))" }.joined(separator: ", ")
                emit("\(s.name): \(s.sessionCount) sessions, \(s.termCount) terms, \(s.blockCount) blocks, \(formatBytes(UInt64(s.fileSize))): \(parts)")
            }
            let carried = try reader.verifyCarryFiles()
            for (name, sessions) in carried { emit("\(name): \(sessions) sessions open at the end of the last run") }
            // Not damage, but a gap in the evidence: maildex before 2026-11-30 recorded no
            // digest for `.zst` files.
            let undigested = reader.sources.values.filter { !$0.hasDigest && !$0.partial }.map(\.name).sorted()
            if !undigested.isEmpty {
                warn("maildex: warning: \(undigested.count) source file(s) were indexed without their SHA-256 (a maildex before 2026-11-30, .zst files): \(undigested.prefix(5).joined(separator: ", "))\(undigested.count > 5 ? ", ..." : ""); rebuild the index to record them")
            }
            let partial = reader.sources.values.filter(\.partial).map(\.name).sorted()
            if !partial.isEmpty {
                warn("maildex: warning: \(partial.count) source file(s) were indexed in part only (reading stopped at an error): \(partial.prefix(5).joined(separator: ", "))\(partial.count > 5 ? ", ..." : "")")
            }
            let plain = reader.sources.values.reduce(0) { $0 + $1.plainBytes }
            emit("ok: \(reader.segments.count) segments, \(reader.sources.count) source files (\(formatBytes(plain)) of log text), \(reader.sessionCount) sessions, \(formatBytes(UInt64(total))) (\(formatDouble(plain > 0 ? 100 * Double(total) / Double(plain) : 0, digits: 1))% of the log text)")
        } catch {
            throw fail(error)
        }
        try finishStandardOutput()
    }
}
