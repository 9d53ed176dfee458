import ArgumentParser
import MaildexCore

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write sessions as rows for ClickHouse (Native format, or JSONEachRow).",
        discussion: """
        Every session of the index, or those matching TERMS (the query language of
        `maildex query`), as rows of the table maildex.sessions that
        deploy/clickhouse/schema.sql creates: every field, the transcript and the
        records about its messages, each line with its file, line number and byte
        offset, and the SHA-256 of each file. Native (the default) is written in blocks
        of 16,384 rows; --format jsonl writes one JSON object per line (JSONEachRow).
        It streams: memory stays that of one block, whatever the size of the index.

        --new-since STATE exports only what was indexed since the export that wrote
        STATE (everything the first time), then updates STATE, once the output is
        written: sessions numbered since, sessions that were still open then (a later
        run may have continued them), and sessions whose messages gained records. Rows
        ClickHouse already has come again with a higher revision, which the table keeps.

        Exit status: 0 when the rows were written (even none); 1 when TERMS match no
        session; 2 for bad syntax, a missing or corrupt index or state, or output that
        could not be written (STATE is then left as it was).

        Examples:
          maildex export --index idx > sessions.native
          clickhouse-client --multiquery < deploy/clickhouse/schema.sql
          clickhouse-client --query "INSERT INTO maildex.sessions FORMAT Native" < sessions.native
          maildex index --index idx /var/log/mail/ && maildex export --index idx --new-since idx.export-state \\
            | clickhouse-client --query "INSERT INTO maildex.sessions FORMAT Native"
          maildex export --index idx --format jsonl ip:203.0.113.0/24 | head -1 | jq .lines
        """
    )

    @Option(help: "Index directory.")
    var index: String

    @Option(help: "native (ClickHouse's Native format) or jsonl (JSONEachRow).")
    var format: SessionExporter.Format = .native

    @Option(name: .customLong("new-since"), help: "Export only what was indexed since the export that wrote this file, then update it.")
    var newSince: String? = nil

    @Option(help: "Rows per Native block (10,000 to 100,000 suit ClickHouse best).")
    var blockRows: Int = 16_384

    @Option(help: "Threads for reading the index (default: every core).")
    var threads: Int? = nil

    @Argument(help: "Query terms: export only the sessions that match (default: every session).")
    var terms: [String] = []

    func validate() throws {
        if blockRows < 1 || blockRows > 1_048_576 { throw ValidationError("--block-rows is from 1 to 1048576") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let out = ByteOutput.standardOutput
        do {
            let query = terms.isEmpty ? nil : try Query.parse(terms)
            let reader = try IndexReader(directory: index)
            var exporter = SessionExporter(index: reader, format: format)
            exporter.blockRows = blockRows
            exporter.threads = threads ?? Parallel.cores
            var numbers: [UInt64]? = nil
            var withdrawn = [UInt64: ExportState.Carried]()
            var next: ExportState? = nil
            if let newSince {
                let state = try ExportState.load(newSince)
                let since = try exporter.sinceState(state, indexPath: index)
                numbers = since.numbers
                next = since.next
                withdrawn = state?.carried ?? [:]
            }
            if let query {
                let matching = try QueryEngine(index: reader, threads: exporter.threads).matches(query)
                if matching.isEmpty {
                    warn("maildex: no session matches")
                    throw ExitCode(1)
                }
                numbers = numbers.map { PostingList.intersect(matching, $0) } ?? matching
            }
            let write: ([UInt8]) throws -> Void = { bytes in
                out.write(bytes)
                if out.failure != nil { try finishStandardOutput() }
            }
            let counts = try numbers.map { try exporter.export($0, withdrawing: withdrawn, write) } ?? exporter.exportAll(write)
            try finishStandardOutput()
            if let newSince, let next { try next.store(newSince) }
            var note = "maildex: exported \(counts.sessions) sessions, \(String(format: "%.1f", Double(counts.bytes) / 1e6)) MB"
            if format == .native { note += " in \(counts.blocks) blocks" }
            if counts.withdrawals > 0 { note += ", and withdrew \(counts.withdrawals) rows under an old key" }
            warn(note)
        } catch let e as ExitCode {
            throw e
        } catch {
            throw fail(error)
        }
    }
}

extension SessionExporter.Format: ExpressibleByArgument {}

struct SQL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Print the ClickHouse SELECT that returns the sessions `maildex query` returns.",
        discussion: """
        The query language of `maildex query` (every kind, OR, NOT, lists, dates and
        times) as one SELECT over maildex.sessions (deploy/clickhouse/schema.sql),
        loaded with `maildex export`. Its first columns are those of `query --json`
        (date, line, start, end, complete, peer, port, helo, from, to, rejected,
        messages, server, direction, tls, auth), then the session's source, lines and
        the records about its messages. Without terms: every session.

        Exit status: 0; 2 for bad syntax.

        Examples:
          clickhouse-client --query "$(maildex sql ip:203.0.113.0/24 since:2026-01-01) FORMAT JSONEachRow"
          maildex sql --newest --limit 20 "from:a@b.example OR to:a@b.example"
        """
    )

    @Flag(help: "Newest first.")
    var newest = false

    @Option(help: "At most this many sessions.")
    var limit: Int? = nil

    @Argument(help: "Query terms.")
    var terms: [String] = []

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1 (leave it out for every session)") }
    }

    func run() throws {
        do {
            let query = terms.isEmpty ? nil : try Query.parse(terms)
            emit(ClickHouseSQL.select(query, newest: newest, limit: limit))
            try finishStandardOutput()
        } catch let e as ExitCode {
            throw e
        } catch {
            throw fail(error)
        }
    }
}
