/// A peer address, IPv4 or IPv6, held as 128 bits. IPv4 is stored IPv4-mapped
/// (`::ffff:a.b.c.d`) so that every address and every CIDR range, of either
/// family, is one contiguous range of 16-byte big-endian keys.
public struct IPAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }

    public init(v4: UInt32) { high = 0; low = 0x0000_FFFF_0000_0000 | UInt64(v4) }

    public var isV4: Bool { high == 0 && (low >> 32) == 0xFFFF }

    /// The 16 bytes, network order.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { out[i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i))) }
        for i in 0..<8 { out[8 + i] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(i))) }
        return out
    }

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            if i < 8 { h = h << 8 | UInt64(b) } else { l = l << 8 | UInt64(b) }
        }
        high = h; low = l
    }

    public init?(_ text: String) {
        let b = Array(text.utf8)
        guard let a = b.withUnsafeBytes({ IPAddress.parse($0, 0, $0.count) }) else { return nil }
        self = a
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool { (a.high, a.low) < (b.high, b.low) }

    /// Parses an IPv4 dotted quad or an IPv6 address (with `::`, and an embedded
    /// dotted quad at the end) from `buf[start..<end]`. Nothing else may be in the range.
    public static func parse(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> IPAddress? {
        guard end > start, end - start <= 45 else { return nil }
        var hasColon = false
        for i in start..<end where buf[i] == UInt8(ascii: ":") { hasColon = true; break }
        if !hasColon { return parseV4(buf, start, end).map { IPAddress(v4: $0) } }
        return parseV6(buf, start, end)
    }

    static func parseV4(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UInt32? {
        var value: UInt32 = 0, part: UInt32 = 0, digits = 0, parts = 0
        var i = start
        while i <= end {
            let c: UInt8 = i < end ? buf[i] : UInt8(ascii: ".")
            if c >= 48 && c <= 57 {
                part = part * 10 + UInt32(c - 48); digits += 1
                if digits > 3 || part > 255 { return nil }
            } else if c == UInt8(ascii: ".") {
                if digits == 0 { return nil }
                value = value << 8 | part; parts += 1; part = 0; digits = 0
                if parts > 4 { return nil }
            } else { return nil }
            i += 1
        }
        return parts == 4 ? value : nil
    }

    static func parseV6(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> IPAddress? {
        var groups = [UInt16](); groups.reserveCapacity(8)
        var gapAt = -1
        var i = start
        if end - start >= 2, buf[start] == UInt8(ascii: ":"), buf[start + 1] == UInt8(ascii: ":") {
            gapAt = 0; i = start + 2
            if i == end { return IPAddress(high: 0, low: 0) }
        }
        while i < end {
            // A dotted quad may end the address.
            var j = i, sawDot = false
            while j < end && buf[j] != UInt8(ascii: ":") { if buf[j] == UInt8(ascii: ".") { sawDot = true }; j += 1 }
            if sawDot {
                guard j == end, let v4 = parseV4(buf, i, j) else { return nil }
                groups.append(UInt16(v4 >> 16)); groups.append(UInt16(v4 & 0xFFFF))
                i = end; break
            }
            guard j > i, j - i <= 4 else { return nil }
            var g: UInt16 = 0
            for k in i..<j {
                let c = buf[k]
                let v: UInt8
                switch c {
                case 48...57: v = c - 48
                case 97...102: v = c - 87
                case 65...70: v = c - 55
                default: return nil
                }
                g = g << 4 | UInt16(v)
            }
            groups.append(g)
            if groups.count > 8 { return nil }
            i = j
            if i < end {
                i += 1  // the ':'
                if i < end && buf[i] == UInt8(ascii: ":") {
                    if gapAt >= 0 { return nil }
                    gapAt = groups.count; i += 1
                } else if i == end { return nil }
            }
        }
        if gapAt >= 0 {
            guard groups.count < 8 else { return nil }
            groups.insert(contentsOf: [UInt16](repeating: 0, count: 8 - groups.count), at: gapAt)
        }
        guard groups.count == 8 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        for k in 0..<4 { h = h << 16 | UInt64(groups[k]) }
        for k in 4..<8 { l = l << 16 | UInt64(groups[k]) }
        return IPAddress(high: h, low: l)
    }

    public var description: String {
        if isV4 {
            let v = UInt32(truncatingIfNeeded: low)
            return "\(v >> 24).\((v >> 16) & 255).\((v >> 8) & 255).\(v & 255)"
        }
        var groups = [UInt16]()
        for k in 0..<4 { groups.append(UInt16(truncatingIfNeeded: high >> (48 - 16 * UInt64(k)))) }
        for k in 0..<4 { groups.append(UInt16(truncatingIfNeeded: low >> (48 - 16 * UInt64(k)))) }
        // RFC 5952: the longest run (of two or more) of zero groups becomes "::".
        var bestStart = -1, bestLen = 1, runStart = -1
        for k in 0...8 {
            if k < 8 && groups[k] == 0 { if runStart < 0 { runStart = k } } else if runStart >= 0 {
                if k - runStart > bestLen { bestStart = runStart; bestLen = k - runStart }
                runStart = -1
            }
        }
        func hex(_ g: UInt16) -> String { String(g, radix: 16) }
        if bestStart < 0 { return groups.map(hex).joined(separator: ":") }
        let left = groups[0..<bestStart].map(hex).joined(separator: ":")
        let right = groups[(bestStart + bestLen)...].map(hex).joined(separator: ":")
        return left + "::" + right
    }
}

/// An address range written `ADDRESS/BITS` (or a single address), for `ip:` terms.
public struct CIDRRange: Sendable, Equatable {
    public var lower: IPAddress
    public var upper: IPAddress

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        var bits = address.isV4 ? 32 : 128
        if parts.count == 2 {
            guard let b = Int(parts[1]), b >= 0, b <= bits else { return nil }
            bits = b
        }
        // Prefix length over the 128-bit form.
        let total = address.isV4 ? bits + 96 : bits
        func mask(_ n: Int) -> UInt64 { n <= 0 ? 0 : (n >= 64 ? ~0 : ~(~UInt64(0) >> UInt64(n))) }
        let mh = mask(total), ml = mask(total - 64)
        lower = IPAddress(high: address.high & mh, low: address.low & ml)
        upper = IPAddress(high: address.high | ~mh, low: address.low | ~ml)
    }

    public func contains(_ a: IPAddress) -> Bool { a >= lower && a <= upper }
}
