#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// Indexes log files into an index directory: reads them in name order, parses
/// and stitches sessions in parallel, and writes new segments and a new manifest.
/// Files already indexed (same name and size, and same mtime or same SHA-256) are
/// skipped, so the same command can run every night.
public final class Indexer {
    public struct Options: Sendable {
        public var threads = 2
        public var chunkSize = 1 << 20
        public var read = ReadOptions()
        /// A date for files whose name has none.
        public var defaultDate: CivilDate? = nil
        /// Start a new segment once this many postings are held in memory.
        /// (8 bytes each while held, as much again to sort them.)
        public var segmentPostingsLimit = 8_000_000
        /// From this many segments on, a run ends with a note suggesting `compact`.
        public var compactHintSegments = 32
        /// Which of the newest segments a run merges after adding its own; nil: none.
        public var mergePolicy: MergePolicy? = MergePolicy()
        /// A merge's output starts a new segment past this many postings. Higher than
        /// `segmentPostingsLimit` (the parser and its buffers are gone by then; `compact`
        /// uses as much), so that a merge within `MergePolicy.maxMergeBytes` gives one
        /// segment, and a split one gives pieces too large to be merged again.
        public var mergePostingsLimit = 24_000_000
        /// Called as each merge starts, with the segments it merges and their bytes.
        public var mergeStarting: (@Sendable (_ segments: Int, _ bytes: UInt64) -> Void)? = nil
        public init() {}
    }

    public struct Progress: Sendable {
        public var file: String
        public var fileIndex: Int
        public var fileCount: Int
        /// Log text read so far in this run.
        public var plainBytes: UInt64
        /// Bytes on disk of the files finished, and of all files of the run.
        public var diskBytesDone: UInt64
        public var diskBytesTotal: UInt64
        public var seconds: Double
    }

    public struct Report: Sendable {
        public var files = 0
        public var skipped = 0
        public var plainBytes: UInt64 = 0
        public var diskBytes: UInt64 = 0
        public var lines: UInt64 = 0
        public var unparsed: UInt64 = 0
        public var sessions: UInt64 = 0
        public var messages: UInt64 = 0
        public var seconds: Double = 0
        public var indexBytes: UInt64 = 0
        public var segmentsWritten = 0
        /// The merges of small segments that ended the run (`Options.mergePolicy`).
        public var merged = Compactor.TierReport()
        /// Segments in the index at the end of the run.
        public var segments = 0
        public var errors: [IOError] = []
        public var notes: [String] = []
        /// Wall time by phase (sessionize, write, finish), for tuning.
        public var phaseSeconds: [String: Double] = [:]
    }

