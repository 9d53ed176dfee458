import CZstd
import MaildexSupport
import MaildexParse

/// The one place maildex calls libzstd: frame scanning, frame and stream
/// decompression, block and stream compression.
public enum Zstd {
    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// A frame larger than a caller's limit for decompressing it whole (it can be streamed).
    public struct TooLarge: Error, CustomStringConvertible {
        public var limit: Int
        public var description: String { "frame of more than \(limit) bytes is too large to decompress whole" }
    }

    static func check(_ code: Int, _ what: String) throws -> Int {
        if ZSTD_isError(code) != 0 {
            throw Failure(message: "\(what): \(String(cString: ZSTD_getErrorName(code)))")
        }
        return code
    }

    /// One frame in a compressed buffer.
    public struct Frame: Sendable {
        public var offset: Int
        public var compressedSize: Int
        /// Decompressed size when the frame header says it; nil when it doesn't.
        public var contentSize: Int?
        /// Skippable frames (for example the seekable format's seek table) hold no log text.
        public var skippable: Bool
    }

    /// The frames of `data`, in order. Stops with an error at the first bytes that
    /// are not a valid frame (`offset` says where).
    public static func frames(_ data: UnsafeRawBufferPointer) -> (frames: [Frame], error: (offset: Int, message: String)?) {
        var out = [Frame]()
        var at = 0
        let base = data.baseAddress
        while at < data.count {
            let remaining = data.count - at
            let size = ZSTD_findFrameCompressedSize(base! + at, remaining)
            if ZSTD_isError(size) != 0 {
                return (out, (at, String(cString: ZSTD_getErrorName(size))))
            }
            let skippable = ZSTD_isSkippableFrame(base! + at, remaining) != 0
            var content: Int? = nil
            if !skippable {
                let c = ZSTD_getFrameContentSize(base! + at, remaining)
                if c != ZSTD_CONTENTSIZE_UNKNOWN && c != ZSTD_CONTENTSIZE_ERROR { content = Int(exactly: c) ?? Int.max }
            }
            out.append(Frame(offset: at, compressedSize: size, contentSize: content, skippable: skippable))
            at += size
        }
        return (out, nil)
    }

    /// Decompresses one frame whole. Works whether or not the frame records its size;
    /// refuses a frame of more than `limit` bytes (callers stream those instead).
    public static func decompressFrame(_ src: UnsafeRawBufferPointer, _ frame: Frame, limit: Int = 256 << 20) throws -> [UInt8] {
        if frame.skippable { return [] }
        if let size = frame.contentSize, size > limit { throw TooLarge(limit: limit) }
        let input = UnsafeRawBufferPointer(rebasing: src[frame.offset..<(frame.offset + frame.compressedSize)])
        if let size = frame.contentSize {
            return try [UInt8](unsafeUninitializedCapacity: size) { out, initialized in
                initialized = 0
                try decompressFrame(src, frame, into: UnsafeMutableRawBufferPointer(out))
                initialized = size
            }
        }
        let stream = StreamDecompressor()
        var out = [UInt8]()
        // Room for 8 times the compressed bytes (log text compresses 5-7 times) up front:
        // growing by doubling from the first megabyte copied each frame twice over.
        out.reserveCapacity(min(limit, max(1 << 20, frame.compressedSize * 8)))
        try stream.decompress(input) { piece in
            if out.count + piece.count > limit { throw TooLarge(limit: limit) }
            out.append(contentsOf: piece)
        }
        if !stream.atFrameEnd { throw Failure(message: "zstd frame is truncated") }
        return out
    }

    /// Decompresses a frame that records its size into `out`, which holds exactly that
    /// many bytes (the indexer decompresses frames straight into the window they are
    /// parsed from).
    public static func decompressFrame(_ src: UnsafeRawBufferPointer, _ frame: Frame, into out: UnsafeMutableRawBufferPointer) throws {
        guard let size = frame.contentSize, size == out.count else {
            throw Failure(message: "zstd frame: no recorded size, or not \(out.count) bytes")
        }
        let input = UnsafeRawBufferPointer(rebasing: src[frame.offset..<(frame.offset + frame.compressedSize)])
        try DecompressionContexts.shared.with { dctx in
            let n = try check(ZSTD_decompressDCtx(dctx, out.baseAddress, size, input.baseAddress, input.count), "zstd frame")
            if n != size { throw Failure(message: "zstd frame: \(n) bytes, header says \(size)") }
        }
    }

