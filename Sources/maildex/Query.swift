import ArgumentParser
import MaildexCore

struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Print every session that matches all the terms, oldest first.",
        discussion: Query.syntax + """


        Output: a transcript per session (a header line, then its lines exactly as in
        the log), --summary (a line per session), --count, --json (NDJSON: date, line,
        start, end, complete, peer, port, helo, from, to, rejected, messages, source,
        lines) or --evidence (transcript with file, line number and byte offset of every
        line, and the SHA-256 of each source file recorded when it was indexed).

        Exit status: 0 with matches; 1 with none (a note on stderr, nothing on stdout);
        2 for bad syntax or a missing or corrupt index.

        Examples:
          maildex query --index idx ip:209.162.104.65
          maildex query --index idx --summary ip:203.0.113.0/24 since:2026-01-01 until:2026-01-31
          maildex query --index idx --json to:recipes@hypertouch.com | jq .peer
          maildex query --index idx --evidence msg:S.0000014724
          maildex query --index idx --count domain:example.com
          maildex query --index idx line:509 date:1999-04-28 --provenance
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

    /// What `--evidence` says of a source file: its digest, sizes, layout and path.
    static func evidenceLine(_ src: SourceRecord) -> String {
        let digest = src.hasDigest ? SHA256Hasher.hex(src.sha256)
            : src.partial ? "not recorded (the file could not be read to its end)"
            : "not recorded (indexed by a maildex before 2026-11-30; rebuild the index)"
        let layout = src.frames > 0 ? " (zstd, \(src.frames) frames; offsets are in the decompressed text)"
            : src.name.hasSuffix(".zst") ? " (zstd; offsets are in the decompressed text)" : ""
        let partial = src.partial ? "; INDEXED IN PART: reading stopped at an error after these bytes" : ""
        return "# source \(src.name): sha256 \(digest), \(src.size) bytes on disk, \(src.plainBytes) bytes of log text\(layout)\(partial), path \(src.path)\n"
    }

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1 (leave it out for every session)") }
    }

    func run() throws {
        let q: Query
        do { q = try Query.parse(terms) } catch {
            warn("maildex: \(error)")
            throw ExitCode(2)
        }
        let reader: IndexReader
        do { reader = try IndexReader(directory: index) } catch {
            warn("maildex: \(error)")
            throw ExitCode(2)
        }
        do {
            var numbers = try QueryEngine(index: reader).matches(q)
            if let limit, numbers.count > limit { numbers = Array(numbers.prefix(limit)) }
            let out = ByteOutput.standardOutput
            if count {
                out.line(String(numbers.count))
                try finishStandardOutput()
                if numbers.isEmpty { throw ExitCode(1) }
                return
            }
            if numbers.isEmpty {
                warn("maildex: no session matches")
                throw ExitCode(1)
            }
            // Sessions are fetched and formatted a batch at a time, each on all cores, and
            // written in order.
            let sources = reader.sources
            let sourceName = { (id: UInt32) in sources[id]?.name ?? "source-\(id)" }
            try reader.forEachBatch(numbers) { at, batch in
                // Output that can no longer be written: stop now, not after every batch.
                if out.failure != nil { try finishStandardOutput() }
                // Formatted a few tens of MB at a time: sessions may be large (up to 64 MiB).
                var from = 0
                while from < batch.count {
                    var to = from, size = 0
                    while to < batch.count, to == from || size + batch[to].text.count <= 32 << 20 { size += batch[to].text.count; to += 1 }
                    let first = at + from, part = batch[from..<to]
                    let texts = Parallel.map(part.count, threads: Parallel.cores) { k -> [UInt8] in
                        let s = part[part.startIndex + k]
                        let view = SessionView(session: s, sourceName: sourceName)
                        if json { return Array(view.json().utf8) + [10] }
                        if summary { return Array(view.summaryLine().utf8) + [10] }
                        var bytes = [UInt8]()
                        if first + k > 0 { bytes.append(10) }
                        view.appendTranscript(to: &bytes, provenance: provenance || evidence, offsets: evidence)
                        bytes.append(10)
                        if evidence {
                            var seen = Set<UInt32>()
                            for l in s.lines where seen.insert(l.source).inserted {
                                if let src = sources[l.source] { bytes += Array(Self.evidenceLine(src).utf8) }
                            }
                        }
                        return bytes
                    }
                    for t in texts { out.write(t) }
                    from = to
                }
            }
            try finishStandardOutput()
        } catch let e as ExitCode {
            throw e
        } catch {
            ByteOutput.standardOutput.flush()
            warn("maildex: \(error)")
            throw ExitCode(2)
        }
    }
}