    public static func run(directory: String, paths: [String], options: Options,
                           progress: ((Progress) -> Void)? = nil) throws -> Report {
        let clock = Stopwatch()
        makeDirectories(directory)
        let lock = try IndexLock(directory: directory)
        defer { withExtendedLifetime(lock) {} }
        var manifest = try Manifest.load(directory: directory) ?? Manifest()
        removeStaleFiles(directory, manifest)
        var report = Report()

        // What is indexed already.
        var known: [String: SourceRecord] = [:]
        for seg in manifest.segments {
            let reader = try SegmentReader.open(directory + "/" + seg)
            for s in try reader.sources() { known[s.name] = s }
        }

        let found = InputFiles.discover(paths, defaultDate: options.defaultDate)
        report.errors += found.errors
        var todo = [InputFile]()
        for f in found.files {
            guard f.stamp != nil else {
                report.errors.append(IOError(path: f.path, offset: nil, message: "no date in the file name (YYYY-MM-DD...); give one with --date"))
                continue
            }
            if let k = known[f.name] {
                if k.partial {
                    // Its sessions up to the error are in the index; the rest cannot be added
                    // without duplicating them.
                    if k.size == f.size && k.mtime == f.mtime {
                        report.skipped += 1
                        report.notes.append("\(f.path): indexed in part only (reading stopped at an error after \(k.plainBytes) bytes of log text); rebuild the index once the file is repaired")
                    } else {
                        report.errors.append(IOError(path: f.path, offset: nil,
                            message: "was indexed in part only (reading stopped at an error) and has changed since; its sessions cannot be replaced in this index: rebuild it"))
                    }
                    continue
                }
                if k.size == f.size && k.mtime == f.mtime { report.skipped += 1; continue }
                if k.size == f.size && !k.hasDigest {
                    // Indexes written before 2026-11-30 stored no digest for `.zst` files.
                    report.skipped += 1
                    report.notes.append("\(f.path): indexed without its SHA-256 by an older maildex; not compared (rebuild the index to record it)")
                    continue
                }
                if k.size == f.size {
                    do {
                        if try sha256(of: f.path) == k.sha256 { report.skipped += 1; continue }
                    } catch {
                        report.errors.append(error as? IOError ?? IOError(path: f.path, offset: nil, message: "\(error)"))
                        continue
                    }
                }
                report.errors.append(IOError(path: f.path, offset: nil,
                    message: "a file of this name was indexed with different content (\(k.size) bytes, SHA-256 \(SHA256Hasher.hex(k.sha256)), from \(k.path)); not indexed again. A file that changed after it was indexed needs a new index; another server's log of the same name belongs in an index of its own"))
                continue
            }
            todo.append(f)
        }
        if todo.isEmpty {
            report.seconds = clock.seconds
            report.indexBytes = indexSize(directory, manifest)
            report.segments = manifest.segments.count
            return report
        }

        let diskTotal = todo.reduce(0) { $0 + $1.size }
        let sessionizer = Sessionizer(threads: options.threads, chunkSize: options.chunkSize,
                                      firstSessionNumber: manifest.nextSession)
        let lineTable = LineTable.Collector()
        sessionizer.lineLengths = lineTable
        // `inOrder`: every file comes at or after the last run's. Its open sessions are
        // carried to the next run; and the last run's carried sessions continue here when
        // these files follow on (the same day or the next). A run that mixes older and
        // newer files breaks the chain: the old carry is dropped (those sessions stay as
        // written, incomplete). A back-fill of older files only leaves it for later.
        let last = manifest.lastStamp
        let inOrder = last.map { l in todo.allSatisfy { $0.stamp! >= l } } ?? true
        let backfill = last.map { l in todo.allSatisfy { $0.stamp! < l } } ?? false
        let followsOn = last.map { l in todo[0].stamp!.date.daysSinceEpoch <= l.date.daysSinceEpoch + 1 } ?? true
        if !inOrder && !backfill { manifest.carry = nil }
        var supersedes = Set<UInt64>()
        if inOrder, followsOn, let carry = manifest.carry {
            let carried = try CarryFile.load(directory + "/" + carry)
            sessionizer.resume(carried)
            supersedes = Set(carried.map(\.session.number))
        }
        let sink = SegmentSink(directory: directory, generation: manifest.generation, threads: options.threads,
                               postingsLimit: options.segmentPostingsLimit, supersedes: supersedes)
        try sink.start()
        // One thread means one: the writer runs inline rather than beside the parser.
        let pipeline = WritePipeline(inline: options.threads == 1)
        var readOptions = options.read
        readOptions.threads = options.threads
        var nextSource = manifest.nextSource
        var diskDone: UInt64 = 0
        var plainDone: UInt64 = 0
        var sourcePaths: [UInt32: String] = [:]

        for (i, file) in todo.enumerated() {
            let id = nextSource
            sourcePaths[id] = file.path
            let linesBefore = sessionizer.counts.lines, plainBefore = plainDone
            let stamp = file.stamp!
            do {
                let summary = try SourceReader.read(path: file.path, source: id, date: stamp.date, options: readOptions) { window in
                    let before = sessionizer.counts.lines
                    let t0 = Stopwatch()
                    let finished = sessionizer.feedPending(window)
                    let t1 = t0.seconds
                    // Encoding this window's sessions overlaps parsing the next, and appending
                    // them to the segment overlaps encoding the next; their fragments keep the
                    // window's memory alive until they are encoded.
                    try pipeline.submit(encode: { sink.encode(pending: finished) }, append: { try sink.append($0) })
                    report.phaseSeconds["sessionize", default: 0] += t1
                    report.phaseSeconds["waitForWriter", default: 0] += t0.seconds - t1
                    plainDone += UInt64(window.bytes.count)
                    progress?(Progress(file: file.name, fileIndex: i, fileCount: todo.count, plainBytes: plainDone,
                                       diskBytesDone: diskDone, diskBytesTotal: diskTotal, seconds: clock.seconds))
                    return sessionizer.counts.lines - before
                }
                if let e = summary.error { report.errors.append(e) }
                nextSource += 1
                // The file's tables go to the segment that takes its last sessions, after them.
                let table = lineTable.take()
                // Read whole: the size recorded is the one hashed (a file still being written
                // may have grown since it was listed). Read in part: the size it was listed
                // with, which a later run compares to tell "unchanged" from "changed since".
                let size = summary.error == nil ? summary.fileBytes : file.size
                let source = SourceRecord(id: id, name: file.name, path: file.path, date: stamp.date, size: size,
                                          mtime: file.mtime, sha256: Self.digest(summary), plainBytes: summary.plainBytes,
                                          frames: UInt32(summary.frames), indexedAt: Int64(time(nil)), partial: summary.error != nil)
                let lines = sessionizer.counts.lines - linesBefore
                // A file that gave no line before its error is not recorded: nothing in the
                // index comes from it, and a later run tries it again.
                let record = summary.error == nil || lines > 0
                try pipeline.afterLast {
                    sink.writer.add(lineTable: table, source: id)
                    if record { sink.writer.add(source: source, lines: lines) }
                }
                report.files += 1
                report.diskBytes += file.size
                if !backfill, manifest.lastStamp.map({ stamp > $0 }) ?? true { manifest.lastStamp = stamp }
            } catch let e as IndexError {
                // The index cannot be written: stop, but not before the stages in flight do.
                try? pipeline.drain()
                throw e
            } catch {
                try pipeline.drain()
                report.errors.append(error as? IOError ?? IOError(path: file.path, offset: nil, message: "\(error)"))
                // Sessions from the part read are in the index: their lines keep their
                // offsets, the file's id is not given to the next file, and the file is
                // recorded as read in part (no digest: it was not read to the end), so a
                // later run does not index it a second time.
                sink.writer.add(lineTable: lineTable.take(), source: id)
                let lines = sessionizer.counts.lines - linesBefore
                if lines > 0 {
                    sink.writer.add(source: SourceRecord(id: id, name: file.name, path: file.path, date: stamp.date, size: file.size,
                                                         mtime: file.mtime, sha256: [], plainBytes: plainDone - plainBefore,
                                                         frames: 0, indexedAt: Int64(time(nil)), partial: true), lines: lines)
                }
                nextSource += 1
            }
            diskDone += file.size
        }
        try pipeline.drain()
        report.phaseSeconds["encode", default: 0] += pipeline.encodeSeconds
        report.phaseSeconds["append", default: 0] += pipeline.appendSeconds
        if inOrder {
            // Still open: written as they stand (incomplete), and carried to the next run,
            // whose copies will replace these.
            let open = sessionizer.carry()
            try sink.add(open.map(\.session))
            if open.isEmpty {
                manifest.carry = nil
            } else {
                let name = "carry-" + String(segmentName(sink.generation).dropFirst(4).dropLast(4)) + ".bin"
                try CarryFile.store(open, directory + "/" + name)
                manifest.carry = name
            }
        } else {
            // Files older than the last run's: their open sessions end with the files.
            try sink.add(sessionizer.finish())
        }
        let tf = Stopwatch()
        try sink.finish()
        report.phaseSeconds["finish", default: 0] += tf.seconds
        for (step, seconds) in sink.finishSeconds { report.phaseSeconds["finish." + step, default: 0] += seconds }

        for r in sessionizer.unparsedReports {
            let name = sourcePaths[r.source] ?? "?"
            report.notes.append("\(name): at byte \(r.offset): \(r.lines) line(s) before the first record (counted as unparsed)")
        }
        manifest.generation = sink.generation
        manifest.nextSession = sessionizer.nextSessionNumber
        manifest.nextSource = nextSource
        manifest.segments += sink.finished
        try manifest.store(directory: directory)
        if let policy = options.mergePolicy {
            // The run's files are in the index now; merging is a second step, committed on its
            // own. If it fails, the index stays as the run left it (whatever the merge wrote
            // is not in the manifest, and the next run deletes it), and the next run tries again.
            do {
                try Compactor.mergeTiers(directory: directory, manifest: &manifest, policy: policy, threads: options.threads,
                                         postingsLimit: options.mergePostingsLimit, report: &report.merged,
                                         starting: options.mergeStarting)
            } catch {
                report.errors.append(IOError(path: directory, offset: nil, message:
                    "merging the newest segments after the run failed: \(error); this run's files are indexed and the index is usable as it stands; the next run tries the merge again"))
            }
            report.phaseSeconds["merge", default: 0] += report.merged.seconds
        }

        report.segmentsWritten = sink.finished.count
        report.plainBytes = sessionizer.counts.bytes
        report.lines = sessionizer.counts.lines
        report.unparsed = sessionizer.counts.unparsed
        report.sessions = sink.totals.sessions
        report.messages = sink.totals.messages
        report.indexBytes = indexSize(directory, manifest)
        report.segments = manifest.segments.count
        if manifest.segments.count >= options.compactHintSegments {
            report.notes.append("the index has \(manifest.segments.count) segments (one per run, each with its own term dictionary); `maildex compact --index \(shellQuoted(directory))` merges them into a smaller index with faster queries")
        }
        report.seconds = clock.seconds
        return report
    }

