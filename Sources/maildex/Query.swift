import ArgumentParser
import MaildexCore

struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Print every session that matches all the terms, oldest first.",
        discussion: Query.syntax + """


        Output: a transcript per session (a header line, then its lines exactly as in
        the log), --summary (a line per session), --count, --json (NDJSON: date, line,
        start, end, complete, peer, port, helo, from, to, rejected, messages, server,
        direction, tls, auth, source, lines) or --evidence (transcript with file, line
        number and byte offset of every line, and the SHA-256 of each source file
        recorded when it was indexed). --messages adds what became of the session's
        messages: the records about them (queue, delivery, deletion) after its lines,
        and the JSON key messageLines.

        --batch FILE (- for standard input) answers one query per line in one process:
        NDJSON, each session object with the key "query" first, or with --count one
        {"query": ..., "count": n} per line. Blank lines and lines starting with # are
        skipped; a line that does not parse gives {"query": ..., "error": ...}.

        Exit status: 0 with matches; 1 with none (a note on stderr, nothing on stdout);
        2 for bad syntax or a missing or corrupt index. With --batch: 0 when every line
        was answered, 2 when a line did not parse (the others are answered).

        Examples:
          maildex query --index idx ip:209.162.104.65
          maildex query --index idx --summary ip:203.0.113.0/24 since:2026-01-01 until:2026-01-31
          maildex query --index idx --json to:recipes@hypertouch.com | jq .peer
          maildex query --index idx --evidence msg:S.0000014724
          maildex query --index idx --count domain:example.com
          maildex query --index idx line:509 date:1999-04-28 --provenance
          maildex query --index idx --newest since:7d "(from:a@b.example" OR "from:c@d.example)"
          maildex query --index idx --count -- ip:192.0.2.0/24 -domain:example.com
          maildex query --index idx --messages msg:S.0000014724
          maildex query --index idx --summary server:mx01 direction:out tls:no
          maildex query --index idx --batch ips.txt --count
        """
    )

    @Option(help: "Index directory.")
    var index: String

    @Argument(help: "Query terms (all must match).")
    var terms: [String] = []

    @Flag(help: "One line per session.")
    var summary = false

    @Flag(help: "Only the number of matching sessions.")
    var count = false

    @Flag(help: "NDJSON, one object per session.")
    var json = false

    @Flag(help: "Prefix each line with file:line-number:.")
    var provenance = false

    @Flag(help: "Transcript with file:line-number:byte-offset: on every line and the SHA-256 of each source file.")
    var evidence = false

    @Option(help: "At most this many sessions.")
    var limit: Int? = nil

    @Option(help: "oldest or newest: which sessions come first.")
    var order: Order = .oldest

    @Flag(help: "Newest first (as --order newest).")
    var newest = false

    @Option(help: "Threads for this query (default: every core).")
    var threads: Int? = nil

    @Flag(help: "After each session's lines, the records about its messages (JSON: messageLines).")
    var messages = false

    @Option(help: "Answer one query per line of this file (- for standard input), as NDJSON.")
    var batch: String? = nil

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1 (leave it out for every session)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    var rendering: Rendering {
        json ? .json : summary ? .summary : evidence ? .evidence : provenance ? .provenance : .transcript
    }

    func run() throws {
        let out = ByteOutput.standardOutput
        if let batch {
            if !terms.isEmpty { throw ValidationError("--batch takes its queries from \(batch), not from the command line") }
            if summary || provenance || evidence { throw ValidationError("--batch answers in NDJSON (--json) or with --count") }
            do {
                let searcher = try Searcher(directory: index, threads: threads ?? Parallel.cores)
                let failed = try BatchQueries(searcher: searcher, count: count, messages: messages, order: newest ? .newest : order,
                                              limit: limit).run(path: batch, out: out)
                try finishStandardOutput()
                if failed > 0 { throw ExitCode(2) }
                return
            } catch let e as ExitCode {
                throw e
            } catch {
                throw fail(error)
            }
        }
        do {
            let q = try Query.parse(terms)
            let searcher = try Searcher(directory: index, threads: threads ?? Parallel.cores)
            let result = try searcher.search(q, order: newest ? .newest : order, limit: limit)
            if count {
                out.line(String(result.numbers.count))
                try finishStandardOutput()
                if result.numbers.isEmpty { throw ExitCode(1) }
                return
            }
            if result.numbers.isEmpty {
                warn("maildex: no session matches")
                throw ExitCode(1)
            }
            try searcher.render(result, as: rendering, messages: messages) { bytes in
                out.write(bytes)
                // Output that can no longer be written: stop now, not after every batch.
                if out.failure != nil { try finishStandardOutput() }
            }
            try finishStandardOutput()
        } catch let e as ExitCode {
            throw e
        } catch {
            throw fail(error)
        }
    }
}

extension Order: ExpressibleByArgument {}
