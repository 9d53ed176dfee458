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

/// The steps of an indexing run once its files are known: open the carry, read each file,
/// record it, carry the open sessions, finish the segments, store the manifest and merge.
extension Indexer {
    /// The state of one run of `Indexer.run` over the files it indexes.
    final class IndexRun {
        let directory: String
        let options: Options
        let clock: Stopwatch
        let progress: ((Progress) -> Void)?
        let todo: [InputFile]
        /// Files that grew since a run before indexed their start, by path: where to read on.
        let starts: [String: ReadStart]
        let diskTotal: UInt64
        var manifest: Manifest
        var report: Report
        let sessionizer: Sessionizer
        let lineTable: LineTable.Collector
        /// Every file comes at or after the last run's (see `openCarry`).
        let inOrder: Bool
        /// Every file comes before the last run's.
        let backfill: Bool
        let sink: SegmentSink
        let pipeline: WritePipeline
        let readOptions: ReadOptions
        var nextSource: UInt32
        var diskDone: UInt64 = 0
        var plainDone: UInt64 = 0
        var sourcePaths: [UInt32: String] = [:]
        /// The carry files the manifest named when the run began.
        let carriesAtStart: Set<String>

        /// Sets up the sessionizer (resuming the last run's carry when it continues here),
        /// the first segment and the write pipeline.
        init(directory: String, manifest: Manifest, report: Report, todo: [InputFile], starts: [String: ReadStart],
             options: Options, clock: Stopwatch, progress: ((Progress) -> Void)?) throws {
            self.directory = directory; self.report = report; self.todo = todo; self.starts = starts
            self.options = options; self.clock = clock; self.progress = progress
            var manifest = manifest
            carriesAtStart = Set(manifest.carryFiles)
            diskTotal = todo.reduce(0) { $0 + $1.size }
            let sessionizer = Sessionizer(threads: options.threads, chunkSize: options.chunkSize,
                                          firstSessionNumber: manifest.nextSession, firstTrailNumber: manifest.nextTrail)
            let lineTable = LineTable.Collector()
            sessionizer.lineLengths = lineTable
            self.sessionizer = sessionizer; self.lineTable = lineTable
            let carry = try Self.openCarry(directory, &manifest, todo, sessionizer, server: options.server ?? "")
            inOrder = carry.inOrder; backfill = carry.backfill
            let sink = SegmentSink(directory: directory, generation: manifest.generation, threads: options.threads,
                                   postingsLimit: options.segmentPostingsLimit, supersedes: carry.supersedes,
                                   server: options.server.map { Array($0.utf8) })
            try sink.start()
            self.sink = sink
            // One thread means one: the writer runs inline rather than beside the parser.
            pipeline = WritePipeline(inline: options.threads == 1)
            var readOptions = options.read
            readOptions.threads = options.threads
            self.readOptions = readOptions
            nextSource = manifest.nextSource
            self.manifest = manifest
        }

        /// Decides what becomes of the last run's carried sessions, and resumes them in
        /// `sessionizer` when these files continue them. Returns the order of the files
        /// against the last run's and the sessions the resumed ones supersede.
        static func openCarry(_ directory: String, _ manifest: inout Manifest, _ todo: [InputFile],
                              _ sessionizer: Sessionizer, server: String) throws -> (inOrder: Bool, backfill: Bool, supersedes: Set<UInt64>) {
            // The order, the stamp and the carry are the run's server's own.
            // `inOrder`: every file comes at or after the last run's. Its open sessions are
            // carried to the next run; and the last run's carried sessions continue here when
            // these files follow on (the same day or the next). A run that mixes older and
            // newer files breaks the chain: the old carry is dropped (those sessions stay as
            // written, incomplete). A back-fill of older files only leaves it for later.
            let last = manifest.stamps[server]
            let inOrder = last.map { l in todo.allSatisfy { $0.stamp! >= l } } ?? true
            let backfill = last.map { l in todo.allSatisfy { $0.stamp! < l } } ?? false
            let followsOn = last.map { l in todo[0].stamp!.date.daysSinceEpoch <= l.date.daysSinceEpoch + 1 } ?? true
            if !inOrder && !backfill { manifest.carries[server] = nil }
            var supersedes = Set<UInt64>()
            if inOrder, followsOn, let carry = manifest.carries[server] {
                let carried = try CarryFile.load(directory + "/" + carry)
                sessionizer.resume(carried)
                supersedes = Set(carried.map(\.session.number))
            }
            return (inOrder, backfill, supersedes)
        }