    /// The segment being written, and a new one whenever it holds as many postings as
    /// memory allows. Used from one thread at a time (the write-behind queue).
    final class SegmentSink: @unchecked Sendable {
        let directory: String
        let threads: Int
        let postingsLimit: Int
        let supersedes: Set<UInt64>
        private(set) var generation: UInt64
        private(set) var finished: [String] = []
        /// Sessions and messages written to the finished segments.
        private(set) var totals = SegmentStats()
        private(set) var writer: SegmentWriter! = nil

        let encoder: SegmentWriter.Encoder

        init(directory: String, generation: UInt64, threads: Int, postingsLimit: Int, supersedes: Set<UInt64>) {
            self.directory = directory; self.generation = generation; self.threads = threads
            self.postingsLimit = postingsLimit; self.supersedes = supersedes
            encoder = SegmentWriter.Encoder(threads: threads, blockTarget: 256 << 10, level: SegmentWriter.indexingLevel)
        }

        func start() throws {
            generation += 1
            writer = try SegmentWriter(directory: directory, name: Indexer.segmentName(generation), encoder: encoder,
                                       expectedPostings: postingsLimit)
            writer.supersedes = supersedes
        }

        func add(_ sessions: [Session]) throws {
            try writer.add(sessions)
            try rollOverIfFull()
        }

