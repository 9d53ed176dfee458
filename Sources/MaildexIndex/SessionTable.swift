#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// One session's row in a segment's session table (32 bytes on disk).
public struct SessionEntry: Sendable, Equatable {
    public var number: UInt64
    public var block: UInt32
    public var offsetInBlock: UInt32
    public var date: CivilDate
    /// Seconds since midnight of the first line's time (local, as written).
    public var startSecond: Int32
    public var lineID: UInt32
    /// Bit 0: complete. Bits 8-15: channel kind. Bits 16-23: messages (at most 255).
    /// Bits 24-31: rejected recipients (at most 255).
    public var flags: UInt32

    public var complete: Bool { flags & 1 != 0 }
    public var messageCount: Int { Int((flags >> 16) & 0xFF) }
    public var rejectedCount: Int { Int(flags >> 24) }
}

extension SegmentWriter {
    /// The session table's rows in session-number order (rows of one number in the order
    /// they came). Radix-sorts (number less the lowest, row) keys: the rows come nearly
    /// in order, and a comparison sort of 580K rows took 0.1 s.
    func sessionOrder() -> [Int] {
        guard let first = entries.first else { return [] }
        var lowest = first.number, highest = first.number
        for e in entries { lowest = min(lowest, e.number); highest = max(highest, e.number) }
        let rowBits = Self.bitLength(UInt64(entries.count))
        let spanBits = Self.bitLength(highest - lowest)
        guard rowBits + spanBits <= 64 else {
            return entries.indices.sorted { (entries[$0].number, $0) < (entries[$1].number, $1) }
        }
        var keys = [UInt64](unsafeUninitializedCapacity: entries.count) { keys, initialized in
            for (i, e) in entries.enumerated() { keys[i] = (e.number - lowest) << UInt64(rowBits) | UInt64(i) }
            initialized = entries.count
        }
        radixSort(&keys, threads: encoder.threads)
        let rowMask: UInt64 = ~0 >> UInt64(64 - rowBits)
        return keys.map { Int($0 & rowMask) }
    }
}

extension SegmentWriter {
    /// The session table: one fixed-size row per session, in session-number order.
    func writeSessionTable(_ out: inout SegmentSections) throws {
        try out.write(.sessionTable) { p in
            // Stored field by field into one buffer: 580K rows appended to a ByteWriter
            // field by field took 0.1 s.
            let order = sessionOrder()
            let size = SegmentFormat.sessionEntrySize
            let table = [UInt8](unsafeUninitializedCapacity: order.count * size) { b, initialized in
                let raw = UnsafeMutableRawBufferPointer(b)
                for (row, i) in order.enumerated() {
                    let e = entries[i], at = row * size
                    raw.storeBytes(of: e.number.littleEndian, toByteOffset: at, as: UInt64.self)
                    raw.storeBytes(of: e.block.littleEndian, toByteOffset: at + 8, as: UInt32.self)
                    raw.storeBytes(of: e.offsetInBlock.littleEndian, toByteOffset: at + 12, as: UInt32.self)
                    raw.storeBytes(of: e.date.daysSinceEpoch.littleEndian, toByteOffset: at + 16, as: Int32.self)
                    raw.storeBytes(of: e.startSecond.littleEndian, toByteOffset: at + 20, as: Int32.self)
                    raw.storeBytes(of: e.lineID.littleEndian, toByteOffset: at + 24, as: UInt32.self)
                    raw.storeBytes(of: e.flags.littleEndian, toByteOffset: at + 28, as: UInt32.self)
                }
                initialized = order.count * size
            }
            try p.write(table, to: file)
        }
    }
}

/// Rows by position and by session number (a binary search; the table is sorted).
extension SegmentReader {
    public func entry(at i: Int) throws -> SessionEntry {
        var r = ByteReader(try bytes(.sessionTable, (i * SegmentFormat.sessionEntrySize)..<((i + 1) * SegmentFormat.sessionEntrySize)))
        return SessionEntry(number: try r.u64(), block: try r.u32(), offsetInBlock: try r.u32(),
                            date: CivilDate(daysSinceEpoch: try r.i32()), startSecond: try r.i32(), lineID: try r.u32(), flags: try r.u32())
    }

    func number(at i: Int) throws -> UInt64 {
        let b = try bytes(.sessionTable, (i * SegmentFormat.sessionEntrySize)..<(i * SegmentFormat.sessionEntrySize + 8))
        return UInt64(littleEndian: b.loadUnaligned(as: UInt64.self))
    }

    /// The first and last session numbers of the table (nil if it is empty or they cannot
    /// be read: lookups then search the whole table and report what they find).
    func readNumberRange() -> ClosedRange<UInt64>? {
        guard entryCount > 0, let lo = try? number(at: 0), let hi = try? number(at: entryCount - 1), lo <= hi else { return nil }
        return lo...hi
    }

    /// The first row whose number is `number` or more (`entryCount` if none).
    func firstRow(atLeast number: UInt64) throws -> Int {
        var lo = 0, hi = entryCount
        while lo < hi {
            let mid = (lo + hi) / 2
            if try self.number(at: mid) < number { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The table row of session `number`, if this segment has it.
    public func findEntry(_ number: UInt64) throws -> SessionEntry? {
        if let r = numberRange, !r.contains(number) { return nil }
        let lo = try firstRow(atLeast: number)
        guard lo < entryCount else { return nil }
        let e = try entry(at: lo)
        return e.number == number ? e : nil
    }
}
