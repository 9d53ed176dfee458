import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// Appends little-endian integers, LEB128 varints and length-prefixed bytes.
public struct ByteWriter {
    public var bytes: [UInt8] = []
    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    @inline(__always) public mutating func u8(_ v: UInt8) { bytes.append(v) }
    @inline(__always) public mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    @inline(__always) public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    @inline(__always) public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    @inline(__always) public mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    @inline(__always) public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }

    /// LEB128: 7 bits a byte, low bits first, high bit set on all but the last byte.
    @inline(__always) public mutating func varint(_ value: UInt64) { appendVarint(value, to: &bytes) }

    /// Signed values as zigzag varints (0, -1, 1, -2, ... become 0, 1, 2, 3, ...).
    @inline(__always) public mutating func zigzag(_ v: Int64) { varint(ZigZag.encode(v)) }

    public mutating func blob(_ b: some Collection<UInt8>) { varint(UInt64(b.count)); bytes += b }
    public mutating func raw(_ b: some Sequence<UInt8>) { bytes += b }
}

/// Reads what `ByteWriter` wrote, with bounds checks: bad bytes give an error, never a crash.
public struct ByteReader {
    public let buffer: UnsafeRawBufferPointer
    public var position: Int

    public init(_ buffer: UnsafeRawBufferPointer, at position: Int = 0) { self.buffer = buffer; self.position = position }

    public struct OutOfBounds: Error {}

    @inline(__always) mutating func need(_ n: Int) throws {
        if n < 0 || position + n > buffer.count { throw OutOfBounds() }
    }

    public var atEnd: Bool { position >= buffer.count }

    @inline(__always) public mutating func u8() throws -> UInt8 {
        try need(1); defer { position += 1 }; return buffer[position]
    }
    @inline(__always) public mutating func u16() throws -> UInt16 {
        try need(2); defer { position += 2 }
        return UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: position, as: UInt16.self))
    }
    @inline(__always) public mutating func u32() throws -> UInt32 {
        try need(4); defer { position += 4 }
        return UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }
    @inline(__always) public mutating func u64() throws -> UInt64 {
        try need(8); defer { position += 8 }
        return UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }
    @inline(__always) public mutating func i32() throws -> Int32 { Int32(bitPattern: try u32()) }
    @inline(__always) public mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }

    @inline(__always) public mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            try need(1)
            let b = buffer[position]
            position += 1
            if shift == 63 && b > 1 { throw OutOfBounds() }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { throw OutOfBounds() }
        }
    }

    @inline(__always) public mutating func zigzag() throws -> Int64 {
        ZigZag.decode(try varint())
    }

    public mutating func bytes(_ n: Int) throws -> [UInt8] {
        try need(n); defer { position += n }
        return Array(buffer[position..<(position + n)])
    }

    public mutating func blob() throws -> [UInt8] {
        let n = try varint()
        guard n <= UInt64(buffer.count) else { throw OutOfBounds() }
        return try bytes(Int(n))
    }
}

/// Signed values as unsigned ones, small magnitudes small: 0, -1, 1, -2, ... become
/// 0, 1, 2, 3, ... (for varints).
enum ZigZag {
    @inline(__always) static func encode(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    @inline(__always) static func decode(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }
}

/// Appends `value` as a LEB128 varint (as `ByteWriter.varint`).
@inline(__always) func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
    var v = value
    while v >= 0x80 { out.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
    out.append(UInt8(v))
}

/// A growable byte buffer for the store encoder's hot path, where an append to an
/// `Array` (a uniqueness check, a capacity check and a generic copy, about a hundred
/// instructions) cost more than the bytes it copied: here an append is a capacity
/// check and a `memcpy`. Noncopyable: it owns its memory.
struct ByteAppender: ~Copyable {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    @inline(__always) mutating func append(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n > 0 else { return }
        if n > capacity - count { grow(n) }
        (base + count).copyMemory(from: bytes.baseAddress!, byteCount: n)
        count += n
    }

    @inline(__always) mutating func append(_ byte: UInt8) {
        if count == capacity { grow(1) }
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// LEB128, as `ByteWriter.varint`.
    @inline(__always) mutating func varint(_ value: UInt64) {
        if capacity - count < 10 { grow(10) }
        var v = value
        while v >= 0x80 {
            base.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: count, as: UInt8.self)
            count += 1
            v >>= 7
        }
        base.storeBytes(of: UInt8(v), toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always) mutating func zigzag(_ v: Int64) { varint(ZigZag.encode(v)) }

    private mutating func grow(_ needed: Int) {
        let newCapacity = max(capacity * 2, count + needed)
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    /// The bytes written, valid during `body` (the buffer is not handed out beyond it:
    /// a noncopyable value may be destroyed right after its last use).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }
}