        /// Encodes sessions into blocks; safe to call while `append` runs on another thread.
        func encode(pending: [SessionStitcher.Pending]) -> SegmentWriter.Batch {
            encoder.encode(pending: pending)
        }

        func append(_ batch: SegmentWriter.Batch) throws {
            try writer.append(batch)
            try rollOverIfFull()
        }

        private func rollOverIfFull() throws {
            if writer.postingsCount > postingsLimit {
                try close()
                try start()
            }
        }

        func finish() throws { try close() }

        /// Wall time of the steps of the segments' finishes.
        private(set) var finishSeconds: [String: Double] = [:]

        private func close() throws {
            _ = try writer.finish()
            finishSeconds.merge(writer.finishSeconds, uniquingKeysWith: +)
            finished.append(writer.name)
            totals.sessions += writer.stats.sessions
            totals.messages += writer.stats.messages
        }
    }

    /// Runs the writing of sessions in two stages behind the parser: encoding (parallel
    /// within a batch) on one queue, appending to the segment (sequential, in order) on
    /// another. The parser parses window N+2 while window N+1's sessions are encoded
    /// and window N's are appended, so no core waits on the writer's sequential part.
    /// At most `maxBacklog` encoded batches wait to be appended (a segment's finish
    /// runs on the append queue and may take a while).
    /// With `inline`, every stage runs at once on the caller's thread.
    final class WritePipeline: @unchecked Sendable {
        private let encodeQueue = DispatchQueue(label: "maildex.encode")
        private let appendQueue = DispatchQueue(label: "maildex.append")
        private let encoding = DispatchGroup()
        private let appending = DispatchGroup()
        private let backlog: DispatchSemaphore
        private let lock = NSLockLite()
        private var failure: Error? = nil
        private let inline: Bool
        /// Wall time spent in each stage (each stage runs one job at a time).
        private(set) var encodeSeconds = 0.0
        private(set) var appendSeconds = 0.0

        init(inline: Bool = false, maxBacklog: Int = 3) {
            self.inline = inline
            backlog = DispatchSemaphore(value: maxBacklog)
        }

