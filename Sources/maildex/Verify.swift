import ArgumentParser
import MaildexCore

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every byte of an index against its checksums, and show what it holds.",
        discussion: """
        Exit status 0 when the index is intact, 2 when a file is corrupt (the message
        names the file and the byte offset).

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
                print("\(s.name): \(s.sessionCount) sessions, \(s.termCount) terms, \(s.blockCount) blocks, \(formatBytes(UInt64(s.fileSize))): \(parts)")
            }
            let plain = reader.sources.values.reduce(0) { $0 + $1.plainBytes }
            print("ok: \(reader.segments.count) segments, \(reader.sources.count) source files (\(formatBytes(plain)) of log text), \(reader.sessionCount) sessions, \(formatBytes(UInt64(total))) (\(formatDouble(plain > 0 ? 100 * Double(total) / Double(plain) : 0, digits: 1))% of the log text)")
        } catch {
            warn("maildex: \(error)")
            throw ExitCode(2)
        }
    }
}
