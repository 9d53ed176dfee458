import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import MaildexCore

@main
struct Maildex: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maildex",
        abstract: "Index and search SMTP logs of Stalker Internet Mail Server and CommuniGate Pro.",
        discussion: """
        Index years of daily logs (plain or zstd) once, add each new day as it comes,
        then get every SMTP session of an IP, subnet, address, domain, message id or
        line id, whole and verbatim, with where each line came from.

        Example, end to end:
          maildex generate --out corpus --days 3 --sessions-per-day 2000 --seed 1
          maildex index --index idx corpus
          maildex query --index idx ip:203.0.113.0/24
        """,
        version: "0.1.0",
        subcommands: [Generate.self, Index.self, QueryCommand.self, Stats.self, Compact.self, Verify.self, Bench.self, Sessions.self, DebugParse.self]
    )
}

/// Writes a line to standard error.
func warn(_ message: String) {
    ByteOutput.standardOutput.flush()
    ByteOutput.standardError.line(message)
}

/// Ends a command's output: everything it wrote to standard output (through
/// `ByteOutput` or `print`) must have been written, else it exits 2 with a message.
func finishStandardOutput() throws {
    var failed: String? = nil
    do { try ByteOutput.standardOutput.finish() } catch { failed = "\(error)" }
    // `print` goes through stdio: flushing every stream reports its failed writes.
    if fflush(nil) != 0, failed == nil {
        failed = "cannot write to standard output: \(String(cString: strerror(errno)))"
    }
    if let failed {
        ByteOutput.standardError.line("maildex: \(failed)")
        throw ExitCode(2)
    }
}