        /// Reads file `i` of the run and records it, whole or in part.
        func readFile(_ file: InputFile, index i: Int) throws {
            let id = nextSource
            sourcePaths[id] = file.path
            let linesBefore = sessionizer.counts.lines, plainBefore = plainDone
            let start = starts[file.path]
            if let start {
                lineTable.begin(offset: start.offset, line: start.line)
                // Lines the file goes on with before its next record continue the record
                // the part before ended with (as across windows of one read).
                start.before.withUnsafeBytes { sessionizer.continuing(source: id, after: $0) }
            }
            // Only the newest file of a run in order may still be being written.
            var options = readOptions
            options.holdBackUnfinished = inOrder && i == todo.count - 1
            do {
                let summary = try SourceReader.read(path: file.path, source: id, date: file.stamp!.date, options: options,
                                                    from: start) { window in
                    try self.feed(window, of: file, index: i)
                }
                try recordRead(file, id: id, summary, linesBefore: linesBefore)
            } catch let e as IndexError {
                // The index cannot be written: stop, but not before the stages in flight do.
                try? pipeline.drain()
                throw e
            } catch {
                try recordFailedRead(file, id: id, error, linesBefore: linesBefore, plainBefore: plainBefore)
            }
            diskDone += file.size
        }

        /// Sessionizes one window and hands its finished sessions to the writer; returns
        /// the lines counted in it.
        private func feed(_ window: Window, of file: InputFile, index i: Int) throws -> UInt64 {
            let sink = self.sink
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

        /// A file read (whole, or up to an error it reported): writes its line table and
        /// source record after its last sessions.
        private func recordRead(_ file: InputFile, id: UInt32, _ summary: ReadSummary, linesBefore: UInt64) throws {
            let sink = self.sink
            let stamp = file.stamp!
            if let e = summary.error { report.errors.append(e) }
            if summary.heldBack > 0 {
                report.notes.append("\(file.path): still being written: indexed up to byte \(summary.fileBytes); the \(summary.heldBack) byte(s) after its last line end wait for the next run")
            }
            if summary.startOffset > 0 {
                report.notes.append("\(file.path): has grown since it was indexed: read on from byte \(summary.startOffset)")
            }
            nextSource += 1
            // The file's tables go to the segment that takes its last sessions, after them.
            let table = lineTable.take()
            // Read whole: the size recorded is the one hashed (a file still being written
            // may have grown since it was listed). Read in part: the size it was listed
            // with, which a later run compares to tell "unchanged" from "changed since".
            let size = summary.error == nil ? summary.fileBytes : file.size
            let source = SourceRecord(id: id, name: file.name, path: file.path, date: stamp.date, size: size,
                                      mtime: file.mtime, sha256: Indexer.digest(summary), plainBytes: summary.plainBytes,
                                      frames: UInt32(summary.frames), indexedAt: Int64(time(nil)), partial: summary.error != nil,
                                      server: options.server, continues: starts[file.path] != nil)
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
            let server = options.server ?? ""
            if !backfill, manifest.stamps[server].map({ stamp > $0 }) ?? true { manifest.stamps[server] = stamp }
        }

        /// A file whose reading threw: writes what was read of it, recorded as read in part.
        private func recordFailedRead(_ file: InputFile, id: UInt32, _ error: Error, linesBefore: UInt64, plainBefore: UInt64) throws {
            let stamp = file.stamp!
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
                                                     frames: 0, indexedAt: Int64(time(nil)), partial: true,
                                                     server: options.server, continues: starts[file.path] != nil), lines: lines)
            }
            nextSource += 1
        }

        /// Waits for the writer to append every batch, and notes its stages' times.
        func drainWriter() throws {
            try pipeline.drain()
            report.phaseSeconds["encode", default: 0] += pipeline.encodeSeconds
            report.phaseSeconds["append", default: 0] += pipeline.appendSeconds
        }

        /// Writes the sessions still open, and carries them to the next run when the
        /// files were in order.
        func carryOpenSessions() throws {
            if inOrder {
                // Still open: written as they stand (incomplete), and carried to the next run,
                // whose copies will replace these.
                let open = sessionizer.carry()
                try sink.add(open.map(\.session))
                let server = options.server ?? ""
                if open.isEmpty {
                    manifest.carries[server] = nil
                } else {
                    let name = "carry-" + String(Indexer.segmentName(sink.generation).dropFirst(4).dropLast(4)) + ".bin"
                    try CarryFile.store(open, directory + "/" + name)
                    manifest.carries[server] = name
                }
            } else {
                // Files older than the last run's: their open sessions end with the files.
                try sink.add(sessionizer.finish())
            }
        }

        /// Finishes the last segment, and notes the time of its steps.
        func finishSegments() throws {
            let tf = Stopwatch()
            try sink.finish()
            report.phaseSeconds["finish", default: 0] += tf.seconds
            for (step, seconds) in sink.finishSeconds { report.phaseSeconds["finish." + step, default: 0] += seconds }
        }

        /// Notes the unparsed lines: those before the first record of a file, and lines
        /// that begin with a time but are no record (the first 100 runs of them).
        func noteUnparsed() {
            let shown = 100
            for r in sessionizer.unparsedReports.prefix(shown) {
                let name = sourcePaths[r.source] ?? "?"
                if r.damaged {
                    let more = r.lines > 1 ? ", with \(r.lines - 1) line(s) after it" : ""
                    report.notes.append("\(name): at byte \(r.offset): a line that begins with a time but is no record\(more) (counted as unparsed; it ends the record above)")
                } else {
                    report.notes.append("\(name): at byte \(r.offset): \(r.lines) line(s) before the first record (counted as unparsed)")
                }
            }
            let more = max(0, sessionizer.unparsedReports.count - shown) + sessionizer.unparsedReportsLeftOut
            if more > 0 { report.notes.append("\(more) more run(s) of unparsed lines (not listed)") }
        }

        /// Commits the run: the manifest lists its segments.
        func storeManifest() throws {
            manifest.generation = sink.generation
            manifest.nextSession = sessionizer.nextSessionNumber
            manifest.nextTrail = sessionizer.nextTrailNumber
            manifest.nextSource = nextSource
            manifest.segments += sink.finished
            try manifest.store(directory: directory)
            // The carry files this run's replace: no manifest names them now.
            for name in carriesAtStart.subtracting(manifest.carryFiles) { unlink(directory + "/" + name) }
        }

        /// Merges the newest segments as `options.mergePolicy` says, if it says: a second
        /// step after the run's files are in the index (`Indexer.mergeTiers`).
        func mergeTiers() {
            Indexer.mergeTiers(directory: directory, manifest: &manifest, options: options, report: &report)
        }

        /// The run's report, with its totals.
        func finalReport() -> Report {
            report.segmentsWritten = sink.finished.count
            report.plainBytes = sessionizer.counts.bytes
            report.lines = sessionizer.counts.lines
            report.unparsed = sessionizer.counts.unparsed
            report.sessions = sink.totals.sessions
            report.messages = sink.totals.messages
            report.indexBytes = Indexer.indexSize(directory, manifest)
            report.segments = manifest.segments.count
            if manifest.segments.count >= options.compactHintSegments {
                report.notes.append("the index has \(manifest.segments.count) segments (one per run, each with its own term dictionary); `maildex compact --index \(shellQuoted(directory))` merges them into a smaller index with faster queries")
            }
            report.seconds = clock.seconds
            return report
        }
    }
}