        /// Waits for the previous batch's encoding, then encodes `encode()` and appends
        /// the result after every batch submitted before it.
        func submit<Batch>(encode: @escaping () -> Batch, append: @escaping (Batch) throws -> Void) throws {
            if inline {
                try rethrow()
                let t = Stopwatch()
                let batch = encode()
                let t1 = t.seconds
                do { try append(batch) } catch { fail(error); throw error }
                encodeSeconds += t1; appendSeconds += t.seconds - t1
                return
            }
            encoding.wait()
            try rethrow()
            backlog.wait()
            let job = UncheckedBox((encode, append))
            encoding.enter()
            appending.enter()
            encodeQueue.async {
                let t = Stopwatch()
                let batch = UncheckedBox(job.value.0())
                self.encodeSeconds += t.seconds
                self.encoding.leave()
                self.appendQueue.async {
                    defer { self.backlog.signal(); self.appending.leave() }
                    guard self.failed == nil else { return }
                    let t = Stopwatch()
                    do { try job.value.1(batch.value) } catch { self.fail(error) }
                    self.appendSeconds += t.seconds
                }
            }
        }

        /// Runs `work` on the append queue after every batch submitted so far.
        func afterLast(_ work: @escaping () throws -> Void) throws {
            try rethrow()
            if inline {
                do { return try work() } catch { fail(error); throw error }
            }
            let job = UncheckedBox(work)
            // Queued behind the encoding in flight, so it follows that batch's append.
            encoding.enter()
            appending.enter()
            encodeQueue.async {
                self.encoding.leave()
                self.appendQueue.async {
                    defer { self.appending.leave() }
                    guard self.failed == nil else { return }
                    do { try job.value() } catch { self.fail(error) }
                }
            }
        }

        /// Waits until every batch is appended; rethrows the first error of any.
        func drain() throws {
            encoding.wait()
            appending.wait()
            try rethrow()
        }

        private var failed: Error? { lock.with { failure } }
        private func fail(_ e: Error) { lock.with { if failure == nil { failure = e } } }
        /// A failed append leaves the segment unusable: the error stays, and every later
        /// call rethrows it.
        private func rethrow() throws {
            if let e = failed { throw e }
        }
    }

    /// The digest to record of a file read: none when a plain file's read stopped at an
    /// error (the hash covers only the bytes read). A `.zst` file is hashed whole from
    /// its mapping, whatever its frames held.
    static func digest(_ summary: ReadSummary) -> [UInt8] {
        summary.error != nil && summary.frames == 0 ? [] : summary.sha256
    }

    static func segmentName(_ generation: UInt64) -> String {
        let s = String(generation)
        return "seg-" + String(repeating: "0", count: max(0, 6 - s.count)) + s + ".mdx"
    }

    /// Total bytes of the manifest and the live segments.
    public static func indexSize(_ directory: String, _ manifest: Manifest) -> UInt64 {
        (manifest.segments + [Manifest.fileName] + (manifest.carry.map { [$0] } ?? [])).reduce(0) {
            $0 + (fileSize(directory, $1) ?? 0)
        }
    }

    /// The size of file `name` in `directory`, or nil if it cannot be read.
    static func fileSize(_ directory: String, _ name: String) -> UInt64? {
        var st = stat()
        return stat(directory + "/" + name, &st) == 0 ? UInt64(st.st_size) : nil
    }

    /// Deletes segment files no manifest lists (left by an interrupted run).
    static func removeStaleFiles(_ directory: String, _ manifest: Manifest) {
        guard let dir = opendir(directory) else { return }
        var names = [String]()
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            names.append(name)
        }
        closedir(dir)
        let live = Set(manifest.segments + (manifest.carry.map { [$0] } ?? []))
        for n in names where (n.hasPrefix("seg-") || n.hasPrefix("carry-")) && !live.contains(n) { unlink(directory + "/" + n) }
        for n in names where n.hasSuffix(".tmp") { unlink(directory + "/" + n) }
    }

    /// The SHA-256 of a file's bytes, read with `read(2)` a MiB at a time: no mapping, so
    /// a file truncated meanwhile gives a different digest, not SIGBUS.
    static func sha256(of path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MaildexError.io(path, errno: errno) }
        defer { close(fd) }
        let h = SHA256Hasher()
        let buffer = OwnedBytes(count: 1 << 20)
        var done: UInt64 = 0
        while true {
            let n = try readFully(fd, into: buffer.pointer, count: buffer.count, path: path, offset: done)
            h.update(UnsafeRawBufferPointer(start: buffer.pointer, count: n))
            done += UInt64(n)
            if n < buffer.count { return h.finish() }
        }
    }
}
