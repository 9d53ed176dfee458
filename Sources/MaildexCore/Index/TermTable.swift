#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The terms of a batch of sessions, laid out flat (no array per term) so that
/// they can be built and hashed on worker threads.
struct TermBatch {
    var arena: [UInt8] = []
    var starts: [UInt32] = []
    var hashes: [UInt64] = []
    var sessions: [UInt64] = []

    mutating func reserve(terms: Int, bytes: Int) {
        arena.reserveCapacity(bytes); starts.reserveCapacity(terms + 1); hashes.reserveCapacity(terms); sessions.reserveCapacity(terms)
    }

    var count: Int { hashes.count }

    /// Appends one term: `kind` then `key` (cut to `Terms.maxKeyBytes`).
    @inline(__always) mutating func add(_ kind: TermKind, _ key: some Collection<UInt8>, session: UInt64) {
        begin(kind)
        arena.append(contentsOf: key.prefix(Terms.maxKeyBytes))
        end(session: session)
    }

    // A term is written straight into the arena: `begin`, its key's bytes, `end`.

    @inline(__always) private mutating func begin(_ kind: TermKind) {
        if starts.isEmpty { starts.append(0) }
        arena.append(kind.rawValue)
    }

    @inline(__always) private mutating func end(session: UInt64) {
        let start = Int(starts[starts.count - 1])
        starts.append(UInt32(arena.count))
        hashes.append(arena.withUnsafeBytes { TermTable.hash(UnsafeRawBufferPointer(rebasing: $0[start..<arena.count])) })
        sessions.append(session)
    }

    /// Bytes of the current term's key so far.
    @inline(__always) private var keyLength: Int { arena.count - Int(starts[starts.count - 1]) - 1 }

    @inline(__always) private mutating func appendBE32(_ v: UInt32) {
        arena.append(UInt8(v >> 24)); arena.append(UInt8((v >> 16) & 0xFF))
        arena.append(UInt8((v >> 8) & 0xFF)); arena.append(UInt8(v & 0xFF))
    }

    /// Appends `bytes`, lowercased (ASCII), up to the key limit.
    @inline(__always) private mutating func appendLowered(_ bytes: ArraySlice<UInt8>) {
        for c in bytes.prefix(Terms.maxKeyBytes - keyLength) { arena.append(Bytes.lower(c)) }
    }

    /// Appends `bytes` up to the key limit.
    @inline(__always) private mutating func appendCut(_ bytes: UnsafeBufferPointer<UInt8>) {
        arena.append(contentsOf: UnsafeBufferPointer(rebasing: bytes.prefix(max(0, Terms.maxKeyBytes - keyLength))))
    }

    /// Every term of a session (duplicates possible; the writer removes them). The
    /// bytes are those of `Terms` (`Terms.peer`, `Terms.addressKey`, ...), written
    /// without building each key as an array first.
    mutating func add(session s: SessionRecord) {
        let n = s.number
        let date = UInt32(bitPattern: s.date.daysSinceEpoch) ^ 0x8000_0000
        if let p = s.facts.peer {
            begin(.peer)
            for i in 0..<8 { arena.append(UInt8(truncatingIfNeeded: p.high >> (56 - 8 * UInt64(i)))) }
            for i in 0..<8 { arena.append(UInt8(truncatingIfNeeded: p.low >> (56 - 8 * UInt64(i)))) }
            end(session: n)
        }
        begin(.date); appendBE32(date); end(session: n)
        begin(.line); appendBE32(s.channel.id); appendBE32(date); end(session: n)
        if let h = s.facts.helo { begin(.helo); appendLowered(h[...]); end(session: n) }
        for m in s.facts.messages { begin(.message); appendLowered(m[...]); end(session: n) }
        func roles(_ role: TermKind, _ list: [[UInt8]]) {
            // By index and through the element's own buffer: binding each address to a
            // local would retain it, and its count lives on a line another core wrote.
            for i in list.indices {
                list[i].withUnsafeBufferPointer { a in
                    // `domain@local`, split at the last `@` (Terms.addressKey).
                    begin(role)
                    let at = a.lastIndex(of: 64)
                    if let at {
                        appendCut(UnsafeBufferPointer(rebasing: a[(at + 1)...]))
                        if keyLength < Terms.maxKeyBytes { arena.append(64) }
                        appendCut(UnsafeBufferPointer(rebasing: a[..<at]))
                    } else {
                        appendCut(a)
                    }
                    end(session: n)
                    if let at, at + 1 < a.count {
                        begin(.domain); appendCut(UnsafeBufferPointer(rebasing: a[(at + 1)...])); end(session: n)
                    }
                }
            }
        }
        roles(.sender, s.facts.from)
        roles(.recipient, s.facts.to)
        roles(.rejected, s.facts.rejected)
    }

    func term(_ i: Int) -> ArraySlice<UInt8> { arena[Int(starts[i])..<Int(starts[i + 1])] }
}

