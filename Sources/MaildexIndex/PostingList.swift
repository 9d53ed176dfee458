import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// Sorted session numbers, stored as LEB128 varints of their gaps (the first
/// number as is). Session numbers of one key cluster (a busy peer's sessions
/// come close together), so most gaps take one or two bytes.
public enum PostingList {
    /// Encodes `numbers`, which must be sorted ascending and free of duplicates.
    public static func encode(_ numbers: [UInt64], into w: inout ByteWriter) {
        var previous: UInt64 = 0
        for (i, n) in numbers.enumerated() {
            w.varint(i == 0 ? n : n - previous)
            previous = n
        }
    }

    public static func encode(_ numbers: [UInt64]) -> [UInt8] {
        var w = ByteWriter(capacity: numbers.count * 2)
        encode(numbers, into: &w)
        return w.bytes
    }

    /// Decodes `count` numbers; throws on malformed bytes.
    public static func decode(_ bytes: UnsafeRawBufferPointer, count: Int, into out: inout [UInt64]) throws {
        var r = ByteReader(bytes)
        var value: UInt64 = 0
        // Each number takes at least one byte: a larger count is corrupt (and must not
        // be trusted for an allocation).
        guard count <= bytes.count else { throw ByteReader.OutOfBounds() }
        out.reserveCapacity(out.count + count)
        for i in 0..<count {
            let d = try r.varint()
            value = i == 0 ? d : value &+ d
            out.append(value)
        }
    }

    /// Numbers in both sorted lists.
    public static func intersect(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        if a.count > b.count * 16 { return gallop(small: b, large: a) }
        if b.count > a.count * 16 { return gallop(small: a, large: b) }
        var out = [UInt64]()
        var i = 0, j = 0
        while i < a.count && j < b.count {
            if a[i] < b[j] { i += 1 } else if a[i] > b[j] { j += 1 } else { out.append(a[i]); i += 1; j += 1 }
        }
        return out
    }

    /// Intersection by binary search of each small-list number in the large list.
    static func gallop(small: [UInt64], large: [UInt64]) -> [UInt64] {
        var out = [UInt64]()
        var lo = 0
        for x in small {
            var hi = large.count
            while lo < hi { let mid = (lo + hi) / 2; if large[mid] < x { lo = mid + 1 } else { hi = mid } }
            if lo < large.count && large[lo] == x { out.append(x) }
        }
        return out
    }

    /// Numbers of sorted `a` that are not in sorted `b`.
    public static func subtract(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        if b.isEmpty || a.isEmpty { return a }
        var out = [UInt64]()
        out.reserveCapacity(a.count)
        var j = 0
        for x in a {
            while j < b.count, b[j] < x { j += 1 }
            if j < b.count, b[j] == x { continue }
            out.append(x)
        }
        return out
    }

    /// Numbers in any of the sorted lists, sorted, without duplicates.
    public static func union(_ lists: [[UInt64]]) -> [UInt64] {
        if lists.isEmpty { return [] }
        if lists.count == 1 { return lists[0] }
        var all = [UInt64]()
        all.reserveCapacity(lists.reduce(0) { $0 + $1.count })
        for l in lists { all += l }
        all.sort()
        return dedupeSorted(all)
    }

    public static func dedupeSorted(_ a: [UInt64]) -> [UInt64] {
        guard a.count > 1 else { return a }
        var out = [UInt64]()
        out.reserveCapacity(a.count)
        out.append(a[0])
        for x in a.dropFirst() where x != out[out.count - 1] { out.append(x) }
        return out
    }
}
