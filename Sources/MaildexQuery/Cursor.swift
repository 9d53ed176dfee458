import MaildexSupport

/// The order of an answer: by session number, which is the order of the sessions'
/// first lines as they were indexed.
public enum Order: String, Sendable, CaseIterable {
    case oldest, newest
}

/// Where the next page of an answer starts: after the last session of the page before,
/// in the answer's order. A session's number never changes, and sessions indexed later
/// are numbered higher, so a cursor stays valid while new segments are added, merged or
/// compacted: the next page is what then follows the last session returned.
///
/// Its text form (`description`) is opaque: 28 hex digits of a version, the order, the
/// session number and a CRC-32C of the rest, so a mistyped or altered cursor is refused.
public struct Cursor: Sendable, Hashable, CustomStringConvertible {
    public let order: Order
    /// The last session number returned.
    public let after: UInt64

    public init(order: Order, after: UInt64) { self.order = order; self.after = after }

    static let version: UInt8 = 1

    public var description: String {
        var bytes: [UInt8] = [Cursor.version, order == .oldest ? 0 : 1]
        for i in (0..<8).reversed() { bytes.append(UInt8((after >> (UInt64(i) * 8)) & 0xFF)) }
        let crc = bytes.withUnsafeBytes { CRC32C.checksum($0) }
        for i in (0..<4).reversed() { bytes.append(UInt8((crc >> (UInt32(i) * 8)) & 0xFF)) }
        return SHA256Hasher.hex(bytes)
    }

    /// Reads a cursor's text form; a `.syntax` error if it is not one.
    public init(_ text: String) throws {
        func bad() -> MaildexError {
            MaildexError(.syntax, "`\(text.prefix(64))`: not a cursor of this index (pass the `next` value of the page before, unchanged)")
        }
        let u = Array(text.utf8)
        guard u.count == 28 else { throw bad() }
        var bytes = [UInt8]()
        for i in stride(from: 0, to: 28, by: 2) {
            guard let h = SHA256Hasher.hexValue(u[i]), let l = SHA256Hasher.hexValue(u[i + 1]) else { throw bad() }
            bytes.append(h << 4 | l)
        }
        let crc = bytes[10..<14].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard bytes[0] == Cursor.version, bytes[1] <= 1,
              bytes[0..<10].withUnsafeBytes({ CRC32C.checksum($0) }) == crc else { throw bad() }
        order = bytes[1] == 0 ? .oldest : .newest
        after = bytes[2..<10].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
}
