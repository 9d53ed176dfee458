import ArgumentParser
import MaildexCore
#if canImport(Glibc)
import Glibc
#endif

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The whole story, measured: generate, index (plain, zstd, pzstd), query, and compare with rg and zstd.",
        discussion: """
        Generates a corpus of --size bytes of log text, indexes it plainly, with one
        thread, as single-frame zstd and as multi-frame (pzstd) archives, then answers a
        fixed mix of queries (rare IP, busy IP, /16 CIDR, address, domain, message id,
        line id) in-process and as a whole `maildex query` process, and the same
        questions with `rg` over the plain files and `zstd -dc | rg` over the archives.
        Every comparison is made in the same run, so the ratios hold on a noisy machine.

        Needs zstd, pzstd and rg on PATH for the reference columns (apt-get install zstd
        ripgrep); rows whose tool is missing are skipped.

        Examples:
          maildex bench                          # 2 GB of logs under /tmp/maildex-bench
          maildex bench --size 10G --dir /data/bench --json
          maildex bench --size 500M --reuse      # keep the corpus and indexes of an earlier run
          maildex bench --index-runs 5           # each indexing figure the median of 5 runs

        The corpus is read once before anything is timed, so every run finds it in the
        page cache. Indexing runs alternate with their reference (2 threads with 1
        thread, an archive with `zstd -dc` of it), so that a slow spell of a shared
        machine falls on both.
        """
    )

    @Option(help: "Bytes of log text to generate (e.g. 500M, 2G, 10G).")
    var size: String = "2G"

    @Option(help: "Working directory (corpus, archives, indexes).")
    var dir: String = "/tmp/maildex-bench"

    @Option(help: "Log dialect of the corpus: stalker or cgp.")
    var dialect: String = "stalker"

    @Option(help: "Days the corpus spans.")
    var days: Int = 7

    @Option(help: "In-process repetitions of each query.")
    var repeats: Int = 200

    @Option(help: "Whole-process repetitions of each query.")
    var processRepeats: Int = 20

    @Option(help: "Runs of each indexing measurement, alternating with its reference; the median is reported, with the range.")
    var indexRuns: Int = 3

    @Flag(help: "Reuse the corpus, archives and indexes left by an earlier run with the same --dir.")
    var reuse = false

    @Flag(help: "Print the results as JSON on stdout too.")
    var json = false

    struct Row { var name: String; var value: String; var reference: String; var ratio: String }

    /// The working directory's layout, this executable, and which reference tools are on PATH.
    struct Setup {
        let me = Subprocess.selfPath
        let plain, single, multi: String
        let idxPlain, idxOne, idxSingle, idxMulti: String
        let hasZstd = Subprocess.available("zstd"), hasPzstd = Subprocess.available("pzstd"), hasRg = Subprocess.available("rg")

        init(dir: String) {
            plain = dir + "/plain"; single = dir + "/zstd"; multi = dir + "/pzstd"
            idxPlain = dir + "/index-plain"; idxOne = dir + "/index-1thread"; idxSingle = dir + "/index-zstd"; idxMulti = dir + "/index-pzstd"
        }
    }

    /// What the run measured: the table's rows, and the figures for `--json`.
    struct Results {
        var rows = [Row]()
        var figures = JSONObjectWriter()
    }

    func run() throws {
        guard let bytes = parseSize(size), bytes >= 1_000_000 else { throw ValidationError("--size must look like 500M or 2G") }
        let s = Setup(dir: dir)
        var out = Results()

        makeDirectories(dir)
        // 1. The corpus.
        try generateCorpus(s, bytes, &out)
        let plainBytes = directoryBytes(s.plain)
        out.figures.uint("logBytes", plainBytes)
        compressArchives(s)

        // 2. Indexing, each run a child process so its peak memory is its own.
        guard indexRuns >= 1 else { throw ValidationError("--index-runs must be at least 1") }
        say("reading the corpus into the page cache ...")
        _ = Subprocess.shell("cat \(Subprocess.quote(s.plain))/*.log > /dev/null; for d in \(Subprocess.quote(s.single)) \(Subprocess.quote(s.multi)); do [ -d \"$d\" ] && cat \"$d\"/*.zst > /dev/null; done; true")
        let plainIndexing = try measurePlainIndexing(s, plainBytes, &out)
        if s.hasZstd { measureMachine(s, plainBytes, plainIndexing, &out) }
        measureArchiveIndexing(s, plainBytes, &out)

        // 3. Queries.
        let reader = try IndexReader(directory: s.idxPlain)
        let engine = QueryEngine(index: reader)
        for q in try queryMix(reader) { try measureQuery(q, s, reader, engine, &out) }

        // 4. The table.
        printTable(out, plainBytes, reader)
        try finishStandardOutput()
    }

    func say(_ s: String) { warn(s) }

    /// Generates the corpus (unless `--reuse` finds one), timing the generator.
    func generateCorpus(_ s: Setup, _ bytes: UInt64, _ out: inout Results) throws {
        if !(reuse && isDirectory(s.plain)) {
            _ = Subprocess.run(["rm", "-rf", s.plain, s.single, s.multi, s.idxPlain, s.idxOne, s.idxSingle, s.idxMulti])
            say("generating \(formatBytes(bytes)) of \(dialect) logs over \(days) days in \(s.plain) ...")
            let g = Subprocess.run([s.me, "generate", "--out", s.plain, "--days", String(days), "--size", String(bytes),
                                    "--dialect", dialect, "--seed", "2026", "--json"], capture: true)
            guard g.status == 0 else { throw ValidationError("generate failed") }
            let rate = Double(bytes) / max(g.seconds, 1e-9)
            out.rows.append(Row(name: "generate", value: "\(formatBytes(UInt64(rate)))/s", reference: "", ratio: ""))
            out.figures.double("generateBytesPerSecond", rate)
        }
    }

    /// Compresses the corpus as single-frame (zstd) and multi-frame (pzstd) archives,
    /// where the tools are there and `--reuse` finds none.
    func compressArchives(_ s: Setup) {
        if s.hasZstd && !(reuse && isDirectory(s.single)) {
            say("compressing single-frame archives (zstd -3) ...")
            mkdir(s.single, 0o755)
            _ = Subprocess.shell("for f in \(Subprocess.quote(s.plain))/*.log; do zstd -q -3 -T2 \"$f\" -o \(Subprocess.quote(s.single))/$(basename \"$f\").zst; done")
        }
        if s.hasPzstd && !(reuse && isDirectory(s.multi)) {
            say("compressing multi-frame archives (pzstd -3) ...")
            mkdir(s.multi, 0o755)
            _ = Subprocess.shell("for f in \(Subprocess.quote(s.plain))/*.log; do pzstd -q -3 -p 2 \"$f\" -o \(Subprocess.quote(s.multi))/$(basename \"$f\").zst; done")
        }
    }

    /// Indexes `input` into a fresh `output` in a child process.
    func index(_ s: Setup, _ input: String, _ output: String, threads: Int) -> Subprocess.Result {
        _ = Subprocess.run(["rm", "-rf", output])
        return Subprocess.run([s.me, "index", "--index", output, "--threads", String(threads), "--json", "--map-after", "0", input], capture: true)
    }

    /// The plain-log indexing figures the machine's are compared with.
    struct PlainIndexing { var twoSeconds: Double; var speedup: Double }

    /// Indexes the plain logs with 2 threads and with 1, alternately, `--index-runs` times each.
    func measurePlainIndexing(_ s: Setup, _ plainBytes: UInt64, _ out: inout Results) throws -> PlainIndexing {
        let plain = s.plain
        say("indexing plain logs with 2 threads and with 1, \(indexRuns) time(s) each ...")
        var two = [Subprocess.Result](), one = [Subprocess.Result]()
        for _ in 0..<indexRuns {
            let ip = index(s, plain, s.idxPlain, threads: 2)
            guard ip.status == 0 else { throw ValidationError("index failed") }
            two.append(ip)
            let i1 = index(s, plain, s.idxOne, threads: 1)
            guard i1.status == 0 else { throw ValidationError("index with 1 thread failed") }
            one.append(i1)
        }
        let twoSeconds = Self.median(two.map(\.seconds)), oneSeconds = Self.median(one.map(\.seconds))
        let rate = Double(plainBytes) / twoSeconds
        let peak = two.map(\.maxResidentBytes).max() ?? 0
        let indexBytes = directoryBytes(s.idxPlain)
        var rgCount: Subprocess.Result? = nil
        if s.hasRg { rgCount = Subprocess.run(["rg", "-c", "-F", "--no-filename", "Stream Disposed", plain]) }
        out.rows.append(Row(name: "index plain, 2 threads", value: "\(formatBytes(UInt64(rate)))/s\(rateRange(two, plainBytes))",
                            reference: rgCount.map { "rg -c: \(formatBytes(UInt64(Double(plainBytes) / $0.seconds)))/s" } ?? "",
                            ratio: rgCount.map { "\(formatDouble($0.seconds / twoSeconds, digits: 2))x" } ?? ""))
        out.rows.append(Row(name: "peak resident memory (index)", value: formatBytes(peak), reference: "", ratio: ""))
        out.rows.append(Row(name: "index size", value: formatBytes(indexBytes), reference: "log text \(formatBytes(plainBytes))",
                            ratio: "\(formatDouble(100 * Double(indexBytes) / Double(plainBytes), digits: 1))%"))
        out.figures.double("indexBytesPerSecond", rate)
        out.figures.uint("indexPeakResidentBytes", peak)
        out.figures.uint("indexBytes", indexBytes)
        out.figures.int("indexRuns", indexRuns)
        out.figures.raw("indexSeconds", "[" + two.map { formatDouble($0.seconds, digits: 6) }.joined(separator: ",") + "]")
        out.figures.raw("indexOneThreadSeconds", "[" + one.map { formatDouble($0.seconds, digits: 6) }.joined(separator: ",") + "]")
        // Each run with 1 thread against the 2-thread run just before it.
        let speedups = zip(one, two).map { $0.seconds / $1.seconds }
        let speedup = Self.median(speedups)
        out.rows.append(Row(name: "index plain, 1 thread", value: "\(formatBytes(UInt64(Double(plainBytes) / oneSeconds)))/s\(rateRange(one, plainBytes))",
                            reference: "2 threads", ratio: "\(formatDouble(speedup, digits: 2))x speed-up\(ratioRange(speedups))"))
        out.figures.double("speedupTwoThreads", speedup)
        return PlainIndexing(twoSeconds: twoSeconds, speedup: speedup)
    }

    /// What this machine gives: the floor of storing the text compressed, and how far
    /// two independent processes scale on its two cores.
    func measureMachine(_ s: Setup, _ plainBytes: UInt64, _ indexing: PlainIndexing, _ out: inout Results) {
        let plain = s.plain, twoSeconds = indexing.twoSeconds, speedup = indexing.speedup
        say("measuring the machine (zstd -1 -T2 over the text; one zstd -3 against two at once) ...")
        let floor = Subprocess.shell("cat \(Subprocess.quote(plain))/*.log | zstd -q -1 -T2 -c > /dev/null")
        if floor.status == 0 {
            out.rows.append(Row(name: "machine: compress the text, zstd -1 -T2", value: "\(formatBytes(UInt64(Double(plainBytes) / floor.seconds)))/s",
                                reference: "index plain, 2 threads", ratio: "\(formatDouble(floor.seconds / twoSeconds, digits: 2))x"))
            out.figures.double("zstdFastBytesPerSecond", Double(plainBytes) / floor.seconds)
        }
        if let sample = firstLogFile(plain) {
            let one = "zstd -q -3 -c \(Subprocess.quote(sample)) > /dev/null"
            let alone = Subprocess.shell(one)
            // Both exit statuses count: `wait PID` gives the background one's.
            let pair = Subprocess.shell("\(one) & p=$!; \(one); b=$?; wait $p && [ $b -eq 0 ]")
            if alone.status == 0, pair.status == 0 {
                let machine = 2 * alone.seconds / pair.seconds
                out.rows.append(Row(name: "machine: two zstd -3 processes at once", value: "\(formatDouble(machine, digits: 2))x throughput",
                                    reference: "one process", ratio: "index: \(formatDouble(speedup, digits: 2))x"))
                out.figures.double("machineTwoProcessSpeedup", machine)
            }
        }
    }

    /// Indexes each kind of archive there is, `--index-runs` times, each run beside `zstd -dc` of it.
    func measureArchiveIndexing(_ s: Setup, _ plainBytes: UInt64, _ out: inout Results) {
        for (label, input, output) in [("zstd single-frame", s.single, s.idxSingle), ("pzstd multi-frame", s.multi, s.idxMulti)] where isDirectory(input) {
            say("indexing \(label) archives, \(indexRuns) time(s), each beside zstd -dc ...")
            var runs = [Subprocess.Result](), references = [Subprocess.Result]()
            var failed: Int32? = nil
            for _ in 0..<indexRuns where failed == nil {
                let r = index(s, input, output, threads: 2)
                guard r.status == 0 else { failed = r.status; break }
                runs.append(r)
                references.append(Subprocess.shell("zstd -dc \(Subprocess.quote(input))/*.zst > /dev/null"))
            }
            if let failed {
                out.rows.append(Row(name: "index \(label)", value: "FAILED (exit \(failed))", reference: "", ratio: ""))
                continue
            }
            let ratios = zip(references, runs).map { $0.seconds / $1.seconds }
            let z = Self.median(references.map(\.seconds))
            out.rows.append(Row(name: "index \(label)", value: "\(formatBytes(UInt64(Double(plainBytes) / Self.median(runs.map(\.seconds)))))/s\(rateRange(runs, plainBytes))",
                                reference: "zstd -dc: \(formatBytes(UInt64(Double(plainBytes) / z)))/s",
                                ratio: "\(formatDouble(Self.median(ratios), digits: 2))x\(ratioRange(ratios))"))
            out.figures.double(label.hasPrefix("zstd") ? "zstdSingleRatio" : "zstdMultiRatio", Self.median(ratios))
        }
    }

    /// Times one query of the mix: in-process (with and without fetching its sessions),
    /// as a whole `maildex query` process, and with `rg` (and `zstd -dc | rg`).
    func measureQuery(_ q: MixQuery, _ s: Setup, _ reader: IndexReader, _ engine: QueryEngine, _ out: inout Results) throws {
        let me = s.me, idxPlain = s.idxPlain, plain = s.plain, single = s.single
        let query = try Query.parse(q.terms)
        var matches = [UInt64]()
        var times = [Double]()
        for _ in 0..<3 { matches = try engine.matches(query) }
        for _ in 0..<repeats {
            let t = Stopwatch()
            matches = try engine.matches(query)
            times.append(t.seconds)
        }
        times.sort()
        var fetch = [Double]()
        for _ in 0..<max(3, repeats / 20) {
            let t = Stopwatch()
            let found = try engine.matches(query)
            try reader.forEachBatch(found) { _, _ in }
            fetch.append(t.seconds)
        }
        fetch.sort()
        var proc = [Double]()
        for _ in 0..<processRepeats {
            proc.append(Subprocess.run([me, "query", "--index", idxPlain, "--count"] + q.terms).seconds)
        }
        proc.sort()
        let median = times[times.count / 2], p99 = times[min(times.count - 1, times.count * 99 / 100)]
        var reference = "", ratio = ""
        if s.hasRg {
            let rg = Subprocess.run(["rg", "-c", q.fixed ? "-F" : "-e", q.pattern, plain])
            reference = "rg \(formatDouble(rg.seconds * 1000, digits: 0)) ms"
            ratio = "\(formatDouble(rg.seconds / proc[proc.count / 2], digits: 0))x vs process"
            if s.hasZstd && isDirectory(single) {
                let z = Subprocess.shell("zstd -dc \(Subprocess.quote(single))/*.zst | rg -c \(q.fixed ? "-F" : "-e") \(Subprocess.quote(q.pattern))")
                reference += ", zstd|rg \(formatDouble(z.seconds * 1000, digits: 0)) ms"
            }
        }
        out.rows.append(Row(name: "\(q.name) (\(matches.count) sessions)",
                            value: "\(us(median)) median, \(us(p99)) p99; +fetch \(us(fetch[fetch.count / 2])); process \(formatDouble(proc[proc.count / 2] * 1000, digits: 1)) ms",
                            reference: reference, ratio: ratio))
        var j = JSONObjectWriter()
        j.int("sessions", matches.count); j.raw("medianSeconds", formatDouble(median, digits: 7)); j.raw("p99Seconds", formatDouble(p99, digits: 7))
        j.raw("fetchMedianSeconds", formatDouble(fetch[fetch.count / 2], digits: 6)); j.raw("processMedianSeconds", formatDouble(proc[proc.count / 2], digits: 6))
        out.figures.raw(q.key, j.finish())
    }

    /// Prints the table (and the JSON figures with `--json`).
    func printTable(_ out: Results, _ plainBytes: UInt64, _ reader: IndexReader) {
        var figures = out.figures
        let rows = out.rows
        let w0 = rows.map(\.name.count).max() ?? 10, w1 = rows.map(\.value.count).max() ?? 10, w2 = rows.map(\.reference.count).max() ?? 10
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        emit("maildex bench: \(formatBytes(plainBytes)) of \(dialect) logs, \(days) days, \(reader.sessionCount) sessions")
        emit(pad("what", w0) + "  " + pad("maildex", w1) + "  " + pad("reference (same run)", w2) + "  ratio")
        for r in rows { emit(pad(r.name, w0) + "  " + pad(r.value, w1) + "  " + pad(r.reference, w2) + "  " + r.ratio) }
        if json { emit(figures.finish()) }
    }

    /// The middle value (the mean of the two middle ones for an even count).
    static func median(_ values: [Double]) -> Double {
        let v = values.sorted()
        guard !v.isEmpty else { return 0 }
        return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
    }

    /// ` (a–b)`: the range of the runs' rates in MB/s (`bytes` each), when there was more than one run.
    func rateRange(_ runs: [Subprocess.Result], _ bytes: UInt64) -> String {
        guard runs.count > 1, let slow = runs.map(\.seconds).max(), let fast = runs.map(\.seconds).min() else { return "" }
        let bytes = Double(bytes)
        return " (\(formatDouble(bytes / slow / 1e6, digits: 1))–\(formatDouble(bytes / fast / 1e6, digits: 1)))"
    }

    /// ` (a–b)`: the range of ratios, when there was more than one.
    func ratioRange(_ ratios: [Double]) -> String {
        guard ratios.count > 1, let lo = ratios.min(), let hi = ratios.max() else { return "" }
        return " (\(formatDouble(lo, digits: 2))–\(formatDouble(hi, digits: 2)))"
    }

    func us(_ s: Double) -> String { s < 0.001 ? "\(formatDouble(s * 1e6, digits: 0)) us" : "\(formatDouble(s * 1000, digits: 2)) ms" }

    struct MixQuery { var key: String; var name: String; var terms: [String]; var pattern: String; var fixed: Bool }

    /// The fixed mix, picked from the index itself so it works for any corpus.
    func queryMix(_ reader: IndexReader) throws -> [MixQuery] {
        var peers = [(IPAddress, Int)]()
        var senders = [(String, Int)]()
        var messages = [String]()
        let seg = reader.segments[0]
        try seg.terms(withPrefix: [TermKind.peer.rawValue]) { t, c in if let a = IPAddress(bytes: t.dropFirst()) { peers.append((a, c)) } }
        try seg.terms(withPrefix: [TermKind.sender.rawValue]) { t, c in if t.count > 1 { senders.append((String(decoding: Terms.address(fromKey: t.dropFirst()), as: UTF8.self), c)) } }
        try seg.terms(withPrefix: [TermKind.message.rawValue]) { t, _ in if messages.count < 1000 { messages.append(String(decoding: t.dropFirst(), as: UTF8.self)) } }
        let busy = peers.max { $0.1 < $1.1 }!.0
        let rare = peers.first { $0.1 == 1 }?.0 ?? peers[0].0
        let address = senders.min { abs($0.1 - 100) < abs($1.1 - 100) }!.0
        let domain = String(address.split(separator: "@").last!)
        let message = messages[messages.count / 2]
        let session = try reader.session(UInt64(reader.sessionCount / 2))
        let v = UInt32(truncatingIfNeeded: busy.low)
        let cidr = "\(v >> 24).\((v >> 16) & 255).0.0/16"
        func escaped(_ s: String) -> String { s.replacingDots() }
        return [
            MixQuery(key: "rareIP", name: "rare IP \(rare)", terms: ["ip:\(rare)"], pattern: "[\(rare)]", fixed: true),
            MixQuery(key: "busyIP", name: "busy IP \(busy)", terms: ["ip:\(busy)"], pattern: "[\(busy)]", fixed: true),
            MixQuery(key: "cidr16", name: "CIDR \(cidr)", terms: ["ip:\(cidr)"], pattern: "\\[\(v >> 24)\\.\((v >> 16) & 255)\\.[0-9]+\\.[0-9]+", fixed: false),
            MixQuery(key: "address", name: "address \(address)", terms: ["addr:\(address)"], pattern: "(?i)" + escaped(address), fixed: false),
            MixQuery(key: "domain", name: "domain \(domain)", terms: ["domain:\(domain)"], pattern: "(?i)@" + escaped(domain) + ">", fixed: false),
            MixQuery(key: "message", name: "message id \(message)", terms: ["msg:\(message)"], pattern: message, fixed: true),
            MixQuery(key: "line", name: "line \(session.lineID) on \(session.date)", terms: ["line:\(session.lineID)", "date:\(session.date)"],
                     pattern: "SMTP-\(session.lineID)(", fixed: true),
        ]
    }

    /// The first `*.log` file (in name order) under `dir`, for the machine's scaling reference.
    func firstLogFile(_ dir: String) -> String? {
        let r = Subprocess.run(["/bin/sh", "-c", "ls \(Subprocess.quote(dir))/*.log | head -1"], capture: true)
        let path = String(decoding: r.output.prefix { $0 != 10 }, as: UTF8.self)
        return path.isEmpty ? nil : path
    }

    func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    func directoryBytes(_ path: String) -> UInt64 {
        let r = Subprocess.run(["du", "-sb", path], capture: true)
        return UInt64(String(decoding: r.output, as: UTF8.self).split(separator: "\t").first ?? "0") ?? 0
    }
}

extension String {
    func replacingDots() -> String { split(separator: ".", omittingEmptySubsequences: false).joined(separator: "\\.") }
}
