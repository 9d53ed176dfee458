import ArgumentParser
import MaildexCore
#if canImport(Glibc)
import Glibc
#endif

/// A developer's tool (hidden from --help): the speed of each stage of the hot path
/// on one plain log file, in one process, so their ratios can be compared.
struct DebugParse: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug-parse", abstract: "Time each stage of the hot path on one plain file.", shouldDisplay: false)

    @Argument(help: "A plain log file.")
    var path: String

    func run() throws {
        let f = try MappedFile(path: path)
        defer { withExtendedLifetime(f) {} }
        let b = f.bytes
        _ = CRC32C.checksum(b)
        var t = Stopwatch()
        var records = 0
        var pos = 0
        while pos < b.count {
            var e = pos
            if let nl = memchr(b.baseAddress! + pos, 10, b.count - pos) { e = b.baseAddress!.distance(to: UnsafeRawPointer(nl)) } else { e = b.count }
            if RecordParser.parse(b, pos, e) != nil { records += 1 }
            pos = e + 1
        }
        emit("records only, 1 thread: \(formatDouble(Double(b.count) / t.seconds / 1e6, digits: 0)) MB/s (\(records))")
        for threads in [1, 2] {
            t = Stopwatch()
            let s = Sessionizer(threads: threads)
            let w = Window(bytes: b, owner: f, source: 0, date: CivilDate(iso: "2026-01-01")!, streamOffset: 0, firstLineNumber: 1)
            var n = s.feed(w).count
            n += s.finish().count
            emit("sessionize, \(threads) threads: \(formatDouble(Double(b.count) / t.seconds / 1e6, digits: 0)) MB/s (\(n) sessions)")
        }
        t = Stopwatch()
        let h = SHA256Hasher(); h.update(b); _ = h.finish()
        emit("sha256: \(formatDouble(Double(b.count) / t.seconds / 1e6, digits: 0)) MB/s")
        t = Stopwatch()
        _ = CRC32C.checksum(b)
        emit("crc32c: \(formatDouble(Double(b.count) / t.seconds / 1e6, digits: 0)) MB/s")
        t = Stopwatch()
        var total = 0
        var at = 0
        while at < b.count { let n = min(96 << 10, b.count - at); total += Zstd.compress(UnsafeRawBufferPointer(rebasing: b[at..<(at+n)]), level: 3).count; at += n }
        emit("zstd -3 96K blocks: \(formatDouble(Double(b.count) / t.seconds / 1e6, digits: 0)) MB/s, ratio \(formatDouble(Double(total) / Double(b.count)))")
        t = Stopwatch()
        total = 0; at = 0
        while at < b.count { let n = min(96 << 10, b.count - at); total += Zstd.compress(UnsafeRawBufferPointer(rebasing: b[at..<(at+n)]), level: 1).count; at += n }
        emit("zstd -1 96K blocks: \(formatDouble(Double(b.count) / t.seconds / 1e6, digits: 0)) MB/s, ratio \(formatDouble(Double(total) / Double(b.count)))")
        try finishStandardOutput()
    }
}
