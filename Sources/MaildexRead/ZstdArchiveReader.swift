#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import MaildexSupport
import MaildexParse

/// Reading zstd archives: the whole-file hash, multi-frame batches decompressed in parallel,
/// and the hand-over of single or oversized frames to streaming.
extension SourceReader {
    /// Reads a zstd archive: several frames in batches, one frame streamed.
    static func readZstd(_ file: MappedFile, _ source: UInt32, _ date: CivilDate, _ options: ReadOptions,
                         _ body: @escaping (Window) throws -> UInt64) throws -> ReadSummary {
        let all = file.bytes
        var summary = ReadSummary()
        let hasher = SHA256Hasher()
        let group = startHashing(hasher, all)
        // The hash reads the mapping: wait for it on every way out. (Its digest is set
        // below: a `defer` runs after `return summary` has copied the summary.)
        defer { group.wait() }

        let (frames, scanError) = Zstd.frames(all)
        let dataFrames = frames.filter { !$0.skippable }
        summary.frames = dataFrames.count
        let assembler = WindowAssembler(source: source, date: date, maxWindow: options.maxWindow, body: body)
        if dataFrames.count >= 2 {
            try FrameBatchReader(file: file, all: all, frames: dataFrames, options: options, assembler: assembler).read(&summary)
        } else if !dataFrames.isEmpty || (frames.isEmpty && scanError != nil) {
            try streamSingleFrame(file, dataFrames, options, assembler, &summary)
        }
        noteLateErrors(file, scanError, &summary)
        try assembler.finish()
        group.wait()
        summary.fileBytes = UInt64(all.count)
        summary.sha256 = hasher.finish()
        return summary
    }

    /// Starts hashing the archive's bytes as stored on another thread; the group tells when it is done.
    private static func startHashing(_ hasher: SHA256Hasher, _ all: UnsafeRawBufferPointer) -> DispatchGroup {
        let hashBox = UncheckedBox((hasher, all))
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { hashBox.value.0.update(hashBox.value.1) }
        return group
    }

    /// One frame or an unreadable header: streams it, decompressing on another thread
    /// while this one parses.
    private static func streamSingleFrame(_ file: MappedFile, _ dataFrames: [Zstd.Frame], _ options: ReadOptions,
                                          _ assembler: WindowAssembler, _ summary: inout ReadSummary) throws {
        let all = file.bytes
        let end = dataFrames.last.map { $0.offset + $0.compressedSize } ?? all.count
        let start = dataFrames.first?.offset ?? 0
        summary.error = try streamFrame(file, start..<end, options, assembler, &summary.plainBytes)
    }

    /// Records, when reading stopped at no error of its own, bytes that are not a valid
    /// frame, or a file that shrank while it was read.
    private static func noteLateErrors(_ file: MappedFile, _ scanError: (offset: Int, message: String)?,
                                       _ summary: inout ReadSummary) {
        if summary.error == nil, let scanError {
            summary.error = IOError(path: file.path, offset: UInt64(scanError.offset),
                                    message: "not a valid zstd frame (\(scanError.message))")
        }
        if summary.error == nil, file.size < file.sizeWhenOpened {
            summary.error = shrank(file.path, from: UInt64(file.sizeWhenOpened), to: UInt64(file.size))
        }
    }

    /// Reads the data frames of a multi-frame archive, a batch at a time.
    ///
    /// Frames are decompressed whole, several at once, then parsed in parallel. A frame
    /// too large for that (it says so, or it declares no size and turns out larger than
    /// `wholeFrameLimit`, or is surely so by its compressed size) is streamed on its own:
    /// one core decompressing while the other parses, as for a single-frame archive.
    private struct FrameBatchReader {
        let file: MappedFile
        /// The archive's bytes (`file.bytes`).
        let all: UnsafeRawBufferPointer
        let frames: [Zstd.Frame]
        let options: ReadOptions
        let assembler: WindowAssembler
        var limit: Int { options.wholeFrameLimit }

        /// Reads every frame, or those before the first damaged one.
        func read(_ summary: inout ReadSummary) throws {
            let dataFrames = frames
            var i = 0
            while i < dataFrames.count, summary.error == nil {
                if streamed(dataFrames[i]) { try stream(dataFrames[i], &summary); i += 1; continue }
                let j = batchEnd(from: i)
                let batch = Array(dataFrames[i..<j])
                if batch.allSatisfy({ $0.contentSize != nil }) {
                    try decompressInPlace(batch, &summary)
                    i = j
                    continue
                }
                let tooLarge = try decompressSizeless(batch, &summary)
                if let k = tooLarge, summary.error == nil {
                    try stream(batch[k], &summary)
                    i += k + 1
                } else {
                    i = j
                }
            }
        }

        /// Whether frame `f` is streamed on its own rather than decompressed whole.
        func streamed(_ f: Zstd.Frame) -> Bool {
            if let size = f.contentSize { return size > limit }
            return f.compressedSize > limit / 4
        }

