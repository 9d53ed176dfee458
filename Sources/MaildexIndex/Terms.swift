import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// The keys of the inverted index. A term is one kind byte followed by the
/// key's bytes; terms sort as bytes, so every range a query needs (a CIDR block,
/// a span of dates, one line id on every date) is one contiguous run of terms.
public enum TermKind: UInt8, CaseIterable, Sendable {
    /// Peer address: 16 bytes, IPv4 mapped into IPv6 (`::ffff:a.b.c.d`).
    case peer = 0x49          // "I"
    /// Reserved: address in any role. Format 1 wrote it; now `addr:` is answered with
    /// the union of the three roles below, which halves the address terms.
    case address = 0x41       // "A"
    case sender = 0x46        // "F"
    /// Accepted recipient.
    case recipient = 0x54     // "T"
    case rejected = 0x52      // "R"
    /// The domain of an address in any role.
    case domain = 0x44        // "D"
    /// HELO/EHLO name, lowercased.
    case helo = 0x48          // "H"
    /// Message id (`S.0000014724`, CommuniGate queue ids), lowercased.
    case message = 0x4D       // "M"
    /// Line id (u32 big-endian) then date (u32 big-endian, days since 1970 + 2^31).
    case line = 0x4C          // "L"
    /// Date of the session's first line (u32 big-endian, as for `line`).
    case date = 0x59          // "Y"
}

public enum Terms {
    @inline(__always) static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    public static func dateKey(_ d: CivilDate) -> [UInt8] { be32(UInt32(bitPattern: d.daysSinceEpoch) ^ 0x8000_0000) }

    public static func peer(_ a: IPAddress) -> [UInt8] { [TermKind.peer.rawValue] + a.bytes }
    public static func date(_ d: CivilDate) -> [UInt8] { [TermKind.date.rawValue] + dateKey(d) }
    public static func line(_ id: UInt32) -> [UInt8] { [TermKind.line.rawValue] + be32(id) }
    public static func line(_ id: UInt32, _ d: CivilDate) -> [UInt8] { line(id) + dateKey(d) }


    /// Keys longer than this are stored (and looked up) cut to this many bytes: a log
    /// line can hold a HELO name or an address of 100 KB, which must not become a term
    /// of 100 KB. Two such keys that agree on their first 256 bytes share a term; the
    /// query engine checks the sessions it finds by such a key against the whole key.
    public static let maxKeyBytes = 256

    /// The key of an address term: `domain@local` (split at the last `@`), so that
    /// the addresses of one domain sort together and the term dictionary's front
    /// coding stores each domain once per run, not once per address. An address
    /// without `@` is its own key. `address(fromKey:)` undoes it.
    public static func addressKey(_ a: some Collection<UInt8>) -> [UInt8] {
        let b = Array(a)
        guard let at = b.lastIndex(of: 64) else { return b }
        return Array(b[(at + 1)...]) + [64] + b[..<at]
    }

    /// The address an address term's key stands for.
    public static func address(fromKey k: some Collection<UInt8>) -> [UInt8] {
        let b = Array(k)
        guard let at = b.firstIndex(of: 64) else { return b }
        return Array(b[(at + 1)...]) + [64] + b[..<at]
    }

    /// The domain part of a normalised address (after the last `@`), or nil.
    public static func domain(of address: [UInt8]) -> ArraySlice<UInt8>? {
        guard let at = address.lastIndex(of: 64), at + 1 < address.count else { return nil }
        return address[(at + 1)...]
    }
}
