import Foundation
import FuzzSupport
import MaildexCore

/// Any bytes as a day's log: whatever the chunks, windows, threads and way of reading
/// (mapped, `read(2)`, one zstd frame, many frames with or without their sizes, streamed
/// with or without headroom), the sessions and counts are those of one sequential read,
/// and nothing crashes.
func fuzzSessions(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    var knobs = Fuzz.Knobs(bytes)
    let reference = Fuzz.reference(bytes)
    Fuzz.require(reference.counts.bytes == UInt64(bytes.count), "counted \(reference.counts.bytes) bytes of \(bytes.count)")

    // In memory, small chunks on two threads.
    let chunk = knobs.next(1...300)
    let chunked = Fuzz.sessions(bytes, threads: 2, chunkSize: chunk)
    Fuzz.same(chunked.sessions, reference.sessions, "chunks of \(chunk) bytes")
    Fuzz.require(chunked.counts == reference.counts, "chunks of \(chunk): counts \(chunked.counts), expected \(reference.counts)")

    // Through files, in small windows.
    func read(_ name: String, _ contents: [UInt8], _ options: ReadOptions, _ how: String) {
        let threads = knobs.next(1...2)
        let chunk = knobs.next(1...400)
        let r = Fuzz.readFile(contents, as: name, threads: threads, chunkSize: chunk, options: options)
        let how = "\(how), \(threads) threads, chunks of \(chunk)"
        Fuzz.require(r.errors.isEmpty, "\(how): \(r.errors)")
        if Fuzz.mayCutOutsideARecord(bytes, maxWindow: options.maxWindow) {
            Fuzz.require(r.counts.bytes == reference.counts.bytes && r.counts.lines == reference.counts.lines,
                         "\(how): counts \(r.counts), expected \(reference.counts)")
        } else {
            Fuzz.same(r.sessions, reference.sessions, how)
            Fuzz.require(r.counts == reference.counts, "\(how): counts \(r.counts), expected \(reference.counts)")
        }
        Fuzz.require(r.summaries.first?.plainBytes == UInt64(bytes.count), "\(how): \(r.summaries.first?.plainBytes ?? 0) plain bytes")
    }
    func windows() -> ReadOptions {
        var o = ReadOptions()
        o.windowSize = knobs.size(64...2048, small: 1...64)
        o.maxWindow = knobs.size(512...8192, small: 2...512)
        o.wholeFrameLimit = knobs.next(1...8192)
        o.streamHeadroom = knobs.next(0...200)
        return o
    }
    for mmap in [true, false] {
        var o = windows()
        o.useMmap = mmap
        o.restSeconds = 0  // map the file just written
        read(Fuzz.fileName, bytes, o, mmap ? "mapped, windows \(o.windowSize)/\(o.maxWindow)" : "read, windows \(o.windowSize)/\(o.maxWindow)")
    }

    // zstd: one frame; frames cut anywhere, with sizes; the same without sizes (as pzstd and
    // streaming writers make them).
    let one = bytes.withUnsafeBytes { Zstd.compress($0, level: 1) }
    read(Fuzz.fileName + ".zst", one, windows(), "one zstd frame")
    var cuts = [0]
    while cuts.last! < bytes.count { cuts.append(min(bytes.count, cuts.last! + knobs.next(1...1500))) }
    var sized = [UInt8](), sizeless = [UInt8]()
    let stream = Zstd.StreamCompressor(level: 1)
    bytes.withUnsafeBytes { p in
        for (a, b) in zip(cuts, cuts.dropFirst()) {
            let piece = UnsafeRawBufferPointer(rebasing: p[a..<b])
            sized += Zstd.compress(piece, level: 1)
            try! stream.write(piece) { sizeless += $0 }
            try! stream.endFrame { sizeless += $0 }
        }
    }
    if !bytes.isEmpty {
        read(Fuzz.fileName + ".zst", sized, windows(), "\(cuts.count - 1) sized frames")
        read(Fuzz.fileName + ".zst", sizeless, windows(), "\(cuts.count - 1) frames without sizes")
    }
    return 0
}

Fuzz.run { fuzzSessions($0, $1) }