/// Distinct terms of a segment, numbered in order of first sight: an
/// open-addressing hash table over one byte arena.
final class TermTable {
    private(set) var arena: [UInt8] = []
    private(set) var starts: [UInt32] = [0]
    private var slots: [UInt32]       // term id + 1; 0 = empty
    private var slotHashes: [UInt64]
    private var mask: Int

    init() {
        slots = [UInt32](repeating: 0, count: 1 << 16)
        slotHashes = [UInt64](repeating: 0, count: 1 << 16)
        mask = (1 << 16) - 1
        arena.reserveCapacity(1 << 20)
    }

    var count: Int { starts.count - 1 }
    var arenaBytes: Int { arena.count }

    /// A 64-bit hash of a term's bytes (wyhash-style multiply-mix over 8-byte words).
    @inline(__always) static func hash(_ b: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(b.count)
        var i = 0
        while i + 8 <= b.count {
            let w = b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ w).multipliedFullWidth(by: 0xA076_1D64_78BD_642F).high &+ (h ^ w) &* 0xE703_7ED1_A0B4_28DB
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < b.count { tail |= UInt64(b[i]) << shift; shift += 8; i += 1 }
        h = (h ^ tail).multipliedFullWidth(by: 0xA076_1D64_78BD_642F).high &+ (h ^ tail) &* 0xE703_7ED1_A0B4_28DB
        return h ^ (h >> 29)
    }

    /// The id of the term `bytes` (hash `h`), adding it if new.
    @inline(__always) func insert(_ bytes: UnsafeRawBufferPointer, _ h: UInt64) -> UInt32 {
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = slots[i]
            if s == 0 {
                let id = UInt32(count)
                arena.append(contentsOf: bytes)
                starts.append(UInt32(arena.count))
                slots[i] = id + 1
                slotHashes[i] = h
                if count * 2 > mask { grow() }
                return id
            }
            if slotHashes[i] == h {
                let id = Int(s - 1)
                let start = Int(starts[id]), length = Int(starts[id + 1]) - start
                if length == bytes.count {
                    let same = arena.withUnsafeBytes { a in length == 0 || memcmp(a.baseAddress! + start, bytes.baseAddress!, length) == 0 }
                    if same { return UInt32(id) }
                }
            }
            i = (i + 1) & mask
        }
    }

    private func grow() {
        let oldSlots = slots, oldHashes = slotHashes
        mask = mask * 2 + 1
        slots = [UInt32](repeating: 0, count: mask + 1)
        slotHashes = [UInt64](repeating: 0, count: mask + 1)
        for k in oldSlots.indices where oldSlots[k] != 0 {
            var i = Int(truncatingIfNeeded: oldHashes[k]) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = oldSlots[k]
            slotHashes[i] = oldHashes[k]
        }
    }

    func term(_ id: Int) -> ArraySlice<UInt8> { arena[Int(starts[id])..<Int(starts[id + 1])] }

    /// Term ids in byte order of their terms. Sorts by the first 16 bytes (two
    /// big-endian words, zero-padded) and compares whole terms only where those tie.
    /// With 2 threads or more, the keys are split at a pivot first and the two parts
    /// sorted at once (terms that tie stay on one side).
    func sortedIDs(threads: Int = 1) -> [UInt32] {
        let n = count
        if n == 0 { return [] }
        var keys = [SortKey]()
        keys.reserveCapacity(n)
        arena.withUnsafeBytes { a in
            for id in 0..<n {
                let s = Int(starts[id]), e = Int(starts[id + 1])
                var high: UInt64 = 0, low: UInt64 = 0
                for k in 0..<16 {
                    let byte = s + k < e ? UInt64(a[s + k]) : 0
                    if k < 8 { high = high << 8 | byte } else { low = low << 8 | byte }
                }
                keys.append(SortKey(high: high, low: low, id: UInt32(id)))
            }
        }
        var ids = [UInt32](repeating: 0, count: n)
        arena.withUnsafeBytes { a in
            starts.withUnsafeBufferPointer { st in
                keys.withUnsafeMutableBufferPointer { k in
                    ids.withUnsafeMutableBufferPointer { out in
                        let view = UncheckedBox((k, out, a.baseAddress!, st))
                        func sortPart(_ r: Range<Int>) {
                            let (k, out, base, st) = view.value
                            Self.sort(UnsafeMutableBufferPointer(rebasing: k[r]), into: UnsafeMutableBufferPointer(rebasing: out[r]),
                                      arena: base, starts: st)
                        }
                        if threads >= 2, n >= 1 << 14, let cut = Self.partition(k) {
                            Parallel.forEach(2, threads: 2) { sortPart($0 == 0 ? 0..<cut : cut..<n) }
                        } else {
                            sortPart(0..<n)
                        }
                    }
                }
            }
        }
        return ids
    }

    struct SortKey { var high: UInt64; var low: UInt64; var id: UInt32 }

    /// Moves the keys whose first word is below a pivot (the median of a sample) to the
    /// front; returns where the rest starts, or nil if that would split them unevenly.
    private static func partition(_ k: UnsafeMutableBufferPointer<SortKey>) -> Int? {
        let n = k.count
        var sample = (0..<255).map { k[($0 * 7919 + 13) % n].high }
        sample.sort()
        let pivot = sample[sample.count / 2]
        var i = 0, j = n - 1
        while true {
            while i <= j, k[i].high < pivot { i += 1 }
            while i <= j, k[j].high >= pivot { j -= 1 }
            if i >= j { break }
            k.swapAt(i, j)
        }
        return i >= n / 8 && i <= n - n / 8 ? i : nil
    }

    /// Sorts `keys` and writes their ids in order to `out`; runs whose first 16 bytes
    /// tie (long terms, or a term that ends in zero bytes before 16) are ordered by
    /// their whole bytes.
    private static func sort(_ keys: UnsafeMutableBufferPointer<SortKey>, into out: UnsafeMutableBufferPointer<UInt32>,
                             arena base: UnsafeRawPointer, starts st: UnsafeBufferPointer<UInt32>) {
        var keys = keys
        keys.sort { $0.high != $1.high ? $0.high < $1.high : $0.low < $1.low }
        let n = keys.count
        for i in 0..<n { out[i] = keys[i].id }
        var i = 0
        while i < n {
            var j = i + 1
            while j < n && keys[j].high == keys[i].high && keys[j].low == keys[i].low { j += 1 }
            if j - i > 1 {
                var run = UnsafeMutableBufferPointer(rebasing: out[i..<j])
                run.sort { x, y in
                    let xs = Int(st[Int(x)]), xl = Int(st[Int(x) + 1]) - xs
                    let ys = Int(st[Int(y)]), yl = Int(st[Int(y) + 1]) - ys
                    // Both at least 16 bytes long: the first 16 are equal.
                    let skip = min(xl, yl) >= 16 ? 16 : 0
                    let c = memcmp(base + xs + skip, base + ys + skip, min(xl, yl) - skip)
                    return c != 0 ? c < 0 : xl < yl
                }
            }
            i = j
        }
    }
}

