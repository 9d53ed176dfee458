import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// The sessions a run left open, for the next run to continue (FORMAT.md, "Carry file").
///
/// Layout: magic `MDXCARY1`, u32 version, u32 count; per session: u8 opened,
/// u8 pending kind (0 none, 1 MAIL, 2 RCPT, 3 STARTTLS, 4 other, 5 AUTH) and a blob (the
/// address for 1 and 2), a blob with the last record's time, a blob with the
/// session as a store block payload (SessionCodec); then the CRC-32C of all
/// bytes before it (u32).
public enum CarryFile {
    static let magic: [UInt8] = Array("MDXCARY1".utf8)
    static let version: UInt32 = 2

    public static func encode(_ sessions: [CarriedSession]) -> [UInt8] {
        var w = ByteWriter()
        w.raw(magic); w.u32(version); w.u32(UInt32(sessions.count))
        for c in sessions {
            w.u8(c.opened ? 1 : 0)
            switch c.pending {
            case nil: w.u8(0); w.blob([])
            case .mail(let a)?: w.u8(1); w.blob(a)
            case .rcpt(let a)?: w.u8(2); w.blob(a)
            case .startTLS?: w.u8(3); w.blob([])
            case .other?: w.u8(4); w.blob([])
            case .auth(let a)?: w.u8(5); w.blob(a)
            }
            w.blob(c.lastTime)
            w.blob(SessionCodec.encodeBlock([c.session][...]).bytes)
        }
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    /// The sessions of a carry file's bytes, or an error naming `path` (corrupt, or of
    /// another format).
    public static func decode(_ bytes: [UInt8], path: String) throws -> [CarriedSession] {
        guard bytes.count >= 20, Array(bytes[0..<8]) == magic else { throw IndexError.corrupt(path, "not a carry file") }
        let body = Array(bytes[0..<(bytes.count - 4)])
        let crc = bytes[(bytes.count - 4)...].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard CRC32C.checksum(body) == crc else { throw IndexError.corrupt(path, "carry file checksum mismatch") }
        return try body.withUnsafeBytes { p in
            var r = ByteReader(p, at: 8)
            do {
                guard try r.u32() == version else { throw MaildexError(.unsupportedFormat, "\(path): carry file format is not \(version); rebuild the index with maildex index", path: path) }
                let n = try r.u32()
                var out = [CarriedSession]()
                for _ in 0..<n {
                    let opened = try r.u8() != 0
                    let kind = try r.u8()
                    let arg = try r.blob()
                    let pending: PendingCommand? = [nil, .mail(arg), .rcpt(arg), .startTLS, .other, .auth(arg)][Int(min(kind, 5))]
                    let lastTime = try r.blob()
                    let block = try r.blob()
                    let session = try block.withUnsafeBytes { b -> Session in
                        guard let s = try SessionCodec.decodeAll(block: b, count: 1).first else { throw SessionCodec.Corrupt() }
                        return s
                    }
                    out.append(CarriedSession(session: session, opened: opened, pending: pending, lastTime: lastTime))
                }
                return out
            } catch is ByteReader.OutOfBounds {
                throw IndexError.corrupt(path, "carry file is malformed")
            } catch is SessionCodec.Corrupt {
                throw IndexError.corrupt(path, "carry file is malformed")
            }
        }
    }

    static func load(_ path: String) throws -> [CarriedSession] {
        try decode(MappedFile(path: path).withBytes { Array($0) }, path: path)
    }

    static func store(_ sessions: [CarriedSession], _ path: String) throws {
        let f = try AtomicFile(path: path)
        try f.write(encode(sessions))
        try f.commit()
    }
}
