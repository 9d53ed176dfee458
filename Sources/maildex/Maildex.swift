import ArgumentParser
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
          maildex serve --index idx          # the web page at http://127.0.0.1:8025/
        """,
        version: "0.1.0",
        subcommands: [Generate.self, Index.self, QueryCommand.self, Stats.self, Serve.self, Compact.self, Verify.self, Bench.self, Sessions.self, Export.self, SQL.self, DebugParse.self]
    )

    /// Runs the command, as `ParsableCommand.main()` does, except that bad usage (an
    /// unknown option, a missing or malformed value, a failed validation) exits with
    /// status 2, as maildex's commands document and as grep does, not with
    /// ArgumentParser's 64 (`EX_USAGE`).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                ByteOutput.standardOutput.flush()
                ByteOutput.standardError.line(fullMessage(for: error))
                exit(withError: ExitCode(2))
            }
            exit(withError: error)
        }
    }
}

/// Writes a line to standard error.
func warn(_ message: String) {
    ByteOutput.standardOutput.flush()
    ByteOutput.standardError.line(message)
}

/// Writes a line to standard output. Commands write through `ByteOutput` only (not
/// `print`), so that `finishStandardOutput` sees every failed write.
func emit(_ line: String) { ByteOutput.standardOutput.line(line) }

/// Ends a command's output, or any part of it: everything written to standard output
/// so far must have been written, else the command exits 2 with a message.
func finishStandardOutput() throws {
    do { try ByteOutput.standardOutput.finish() } catch {
        ByteOutput.standardError.line("maildex: \(error)")
        throw ExitCode(2)
    }
}

/// Reports an error that stops a command and gives its exit status: the engine's errors
/// say theirs (`MaildexError.exitStatus`), anything else is 2.
func fail(_ error: Error) -> ExitCode {
    warn("maildex: \(error)")
    if let e = error as? MaildexError { return ExitCode(e.exitStatus) }
    return ExitCode(2)
}