    /// Streaming decompression of any number of concatenated frames.
    public final class StreamDecompressor {
        private let dctx: OpaquePointer
        private var scratch: [UInt8]
        public private(set) var atFrameEnd = true

        public init(outputChunk: Int = 1 << 20) {
            dctx = ZSTD_createDStream()
            scratch = [UInt8](repeating: 0, count: outputChunk)
        }
        deinit { ZSTD_freeDStream(dctx) }

        /// Decompresses from `input[inputPosition...]` into `output` until `output` is full
        /// or the input is used up; returns the bytes written and advances `inputPosition`.
        public func fill(_ output: UnsafeMutableRawBufferPointer, from input: UnsafeRawBufferPointer,
                         inputPosition: inout Int) throws -> Int {
            var outBuf = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
            while outBuf.pos < outBuf.size {
                var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: inputPosition)
                let before = (inBuf.pos, outBuf.pos)
                let r = try check(ZSTD_decompressStream(dctx, &outBuf, &inBuf), "zstd")
                inputPosition = inBuf.pos
                if (inBuf.pos, outBuf.pos) == before { break }  // no progress: input used up
                atFrameEnd = r == 0
            }
            return outBuf.pos
        }

        /// Feeds `input`, calling `sink` with each piece of output.
        public func decompress(_ input: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
            var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
            let cap = scratch.count
            while true {
                let consumedBefore = inBuf.pos
                let (ret, produced) = try scratch.withUnsafeMutableBytes { o -> (Int, Int) in
                    var outBuf = ZSTD_outBuffer(dst: o.baseAddress, size: cap, pos: 0)
                    let r = try check(ZSTD_decompressStream(dctx, &outBuf, &inBuf), "zstd")
                    return (r, outBuf.pos)
                }
                // A call that makes no progress says nothing about the frame's end.
                if produced == 0 && inBuf.pos == consumedBefore { break }
                atFrameEnd = ret == 0
                if produced > 0 { try scratch.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
                if inBuf.pos == inBuf.size && produced < cap { break }
            }
        }
    }

    /// Compresses `src` as one frame that records its content size.
    public static func compress(_ src: UnsafeRawBufferPointer, level: Int32 = 3) -> [UInt8] {
        let bound = ZSTD_compressBound(src.count)
        var out = [UInt8](repeating: 0, count: bound)
        let n = out.withUnsafeMutableBytes { o in ZSTD_compress(o.baseAddress, bound, src.baseAddress, src.count, level) }
        precondition(ZSTD_isError(n) == 0, "ZSTD_compress cannot fail with a bound-sized output")
        out.removeLast(bound - n)
        return out
    }

    /// A compression context kept for reuse (creating one per block costs as much as a
    /// small block's compression). Not thread-safe: take one from a `BlockCompressors`.
    public final class BlockCompressor {
        private let cctx: OpaquePointer
        /// Where frames are compressed before they are copied out at their exact size.
        private var scratch = UnsafeMutableRawBufferPointer(start: nil, count: 0)

        public init(level: Int32) {
            cctx = ZSTD_createCCtx()
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        }
        deinit {
            ZSTD_freeCCtx(cctx)
            scratch.deallocate()
        }

        /// Compresses each group of parts as a frame of its own (frames follow one another;
        /// `ZSTD_decompress` reads them back as one stream). Columns of different kinds
        /// compress better apart: zstd's entropy tables then fit each.
        public func compress(frames groups: [[UnsafeRawBufferPointer]]) -> [UInt8] {
            let bound = groups.reduce(0) { $0 + ZSTD_compressBound($1.reduce(0) { $0 + $1.count }) }
            if scratch.count < bound {
                scratch.deallocate()
                scratch = .allocate(byteCount: bound, alignment: 16)
            }
            var at = 0
            for g in groups { at += compress(g, into: UnsafeMutableRawBufferPointer(rebasing: scratch[at...])) }
            defer {
                // A huge session's block: do not keep its room for the rest of the run.
                if scratch.count > 8 << 20 { scratch.deallocate(); scratch = UnsafeMutableRawBufferPointer(start: nil, count: 0) }
            }
            return Array(UnsafeRawBufferPointer(rebasing: scratch[0..<at]))
        }

        /// Compresses the concatenation of `parts` as one frame that records its size,
        /// without concatenating them first.
        public func compress(_ parts: [UnsafeRawBufferPointer]) -> [UInt8] { compress(frames: [parts]) }