/// Sorts unsigned 64-bit keys with an LSD radix sort of 11-bit digits; passes whose
/// digit is the same for every key are skipped, so keys that use 38 bits take 4 passes.
/// 2,048 buckets keep each pass's counts and write heads in L1 and L2: with 16-bit
/// digits (65,536 buckets) every scattered key was a cache and TLB miss, and a
/// segment's 8M postings took 0.47 s instead of ~0.1 s. With `threads` above 1 and
/// enough keys, each pass runs on parts of the keys at once: every part counts its
/// digits, each part's keys of a digit go after those of the parts before it (so the
/// sort stays stable), and the parts scatter into disjoint places together.
func radixSort(_ a: inout [UInt64], threads: Int = 1) {
    let n = a.count
    if n < 2048 { a.sort(); return }
    let bits = 11, buckets = 1 << bits, digitMask = UInt64(buckets - 1)
    let parts = n >= 1 << 16 ? max(1, min(threads, 8)) : 1
    let bounds = (0...parts).map { n / parts * $0 + min($0, n % parts) }
    var b = [UInt64](repeating: 0, count: n)
    // Per part and digit (`part * buckets + digit`), the count of its keys, then where the
    // part's next key of that digit goes. Each part keeps its own row, so two cores never
    // write the same cache line; the offsets are a running sum taken digit by digit, part
    // by part within a digit.
    var counts = [Int](repeating: 0, count: buckets * parts)
    var lowAll: UInt64 = ~0, highAny: UInt64 = 0
    for x in a { lowAll &= x; highAny |= x }
    let varying = lowAll ^ highAny  // bits that differ somewhere (an upper bound)
    for shift in stride(from: UInt64(0), to: 64, by: bits) {
        if (varying >> shift) & digitMask == 0 { continue }
        a.withUnsafeBufferPointer { src in
            b.withUnsafeMutableBufferPointer { dst in
                counts.withUnsafeMutableBufferPointer { c in
                    let view = UncheckedBox((src, dst, c))
                    c.update(repeating: 0)
                    Parallel.forEach(parts, threads: parts) { p in
                        let (src, _, c) = view.value
                        let mine = c.baseAddress! + p * buckets
                        for k in bounds[p]..<bounds[p + 1] { mine[Int((src[k] >> shift) & digitMask)] += 1 }
                    }
                    var total = 0
                    for d in 0..<buckets {
                        for p in 0..<parts {
                            let x = c[p * buckets + d]
                            c[p * buckets + d] = total
                            total += x
                        }
                    }
                    Parallel.forEach(parts, threads: parts) { p in
                        let (src, dst, c) = view.value
                        let next = c.baseAddress! + p * buckets
                        for k in bounds[p]..<bounds[p + 1] {
                            let x = src[k]
                            let d = Int((x >> shift) & digitMask)
                            dst[next[d]] = x
                            next[d] += 1
                        }
                    }
                }
            }
        }
        swap(&a, &b)
    }
}