        /// The error of a frame that failed to decompress: reading stops there (the line
        /// numbers after a lost frame cannot be known, and evidence gives no guessed
        /// number), and the message says how much of the archive that leaves unread.
        func corrupt(_ f: Zstd.Frame, _ e: Error) -> IOError {
            let k = frames.firstIndex { $0.offset == f.offset } ?? 0
            let rest = frames[k...]
            let declared = rest.allSatisfy { $0.contentSize != nil }
                ? ", \(rest.reduce(0) { $0 + $1.contentSize! }) bytes of log text as they declare" : ""
            return IOError(path: file.path, offset: UInt64(f.offset), message:
                "corrupt zstd frame: \(e); reading stops here: frame \(k + 1) of \(frames.count), it and the \(rest.count - 1) after it (\(all.count - f.offset) bytes of the archive\(declared)) are not indexed")
        }

        /// Streams frame `f` on its own.
        func stream(_ f: Zstd.Frame, _ summary: inout ReadSummary) throws {
            summary.error = try SourceReader.streamFrame(file, f.offset..<(f.offset + f.compressedSize), options, assembler, &summary.plainBytes)
        }

        /// The end of the batch that starts at frame `i`: frames whose text (declared, or
        /// guessed at 8 times the compressed bytes) stays within two windows.
        func batchEnd(from i: Int) -> Int {
            let dataFrames = frames
            var j = i, compressed = 0, expected = 0
            while j < dataFrames.count, !streamed(dataFrames[j]), j - i < max(2, options.threads * 4),
                  compressed < options.windowSize / 4 || j - i < options.threads,
                  j == i || expected + (dataFrames[j].contentSize ?? dataFrames[j].compressedSize * 8) <= options.windowSize * 2 {
                compressed += dataFrames[j].compressedSize
                expected += dataFrames[j].contentSize ?? dataFrames[j].compressedSize * 8
                j += 1
            }
            return j
        }

        /// Sizes known: each frame is decompressed, on every core, straight into its place
        /// in the buffer its windows are parsed from (no copy). A damaged frame ends the
        /// stream: the frames before it are kept.
        func decompressInPlace(_ batch: [Zstd.Frame], _ summary: inout ReadSummary) throws {
            let all = self.all
            var ends = [Int](), total = 0
            for f in batch { total += f.contentSize!; ends.append(total) }
            var damaged: (frame: Int, error: Error)? = nil
            let added = try assembler.add(count: total) { out in
                let target = UncheckedBox(out)
                let errors = Parallel.map(batch.count, threads: options.threads) { k -> Error? in
                    let start = k == 0 ? 0 : ends[k - 1]
                    do {
                        try Zstd.decompressFrame(all, batch[k], into: UnsafeMutableRawBufferPointer(rebasing: target.value[start..<ends[k]]))
                        return nil
                    } catch { return error }
                }
                guard let k = errors.firstIndex(where: { $0 != nil }) else { return total }
                damaged = (k, errors[k]!)
                return k == 0 ? 0 : ends[k - 1]
            }
            summary.plainBytes += UInt64(added)
            if let damaged { summary.error = corrupt(batch[damaged.frame], damaged.error) }
        }

        /// A frame that declares no size (here at least one does) may hold more than
        /// guessed: each may take its share of two windows at most, so the batch stays
        /// within them. Returns the first such frame found larger than its share (to be
        /// streamed next), the frames before it having been added.
        func decompressSizeless(_ batch: [Zstd.Frame], _ summary: inout ReadSummary) throws -> Int? {
            let all = self.all, limit = self.limit
            let sizeless = batch.filter { $0.contentSize == nil }.count
            let declared = batch.reduce(0) { $0 + ($1.contentSize ?? 0) }
            let share = min(limit, max(1 << 20, (options.windowSize * 2 - declared) / sizeless))
            let results = Parallel.map(batch.count, threads: options.threads) { k -> Result<[UInt8], Error> in
                Result { try Zstd.decompressFrame(all, batch[k], limit: batch[k].contentSize == nil ? share : limit) }
            }
            var pieces = [[UInt8]]()
            var tooLarge: Int? = nil
            for (k, r) in results.enumerated() {
                switch r {
                case .success(let bytes): pieces.append(bytes)
                case .failure(let e) where e is Zstd.TooLarge && batch[k].contentSize == nil:
                    tooLarge = k
                case .failure(let e):
                    summary.error = corrupt(batch[k], e)
                }
                if summary.error != nil || tooLarge != nil { break }
            }
            try SourceReader.withBuffers(pieces) { try assembler.add($0) }
            summary.plainBytes += pieces.reduce(0) { $0 + UInt64($1.count) }
            return tooLarge
        }
    }

    static func withBuffers(_ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) throws -> Void) rethrows {
        var pointers = [UnsafeRawBufferPointer]()
        func nest(_ k: Int) throws {
            if k == arrays.count { try body(pointers); return }
            try arrays[k].withUnsafeBytes { p in pointers.append(p); try nest(k + 1) }
        }
        try nest(0)
    }
}
