#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// The list of live segments and the index's counters, in `DIR/MANIFEST`.
///
/// A text file that ends with its own CRC-32C; replaced atomically (written to a
/// temporary name, fsynced, renamed), so a reader sees the old or the new state,
/// and an interrupted run leaves the previous state in force.
public struct Manifest: Equatable, Sendable {
    public static let fileName = "MANIFEST"
    public static let version = 1

    public var generation: UInt64 = 0
    public var nextSession: UInt64 = 0
    public var nextSource: UInt32 = 0
    /// Segment file names, oldest first.
    public var segments: [String] = []
    /// Number the next message trail will get (from `SessionStitcher.trailBase`).
    public var nextTrail: UInt64 = SessionStitcher.trailBase
    /// Per server (`""`: the files of no named server): the carry file of the sessions
    /// still open when its last run ended, to be continued by its next, and the stamp
    /// of the last file indexed. Each server's channels continue only in its own runs.
    public var carries: [String: String] = [:]
    public var stamps: [String: FileNameStamp] = [:]

    /// The carry and the last stamp of the files of no named server.
    public var carry: String? {
        get { carries[""] }
        set { carries[""] = newValue }
    }
    public var lastStamp: FileNameStamp? {
        get { stamps[""] }
        set { stamps[""] = newValue }
    }

    /// Every carry file the manifest names.
    public var carryFiles: [String] { carries.keys.sorted().compactMap { carries[$0] } }

    public init() {}

    func encode() -> [UInt8] {
        var s = "maildex-manifest \(Manifest.version)\n"
        s += "generation \(generation)\n"
        s += "next-session \(nextSession)\n"
        s += "next-source \(nextSource)\n"
        if nextTrail != SessionStitcher.trailBase { s += "next-trail \(nextTrail)\n" }
        if let l = lastStamp { s += "last-stamp \(l.date) \(l.minuteOfDay)\n" }
        if let c = carry { s += "carry \(c)\n" }
        for name in stamps.keys.sorted() where !name.isEmpty {
            let l = stamps[name]!
            s += "server-last-stamp \(name) \(l.date) \(l.minuteOfDay)\n"
        }
        for name in carries.keys.sorted() where !name.isEmpty { s += "server-carry \(name) \(carries[name]!)\n" }
        for seg in segments { s += "segment \(seg)\n" }
        let crc = CRC32C.checksum(Array(s.utf8))
        s += "checksum \(String(crc, radix: 16))\n"
        return Array(s.utf8)
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> Manifest {
        // The last line is `checksum HEX`, over every byte before it.
        var end = bytes.count
        while end > 0 && bytes[end - 1] == 10 { end -= 1 }
        guard let lineStart = bytes[..<end].lastIndex(of: 10).map({ $0 + 1 }) else {
            throw IndexError.corrupt(path, "manifest has no checksum")
        }
        let last = String(decoding: bytes[lineStart..<end], as: UTF8.self)
        let body = Array(bytes[..<lineStart])
        guard last.hasPrefix("checksum "), UInt32(last.dropFirst(9), radix: 16) == CRC32C.checksum(body) else {
            throw IndexError.corrupt(path, "manifest checksum mismatch")
        }
        var m = Manifest()
        var sawHeader = false
        for line in String(decoding: body, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ").map(String.init)
            guard let key = parts.first else { continue }
            switch key {
            case "maildex-manifest":
                guard parts.count == 2, Int(parts[1]) == Manifest.version else {
                    throw MaildexError.unsupportedFormat(path, "manifest", found: parts.dropFirst().joined(separator: " "), reads: Manifest.version)
                }
                sawHeader = true
            case "generation": m.generation = UInt64(parts.last ?? "") ?? 0
            case "next-session": m.nextSession = UInt64(parts.last ?? "") ?? 0
            case "next-source": m.nextSource = UInt32(parts.last ?? "") ?? 0
            case "segment": if parts.count == 2 { m.segments.append(try ownFile(parts[1], "seg-", ".mdx", path)) }
            case "carry": if parts.count == 2 { m.carry = try ownFile(parts[1], "carry-", ".bin", path) }
            case "next-trail": m.nextTrail = max(UInt64(parts.last ?? "") ?? 0, SessionStitcher.trailBase)
            case "server-carry": if parts.count == 3 { m.carries[parts[1]] = try ownFile(parts[2], "carry-", ".bin", path) }
            case "server-last-stamp":
                if parts.count == 4, let d = CivilDate(iso: parts[2]), let mins = Int(parts[3]) {
                    m.stamps[parts[1]] = FileNameStamp(date: d, minuteOfDay: mins)
                }
            case "last-stamp":
                if parts.count == 3, let d = CivilDate(iso: parts[1]), let mins = Int(parts[2]) {
                    m.lastStamp = FileNameStamp(date: d, minuteOfDay: mins)
                }
            default: break  // later versions may add lines
            }
        }
        guard sawHeader else { throw IndexError.corrupt(path, "manifest has no header") }
        return m
    }

    /// `name` when it is a file name maildex writes (`seg-000012.mdx`, `carry-000012.bin`):
    /// a manifest names files of its own directory only, so that no reader opens, and no
    /// merge deletes, a path it was handed (`../../etc/passwd`).
    static func ownFile(_ name: String, _ prefix: String, _ suffix: String, _ path: String) throws -> String {
        let digits = name.utf8.dropFirst(prefix.utf8.count).dropLast(suffix.utf8.count)
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.utf8.count > prefix.utf8.count + suffix.utf8.count,
              digits.count <= 20, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw IndexError.corrupt(path, "manifest names \(name.utf8.count > 80 ? String(name.prefix(80)) + "..." : name) as a file of the index; its files are named \(prefix)NNNNNN\(suffix)")
        }
        return name
    }

    /// The manifest in `directory`; nil when the directory holds no index yet.
    public static func load(directory: String) throws -> Manifest? {
        let path = directory + "/" + fileName
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw MaildexError.io(path, errno: errno)
        }
        defer { close(fd) }
        var bytes = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw MaildexError.io(path, offset: UInt64(bytes.count), errno: errno) }
            if n == 0 { break }
            bytes += buf[0..<n]
        }
        return try decode(bytes, path: path)
    }

    public func store(directory: String) throws {
        let f = try AtomicFile(path: directory + "/" + Manifest.fileName)
        try f.write(encode())
        try f.commit()
    }
}

/// An exclusive lock on an index directory for the writers (`index`, `compact`).
final class IndexLock {
    private let fd: Int32
    init(directory: String) throws {
        let path = directory + "/LOCK"
        fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw MaildexError.io(path, errno: errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw MaildexError(.busy, "\(directory): another maildex run is writing this index", path: directory)
        }
    }
    deinit { flock(fd, LOCK_UN); close(fd) }
}
