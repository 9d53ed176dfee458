import Foundation
import FuzzSupport
import MaildexCore

/// Any bytes as a `.zst` archive: one frame or many, with or without sizes, skippable
/// frames, damaged or cut short. What a plain streaming decompression makes of it is the
/// reference: when that succeeds, maildex reads the same sessions, however it splits and
/// streams the frames; when it fails, maildex reports one error naming the file and a
/// byte offset, and keeps no more text than the frames before the damage hold. Nothing
/// crashes.
func fuzzArchive(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    var knobs = Fuzz.Knobs(bytes)

    // The reference: one stream through libzstd. A few bytes of zstd can stand for many
    // megabytes of text; such inputs are left alone (they test nothing more, slowly).
    let limit = 4 << 20
    struct TooLarge: Error {}
    var text = [UInt8]()
    var whole = false
    let stream = Zstd.StreamDecompressor(outputChunk: 64 << 10)
    do {
        try bytes.withUnsafeBytes { p in
            try stream.decompress(p) { piece in
                text += piece
                if text.count > limit { throw TooLarge() }
            }
        }
        whole = stream.atFrameEnd
    } catch is TooLarge {
        return 0
    } catch {
        whole = false
    }

    var o = ReadOptions()
    o.windowSize = knobs.size(256...8192, small: 1...256)
    o.maxWindow = knobs.size(1024...16384, small: 2...1024)
    o.wholeFrameLimit = knobs.size(1024...(8 << 20), small: 1...1024)
    o.streamHeadroom = knobs.next(0...300)
    let threads = knobs.next(1...2)
    let chunk = knobs.next(1...500)
    let how = "\(threads) threads, chunks of \(chunk), windows \(o.windowSize)/\(o.maxWindow), whole frames up to \(o.wholeFrameLimit), headroom \(o.streamHeadroom)"

    let r = Fuzz.readFile(bytes, as: Fuzz.fileName + ".zst", threads: threads, chunkSize: chunk, options: o)
    let plain = r.summaries.first?.plainBytes ?? 0

    if whole {
        Fuzz.require(r.errors.isEmpty, "a sound archive (\(text.count) bytes of text) gave errors, \(how): \(r.errors)")
        Fuzz.require(plain == UInt64(text.count), "\(plain) bytes of text, expected \(text.count), \(how)")
        if !Fuzz.mayCutOutsideARecord(text, maxWindow: o.maxWindow) {
            let reference = Fuzz.reference(text)
            Fuzz.same(r.sessions, reference.sessions, "a sound archive, \(how)")
            Fuzz.require(r.counts == reference.counts, "counts \(r.counts), expected \(reference.counts), \(how)")
        }
    } else {
        Fuzz.require(r.errors.count == 1, "a damaged archive gave \(r.errors.count) errors, \(how): \(r.errors)")
        let e = r.errors[0]
        Fuzz.require((e.path ?? "").hasSuffix(Fuzz.fileName + ".zst"), "the error names \(e.path ?? "no file"), \(how)")
        Fuzz.require(e.offset.map { $0 <= UInt64(bytes.count) } ?? false,
                     "the error's offset \(e.offset.map(String.init) ?? "nil") is not in the file of \(bytes.count) bytes, \(how): \(e)")
        Fuzz.require(r.counts.bytes == plain, "\(r.counts.bytes) bytes parsed of \(plain) read, \(how)")
    }
    return 0
}

Fuzz.run { fuzzArchive($0, $1) }
