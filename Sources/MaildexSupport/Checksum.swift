import CCRC32C

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum on every
/// index file and section. The CPU's instruction where it has one (x86-64 SSE4.2, in
/// the `CCRC32C` C target), else slice-by-8 tables (about 1-2 GB/s per core).
public enum CRC32C {
    static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k][i] = (t[k - 1][i] >> 8) ^ t[0][Int(t[k - 1][i] & 0xFF)] }
        }
        return t
    }()

    /// The CPU computes CRC-32C itself (x86-64 with SSE4.2).
    static let hardware = maildex_crc32c_hardware() != 0

    /// Continues a CRC over `buffer`; start with `crc: 0`.
    public static func update(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        let n = buffer.count
        guard n > 0, let base = buffer.baseAddress else { return crc }
        if hardware { return ~maildex_crc32c_update_hw(~crc, base, n) }
        return software(crc, base, n)
    }

    /// The table-driven CRC (slicing by 8), for CPUs without the instruction.
    static func software(_ crc: UInt32, _ base: UnsafeRawPointer, _ n: Int) -> UInt32 {
        var c = ~crc
        var i = 0
        tables[0].withUnsafeBufferPointer { t0 in
        tables[1].withUnsafeBufferPointer { t1 in
        tables[2].withUnsafeBufferPointer { t2 in
        tables[3].withUnsafeBufferPointer { t3 in
        tables[4].withUnsafeBufferPointer { t4 in
        tables[5].withUnsafeBufferPointer { t5 in
        tables[6].withUnsafeBufferPointer { t6 in
        tables[7].withUnsafeBufferPointer { t7 in
            while i + 8 <= n {
                let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let lo = UInt32(truncatingIfNeeded: word) ^ c
                let hi = UInt32(truncatingIfNeeded: word >> 32)
                c = t7[Int(lo & 0xFF)] ^ t6[Int((lo >> 8) & 0xFF)] ^ t5[Int((lo >> 16) & 0xFF)] ^ t4[Int(lo >> 24)]
                    ^ t3[Int(hi & 0xFF)] ^ t2[Int((hi >> 8) & 0xFF)] ^ t1[Int((hi >> 16) & 0xFF)] ^ t0[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                c = t0[Int((c ^ UInt32(base.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }}}}}}}}
        return ~c
    }

    public static func checksum(_ buffer: UnsafeRawBufferPointer) -> UInt32 { update(0, buffer) }
    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { update(0, $0) } }
}
