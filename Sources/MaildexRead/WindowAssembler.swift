#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import MaildexSupport
import MaildexParse

/// The `WindowAssembler`: cuts the pieces of a stream into windows that end at record boundaries.
extension SourceReader {
    /// Feeds pieces of a stream to `body` as windows that end at record boundaries,
    /// carrying each piece's unfinished last record over to the next window.
    final class WindowAssembler {
        let source: UInt32
        package let date: CivilDate
        let body: (Window) throws -> UInt64
        var carry: [UInt8] = []
        var offset: UInt64 = 0
        var line: UInt64 = 1
        let maxWindow: Int

        package init(source: UInt32, date: CivilDate, maxWindow: Int = SourceReader.maxWindow, body: @escaping (Window) throws -> UInt64) {
            self.source = source; self.date = date; self.body = body
            self.maxWindow = min(maxWindow, SourceReader.maxWindow)
        }

        /// Adds the next pieces of the stream, in order.
        func add(_ pieces: [UnsafeRawBufferPointer]) throws {
            _ = try add(count: pieces.reduce(0) { $0 + $1.count }) { out in
                var at = 0
                for p in pieces where p.count > 0 {
                    (out.baseAddress! + at).copyMemory(from: p.baseAddress!, byteCount: p.count)
                    at += p.count
                }
                return at
            }
        }

        /// Adds up to `count` next bytes of the stream, which `fill` writes straight into
        /// the memory they will be parsed from and returns how many it wrote (fewer when
        /// the stream is damaged part-way). Returns that number.
        func add(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Int {
            // `fill` runs even for no bytes: it is what checks frames that declare none.
            let buffer = OwnedBytes(count: carry.count + count)
            carry.withUnsafeBytes { c in
                if c.count > 0 { buffer.pointer.copyMemory(from: c.baseAddress!, byteCount: c.count) }
            }
            let filled = try fill(UnsafeMutableRawBufferPointer(start: buffer.pointer + carry.count, count: count))
            precondition(filled >= 0 && filled <= count, "filled \(filled) of \(count) bytes")
            let total = carry.count + filled
            guard total > 0 else { return filled }
            try cut(UnsafeRawBufferPointer(start: buffer.pointer, count: total), owner: buffer)
            return filled
        }

        /// Adds the next `count` bytes of the stream, which `buffer` holds from `start` on.
        /// The carried bytes are copied into the room before `start` when they fit, so the
        /// piece is parsed where it was decompressed; else the two are joined in a copy.
        func add(_ buffer: OwnedBytes, start: Int, count: Int) throws {
            guard carry.count <= start else {
                try add([UnsafeRawBufferPointer(start: buffer.pointer + start, count: count)])
                return
            }
            let from = start - carry.count
            carry.withUnsafeBytes { c in
                if c.count > 0 { (buffer.pointer + from).copyMemory(from: c.baseAddress!, byteCount: c.count) }
            }
            guard carry.count + count > 0 else { return }
            try cut(UnsafeRawBufferPointer(start: buffer.pointer + from, count: carry.count + count), owner: buffer)
        }

        /// Emits `all` (the carried bytes, then new ones, in `owner`'s memory) as windows
        /// ending at record boundaries, and keeps its unfinished last record as the carry.
        private func cut(_ all: UnsafeRawBufferPointer, owner buffer: OwnedBytes) throws {
            // Windows of at most `maxWindow` bytes (offsets inside a window are 32-bit).
            var from = 0
            while all.count - from > maxWindow {
                let limit = from + maxWindow
                let slice = UnsafeRawBufferPointer(rebasing: all[from..<limit])
                var cut = from + (RecordBoundaries.lastRecordStart(slice) ?? 0)
                if cut == from { cut = SourceReader.lineEnd(all, before: limit, after: from) }
                try emit(UnsafeRawBufferPointer(rebasing: all[from..<cut]), owner: buffer)
                from = cut
            }
            let rest = UnsafeRawBufferPointer(rebasing: all[from...])
            var cut = from + (RecordBoundaries.lastRecordStart(rest) ?? 0)
            if all.count - cut > maxWindow / 2 {
                // Endless continuation lines: cut at a line end rather than grow without bound.
                cut = SourceReader.lineEnd(all, before: all.count, after: from)
            }
            carry = Array(all[cut...])
            if cut > from { try emit(UnsafeRawBufferPointer(rebasing: all[from..<cut]), owner: buffer) }
        }

        /// The stream has ended: the carried bytes are the last window.
        func finish() throws {
            guard !carry.isEmpty else { return }
            let buffer = OwnedBytes(count: carry.count)
            carry.withUnsafeBytes { buffer.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            carry = []
            try emit(buffer.buffer, owner: buffer)
        }

        /// The last window ended inside a line (cut at `maxWindow`).
        private var continues = false

        private func emit(_ bytes: UnsafeRawBufferPointer, owner: OwnedBytes) throws {
            let window = Window(bytes: bytes, owner: owner, source: source, date: date,
                                streamOffset: offset, firstLineNumber: line, continuesLine: continues)
            line += try body(window)
            offset += UInt64(bytes.count)
            // Windows end at a record or a line end, except when cut inside a line (the
            // stream's last window may also end without one; nothing follows it).
            let inside = bytes.count > 0 && bytes[bytes.count - 1] != 10
            line = SourceReader.nextLineNumber(line, continued: continues, endsInsideALine: inside)
            continues = inside
        }
    }
}
