/// One block of ClickHouse's Native format, built a row at a time and written column
/// by column: the number of columns and of rows (LEB128), then per column its name, its
/// type (both as LEB128 length and bytes) and its data. A plain Native stream (a file,
/// `clickhouse-client --query "INSERT ... FORMAT Native"`, HTTP) is such blocks one after
/// another, without the block info the TCP protocol adds.
///
/// Column data: fixed-width values little-endian, one after another; `String` as LEB128
/// length and bytes; `Nullable(T)` as a byte per row (1: NULL), then the values (a
/// default where NULL); `Array(T)` as the cumulative count of elements after each row
/// (UInt64), then every element's data; `IPv6` as 16 bytes in network order; `Date32` as
/// days since 1970 (Int32); `Bool` as one byte.
struct NativeBlock {
    /// How a column's values are laid out.
    enum Shape { case plain, nullable, array }

    struct Column {
        let name: String
        let type: String
        let shape: Shape
        /// The null map (`nullable`) or the offsets (`array`).
        var prefix: [UInt8] = []
        var data: [UInt8] = []
        /// Elements so far (`array`).
        var elements: UInt64 = 0
    }

    private(set) var columns: [Column]
    private(set) var rows = 0

    init(_ columns: [(name: String, type: String)]) {
        self.columns = columns.map { c in
            let shape: Shape = c.type.hasPrefix("Nullable(") ? .nullable : c.type.hasPrefix("Array(") ? .array : .plain
            return Column(name: c.name, type: c.type, shape: shape)
        }
    }

    /// Bytes of data buffered so far.
    var byteCount: Int { columns.reduce(0) { $0 + $1.prefix.count + $1.data.count } }

    mutating func endRow() { rows += 1 }

    mutating func reset() {
        for i in columns.indices {
            columns[i].prefix.removeAll(keepingCapacity: true)
            columns[i].data.removeAll(keepingCapacity: true)
            columns[i].elements = 0
        }
        rows = 0
    }

    /// The block as Native bytes.
    func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(byteCount + columns.count * 48 + 16)
        Self.varUInt(UInt64(columns.count), to: &out)
        Self.varUInt(UInt64(rows), to: &out)
        for c in columns {
            Self.string(Array(c.name.utf8), to: &out)
            Self.string(Array(c.type.utf8), to: &out)
            out += c.prefix
            out += c.data
        }
        return out
    }

    // MARK: Values, column by column (each call one row's value of column `c`).

    mutating func string(_ c: Int, _ v: some Collection<UInt8>) { Self.string(v, to: &columns[c].data) }

    mutating func string(_ c: Int, _ v: String) { string(c, Array(v.utf8)) }

    mutating func nullableString(_ c: Int, _ v: [UInt8]?) {
        columns[c].prefix.append(v == nil ? 1 : 0)
        Self.string(v ?? [], to: &columns[c].data)
    }

    mutating func uint8(_ c: Int, _ v: UInt8) { columns[c].data.append(v) }

    mutating func bool(_ c: Int, _ v: Bool) { columns[c].data.append(v ? 1 : 0) }

    mutating func uint32(_ c: Int, _ v: UInt32) { Self.little(UInt64(v), 4, to: &columns[c].data) }

    mutating func int32(_ c: Int, _ v: Int32) { Self.little(UInt64(UInt32(bitPattern: v)), 4, to: &columns[c].data) }

    mutating func uint64(_ c: Int, _ v: UInt64) { Self.little(v, 8, to: &columns[c].data) }

    mutating func nullableUInt16(_ c: Int, _ v: UInt16?) {
        columns[c].prefix.append(v == nil ? 1 : 0)
        Self.little(UInt64(v ?? 0), 2, to: &columns[c].data)
    }

    /// 16 bytes, network order (as `IPAddress.bytes`).
    mutating func ipv6(_ c: Int, high: UInt64, low: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { columns[c].data.append(UInt8(truncatingIfNeeded: high >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { columns[c].data.append(UInt8(truncatingIfNeeded: low >> UInt64(shift))) }
    }

    mutating func strings(_ c: Int, _ values: [[UInt8]]) {
        for v in values { Self.string(v, to: &columns[c].data) }
        endArray(c, values.count)
    }

    mutating func strings(_ c: Int, _ values: [String]) { strings(c, values.map { Array($0.utf8) }) }

    mutating func uint64s(_ c: Int, _ values: [UInt64]) {
        for v in values { Self.little(v, 8, to: &columns[c].data) }
        endArray(c, values.count)
    }

    /// Appends to an `Array(String)` column one element at a time; `endArray` ends the row.
    mutating func element(_ c: Int, _ v: some Collection<UInt8>) { Self.string(v, to: &columns[c].data) }

    mutating func endArray(_ c: Int, _ count: Int) {
        columns[c].elements += UInt64(count)
        Self.little(columns[c].elements, 8, to: &columns[c].prefix)
    }

    // MARK: Encoding

    static func varUInt(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }

    static func string(_ v: some Collection<UInt8>, to out: inout [UInt8]) {
        varUInt(UInt64(v.count), to: &out)
        out.append(contentsOf: v)
    }

    static func little(_ v: UInt64, _ width: Int, to out: inout [UInt8]) {
        for k in 0..<width { out.append(UInt8(truncatingIfNeeded: v >> UInt64(8 * k))) }
    }
}
