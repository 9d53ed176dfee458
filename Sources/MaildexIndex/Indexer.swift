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
        /// The server whose logs this run indexes (`index --server NAME`): its files are
        /// labelled with it, and its channels and queue ids join only its own. Nil: no
        /// named server. `Indexer.validServerName` says which names are allowed.
        public var server: String? = nil
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
        let manifest = try Manifest.load(directory: directory) ?? Manifest()
        removeStaleFiles(directory, manifest)
        var report = Report()
        let (todo, starts) = try filesToIndex(paths, directory: directory, manifest: manifest, options: options, report: &report)
        if todo.isEmpty {
            // Nothing new; but a merge that an earlier run did not finish (killed, or the
            // disk full) is done now, so that the same command run again completes it.
            var manifest = manifest
            mergeTiers(directory: directory, manifest: &manifest, options: options, report: &report)
            report.seconds = clock.seconds
            report.indexBytes = indexSize(directory, manifest)
            report.segments = manifest.segments.count
            return report
        }
        let run = try IndexRun(directory: directory, manifest: manifest, report: report, todo: todo, starts: starts,
                               options: options, clock: clock, progress: progress)
        for (i, file) in todo.enumerated() { try run.readFile(file, index: i) }
        try run.drainWriter()
        try run.carryOpenSessions()
        try run.finishSegments()
        run.noteUnparsed()
        try run.storeManifest()
        run.mergeTiers()
        return run.finalReport()
    }

    /// Discovers the files of `paths` and keeps those to index: not indexed already (or
    /// grown since, to be read on from where the last run stopped: `starts`, by path),
    /// and with a date. The others are counted as skipped or reported.
    static func filesToIndex(_ paths: [String], directory: String, manifest: Manifest, options: Options,
                             report: inout Report) throws -> (todo: [InputFile], starts: [String: ReadStart]) {
        let (known, segments) = try indexedSources(directory, manifest, server: options.server)
        let found = InputFiles.discover(paths, defaultDate: options.defaultDate)
        report.errors += found.errors
        var todo = [InputFile]()
        var starts = [String: ReadStart]()
        for f in found.files {
            guard f.stamp != nil else {
                report.errors.append(IOError(path: f.path, offset: nil, message: "no date in the file name (YYYY-MM-DD...); give one with --date"))
                continue
            }
            if let k = known[f.name] {
                if var start = indexedAlready(f, k, &report) {
                    start.line = try lastLine(of: k.id, in: segments) + 1
                    starts[f.path] = start
                    todo.append(f)
                }
                continue
            }
            todo.append(f)
        }
        return (todo, starts)
    }

    /// What is indexed already of `server`'s files: by file name (two servers' files of
    /// one name are two files), the newest source record of the live segments (a file
    /// that grew between runs has a record per run that read it); and the segments.
    static func indexedSources(_ directory: String, _ manifest: Manifest, server: String?) throws
        -> (records: [String: SourceRecord], segments: [SegmentReader]) {
        var known: [String: SourceRecord] = [:]
        let readers = try manifest.segments.map { try SegmentReader.open(directory + "/" + $0) }
        for reader in readers {
            for s in try reader.sources() where s.server == server {
                if let k = known[s.name], k.id > s.id { continue }
                known[s.name] = s
            }
        }
        return (known, readers)
    }

    /// The number of the last line indexed of source `id` (0 for none), from its line
    /// table, which may sit in another segment than its record (after a merge).
    static func lastLine(of id: UInt32, in segments: [SegmentReader]) throws -> UInt64 {
        for s in segments { if let r = try s.lineRange(source: id) { return r.upperBound } }
        return 0
    }

    /// A server name: 1 to 64 bytes of letters, digits, `.`, `-` and `_`, so that it is
    /// one word in the manifest and a query term (`server:mx01`) as it is.
    public static func validServerName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 46 || c == 45 || c == 95
        }
    }

    /// A file of a name already indexed (as `k`) is not indexed again: skipped when it is
    /// the same file, else reported; but a plain file that has only grown since (its first
    /// bytes are those indexed, and they ended with a line) is read on from there: returns
    /// where (its `line` still to be set).
    static func indexedAlready(_ f: InputFile, _ k: SourceRecord, _ report: inout Report) -> ReadStart? {
        if !k.partial, k.frames == 0, k.hasDigest, f.size > k.size, !SourceReader.isZstd(f.name) {
            do {
                let (hasher, before) = try prefixHash(of: f.path, count: k.size, keeping: 64 << 10)
                if hasher.copy().finish() == k.sha256 {
                    if k.size == 0 || before.last == 10 {
                        return ReadStart(offset: k.size, line: 0, hasher: hasher, before: before)
                    }
                    report.errors.append(IOError(path: f.path, offset: k.size, message:
                        "has grown since it was indexed, but the \(k.size) bytes indexed then did not end with a line end (it was read whole as a file at rest); what follows cannot be added to that line in this index: rebuild it"))
                    return nil
                }
            } catch {
                report.errors.append(error as? IOError ?? IOError(path: f.path, offset: nil, message: "\(error)"))
                return nil
            }
        }
        noteIndexedAlready(f, k, &report)
        return nil
    }

    /// A file of a name already indexed (as `k`) and not grown since: skipped when it is
    /// the same file, else reported.
    static func noteIndexedAlready(_ f: InputFile, _ k: SourceRecord, _ report: inout Report) {
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
            return
        }
        if k.size == f.size && k.mtime == f.mtime { report.skipped += 1; return }
        if k.size == f.size && !k.hasDigest {
            // Indexes written before 2026-11-30 stored no digest for `.zst` files.
            report.skipped += 1
            report.notes.append("\(f.path): indexed without its SHA-256 by an older maildex; not compared (rebuild the index to record it)")
            return
        }
        if k.size == f.size {
            do {
                if try sha256(of: f.path) == k.sha256 { report.skipped += 1; return }
            } catch {
                report.errors.append(error as? IOError ?? IOError(path: f.path, offset: nil, message: "\(error)"))
                return
            }
        }
        report.errors.append(IOError(path: f.path, offset: nil,
            message: "a file of this name was indexed with different content (\(k.size) bytes, SHA-256 \(SHA256Hasher.hex(k.sha256)), from \(k.path)); not indexed again. A file that changed after it was indexed needs a new index; another server's log of the same name belongs in an index of its own"))
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
        (manifest.segments + [Manifest.fileName] + manifest.carryFiles).reduce(0) {
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
        let live = Set(manifest.segments + manifest.carryFiles)
        for n in names where (n.hasPrefix("seg-") || n.hasPrefix("carry-")) && !live.contains(n) { unlink(directory + "/" + n) }
        for n in names where n.hasSuffix(".tmp") { unlink(directory + "/" + n) }
    }

    /// A hasher that has hashed the first `count` bytes of a file, read with `read(2)` a
    /// MiB at a time (no mapping, so a file truncated meanwhile gives a different digest,
    /// not SIGBUS), and the last `keeping` of those bytes; a file shorter than that gives a
    /// digest of what it holds.
    static func prefixHash(of path: String, count: UInt64, keeping: Int = 0) throws -> (SHA256Hasher, kept: [UInt8]) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MaildexError.io(path, errno: errno) }
        defer { close(fd) }
        let h = SHA256Hasher()
        let buffer = OwnedBytes(count: 1 << 20)
        var done: UInt64 = 0
        var kept = [UInt8]()
        while done < count {
            let want = Int(min(UInt64(buffer.count), count - done))
            let n = try readFully(fd, into: buffer.pointer, count: want, path: path, offset: done)
            let piece = UnsafeRawBufferPointer(start: buffer.pointer, count: n)
            h.update(piece)
            if keeping > 0 { kept = n >= keeping ? Array(piece.suffix(keeping)) : Array((kept + piece).suffix(keeping)) }
            done += UInt64(n)
            if n < want { break }
        }
        return (h, kept)
    }

    /// Merges the newest segments as `options.mergePolicy` says, if it says. The merge is
    /// committed on its own: if it fails, the index stays as it was (whatever the merge
    /// wrote is not in the manifest, and the next run deletes it), and the next run tries again.
    static func mergeTiers(directory: String, manifest: inout Manifest, options: Options, report: inout Report) {
        guard let policy = options.mergePolicy else { return }
        do {
            try Compactor.mergeTiers(directory: directory, manifest: &manifest, policy: policy, threads: options.threads,
                                     postingsLimit: options.mergePostingsLimit, report: &report.merged,
                                     starting: options.mergeStarting)
        } catch {
            report.errors.append(IOError(path: directory, offset: nil, message:
                "merging the newest segments failed: \(error); the files are indexed and the index is usable as it stands; the next run tries the merge again"))
        }
        report.phaseSeconds["merge", default: 0] += report.merged.seconds
    }

    /// The SHA-256 of a file's bytes (`prefixHash` over all of them).
    static func sha256(of path: String) throws -> [UInt8] {
        try prefixHash(of: path, count: .max).0.finish()
    }
}