        /// Writes one frame of `parts` to `out` (at least their bound long); returns its size.
        private func compress(_ parts: [UnsafeRawBufferPointer], into out: UnsafeMutableRawBufferPointer) -> Int {
            let total = parts.reduce(0) { $0 + $1.count }
            ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only)
            if parts.count == 1 {
                // One part: the one-shot call, which does not copy its input into a window.
                let r = ZSTD_compress2(cctx, out.baseAddress, out.count, parts[0].baseAddress, parts[0].count)
                precondition(ZSTD_isError(r) == 0, "zstd compression cannot fail with a bound-sized output")
                return r
            }
            ZSTD_CCtx_setPledgedSrcSize(cctx, UInt64(total))
            var outBuf = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
            for (k, part) in parts.enumerated() {
                var inBuf = ZSTD_inBuffer(src: part.baseAddress, size: part.count, pos: 0)
                let mode = k == parts.count - 1 ? ZSTD_e_end : ZSTD_e_continue
                while true {
                    let r = ZSTD_compressStream2(cctx, &outBuf, &inBuf, mode)
                    precondition(ZSTD_isError(r) == 0, "zstd compression cannot fail with a bound-sized output")
                    if mode == ZSTD_e_end ? r == 0 : inBuf.pos == inBuf.size { break }
                }
            }
            if parts.isEmpty {
                var inBuf = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
                while ZSTD_compressStream2(cctx, &outBuf, &inBuf, ZSTD_e_end) > 0 {}
            }
            return outBuf.pos
        }
    }

    /// A pool of block compressors shared by worker threads.
    public final class BlockCompressors: @unchecked Sendable {
        private let level: Int32
        private var free: [BlockCompressor] = []
        private let lock = NSLockLite()
        public init(level: Int32) { self.level = level }

        public func with<T>(_ body: (BlockCompressor) -> T) -> T {
            lock.lock()
            let c = free.popLast() ?? BlockCompressor(level: level)
            lock.unlock()
            defer { lock.lock(); free.append(c); lock.unlock() }
            return body(c)
        }
    }

    public static func decompress(_ src: UnsafeRawBufferPointer, expectedSize: Int) throws -> [UInt8] {
        try DecompressionContexts.shared.with { dctx in
            try [UInt8](unsafeUninitializedCapacity: expectedSize) { out, initialized in
                initialized = 0
                let n = try check(ZSTD_decompressDCtx(dctx, out.baseAddress, expectedSize, src.baseAddress, src.count),
                                  "zstd block")
                guard n == expectedSize else { throw Failure(message: "zstd block: \(n) bytes, expected \(expectedSize)") }
                initialized = n
            }
        }
    }

    /// Decompression contexts kept for reuse by any thread: creating one costs about as
    /// much as decompressing a store block.
    final class DecompressionContexts: @unchecked Sendable {
        static let shared = DecompressionContexts()
        private let lock = NSLockLite()
        private var free: [OpaquePointer] = []

        func with<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
            guard let dctx = lock.with({ free.popLast() }) ?? ZSTD_createDCtx() else {
                throw Failure(message: "zstd: cannot create a decompression context")
            }
            defer { lock.with { free.append(dctx) } }
            return try body(dctx)
        }
    }

    /// Streaming compression; each `endFrame()` closes a frame (written without a
    /// content size, as a streaming writer like `zstd -` does).
    public final class StreamCompressor {
        private let cctx: OpaquePointer
        private var scratch = [UInt8](repeating: 0, count: 1 << 20)

        public init(level: Int32 = 3, workers: Int32 = 0) {
            cctx = ZSTD_createCCtx()
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
            if workers > 0 { ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, workers) }
        }
        deinit { ZSTD_freeCCtx(cctx) }

        public func write(_ input: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
            try run(input, ZSTD_e_continue, sink)
        }

        public func endFrame(sink: (UnsafeRawBufferPointer) throws -> Void) throws {
            try run(UnsafeRawBufferPointer(start: nil, count: 0), ZSTD_e_end, sink)
        }

        private func run(_ input: UnsafeRawBufferPointer, _ mode: ZSTD_EndDirective,
                         _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
            var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
            let cap = scratch.count
            while true {
                let (remaining, produced) = try scratch.withUnsafeMutableBytes { o -> (Int, Int) in
                    var outBuf = ZSTD_outBuffer(dst: o.baseAddress, size: cap, pos: 0)
                    let r = try check(ZSTD_compressStream2(cctx, &outBuf, &inBuf, mode), "zstd compress")
                    return (r, outBuf.pos)
                }
                if produced > 0 { try scratch.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
                if mode == ZSTD_e_continue ? inBuf.pos == inBuf.size : remaining == 0 { break }
            }
        }
    }
}
