#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CPlatform
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// Distinct terms of a segment, numbered in order of first sight: an
/// open-addressing hash table over one byte arena.
final class TermTable {
    private(set) var arena: [UInt8] = []
    private(set) var starts: [UInt32] = [0]
    /// Per slot, the high 32 bits of its term's hash over the term's id + 1 (0: empty),
    /// so that a probe for a term already present costs one cache miss before the bytes
    /// are compared (two with the hashes in an array of their own). `mask + 1` slots,
    /// owned (freed in `deinit`): a pointer, not an array, so a probe neither retains
    /// nor checks bounds.
    private var slots: UnsafeMutablePointer<UInt64>
    /// Each term's hash, by id, to place the terms again when the table grows.
    private var hashes: [UInt64] = []
    private var mask: Int
    private static let tagMask: UInt64 = 0xFFFF_FFFF_0000_0000

    init() {
        slots = Self.emptySlots(1 << 16)
        mask = (1 << 16) - 1
        arena.reserveCapacity(1 << 20)
        hashes.reserveCapacity(1 << 15)
    }

    deinit { slots.deallocate() }

    private static func emptySlots(_ n: Int) -> UnsafeMutablePointer<UInt64> {
        let p = UnsafeMutablePointer<UInt64>.allocate(capacity: n)
        p.initialize(repeating: 0, count: n)
        return p
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
        let found = arena.withUnsafeBytes { a in starts.withUnsafeBufferPointer { st in find(bytes, h, arena: a, starts: st) } }
        switch found {
        case .present(let id): return id
        case .absent(let slot): return add(bytes, h, slot: slot)
        }
    }

    enum Probe { case present(UInt32), absent(slot: Int) }

    /// Where the term `bytes` (hash `h`) is: its id, or the empty slot it would take.
    /// Reads the table only (`arena` and `starts` are the table's own, borrowed).
    @inline(__always) private func find(_ bytes: UnsafeRawBufferPointer, _ h: UInt64, arena a: UnsafeRawBufferPointer,
                                        starts st: UnsafeBufferPointer<UInt32>) -> Probe {
        let tag = h & Self.tagMask
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = slots[i]
            if s == 0 { return .absent(slot: i) }
            if s & Self.tagMask == tag {
                let id = Int(truncatingIfNeeded: s & 0xFFFF_FFFF) - 1
                let start = Int(st[id]), length = Int(st[id + 1]) - start
                if length == bytes.count, length == 0 || memcmp(a.baseAddress! + start, bytes.baseAddress!, length) == 0 {
                    return .present(UInt32(id))
                }
            }
            i = (i + 1) & mask
        }
    }

    /// Adds a new term in the empty slot `slot` that `find` gave.
    @inline(__always) private func add(_ bytes: UnsafeRawBufferPointer, _ h: UInt64, slot: Int) -> UInt32 {
        let id = UInt32(count)
        arena.append(contentsOf: bytes)
        starts.append(UInt32(arena.count))
        hashes.append(h)
        slots[slot] = h & Self.tagMask | UInt64(id + 1)
        if count * 2 > mask { grow() }
        return id
    }

    /// How many terms ahead `insert(_:found:)` starts each step of a probe.
    static let prefetchDistance = 8

    /// Inserts every term of `batch` in order and calls `found` with each one's index
    /// in the batch and its id (new terms are numbered in order of first sight, as by
    /// one `insert` at a time). A table of millions of terms is far larger than the
    /// caches, and a probe for a term already present misses three times: its slot, its
    /// start in `starts`, its bytes in the arena. Each miss depends on the one before,
    /// so a probe alone waits for all three in turn. Here the batch's terms are first
    /// looked up with the three loads started (prefetched) for terms 3d, 2d and d places
    /// ahead (d = `prefetchDistance`), so several probes wait at once, while the table
    /// is only read (and its buffers are borrowed once, not retained per probe); the
    /// terms not found are then added in order (a term new twice in the batch is found
    /// the second time).
    func insert(_ batch: TermBatch, found: (Int, UInt32) -> Void) {
        let n = batch.count
        guard n > 0 else { return }
        let d = Self.prefetchDistance
        let missing = UInt32.max
        var ids = [UInt32](repeating: missing, count: n)
        batch.arena.withUnsafeBytes { terms in
            batch.starts.withUnsafeBufferPointer { termStarts in
                batch.hashes.withUnsafeBufferPointer { termHashes in
                    func term(_ t: Int) -> UnsafeRawBufferPointer {
                        UnsafeRawBufferPointer(rebasing: terms[Int(termStarts[t])..<Int(termStarts[t + 1])])
                    }
                    arena.withUnsafeBytes { a in
                        starts.withUnsafeBufferPointer { st in
                            for t in 0..<n {
                                if t + 3 * d < n { maildex_prefetch(slots + (Int(truncatingIfNeeded: termHashes[t + 3 * d]) & mask)) }
                                if t + 2 * d < n, let id = candidate(termHashes[t + 2 * d]) { maildex_prefetch(st.baseAddress! + id) }
                                if t + d < n, let id = candidate(termHashes[t + d]), let base = a.baseAddress {
                                    maildex_prefetch(base + Int(st[id]))
                                }
                                if case .present(let id) = find(term(t), termHashes[t], arena: a, starts: st) { ids[t] = id }
                            }
                        }
                    }
                    for t in 0..<n where ids[t] == missing { ids[t] = insert(term(t), termHashes[t]) }
                }
            }
        }
        for t in 0..<n { found(t, ids[t]) }
    }

    /// The id in the first slot probed for hash `h` when its tag matches, else nil.
    @inline(__always) private func candidate(_ h: UInt64) -> Int? {
        let s = slots[Int(truncatingIfNeeded: h) & mask]
        guard s != 0, s & Self.tagMask == h & Self.tagMask else { return nil }
        return Int(truncatingIfNeeded: s & 0xFFFF_FFFF) - 1
    }

    private func grow() {
        mask = mask * 2 + 1
        slots.deallocate()
        slots = Self.emptySlots(mask + 1)
        for (id, h) in hashes.enumerated() {
            var i = Int(truncatingIfNeeded: h) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = h & Self.tagMask | UInt64(id + 1)
        }
    }

    func term(_ id: Int) -> ArraySlice<UInt8> { arena[Int(starts[id])..<Int(starts[id + 1])] }

    /// Term ids in byte order of their terms. Sorts by the first 16 bytes (two
    /// big-endian words, zero-padded), then runs that tie on the 16 bytes after, and so on.
    /// With 2 threads or more, the keys are split at a pivot first and the two parts
    /// sorted at once (terms that tie stay on one side).
    func sortedIDs(threads: Int = 1) -> [UInt32] {
        let n = count
        if n == 0 { return [] }
        var keys = [SortKey]()
        keys.reserveCapacity(n)
        arena.withUnsafeBytes { a in
            starts.withUnsafeBufferPointer { st in
                for id in 0..<n { keys.append(Self.key(UInt32(id), depth: 0, arena: a.baseAddress!, starts: st)) }
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

    struct SortKey {
        var high: UInt64; var low: UInt64; var id: UInt32
        /// Byte order of the 16 bytes the key holds.
        @inline(__always) static func precedes(_ x: SortKey, _ y: SortKey) -> Bool {
            x.high != y.high ? x.high < y.high : x.low < y.low
        }
    }

    /// Moves the keys below a pivot (the median of a sample) to the front; returns where
    /// the rest starts, or nil if that would split them unevenly. Equal keys stay on one
    /// side, where their ties are ordered.
    private static func partition(_ k: UnsafeMutableBufferPointer<SortKey>) -> Int? {
        let less = SortKey.precedes
        let n = k.count
        var sample = (0..<255).map { k[($0 * 7919 + 13) % n] }
        sample.sort(by: less)
        let pivot = sample[sample.count / 2]
        var i = 0, j = n - 1
        while true {
            while i <= j, less(k[i], pivot) { i += 1 }
            while i <= j, !less(k[j], pivot) { j -= 1 }
            if i >= j { break }
            k.swapAt(i, j)
        }
        return i >= n / 8 && i <= n - n / 8 ? i : nil
    }

    /// Sorts keys by their first 16 bytes, most significant byte first and in place
    /// (American flag sort): each bucket of a byte is sorted on the next byte, bytes
    /// that all keys share are skipped, and buckets of fewer than 256 keys are sorted
    /// by comparison. A comparison sort took 3-4 times as long on a day's 540K
    /// terms, which share long prefixes (kinds, domains).
    static func radixSort(_ keys: UnsafeMutableBufferPointer<SortKey>, byte first: Int) {
        let less = SortKey.precedes
        let n = keys.count
        if n <= 32 {
            guard n > 1 else { return }
            for i in 1..<n {
                let x = keys[i]
                var j = i
                while j > 0, less(x, keys[j - 1]) { keys[j] = keys[j - 1]; j -= 1 }
                keys[j] = x
            }
            return
        }
        // Bytes every key shares are skipped at once (the bits that differ anywhere).
        var high: UInt64 = 0, low: UInt64 = 0
        let k0 = keys[0]
        for i in 1..<n { high |= keys[i].high ^ k0.high; low |= keys[i].low ^ k0.low }
        let shared = high != 0 ? high.leadingZeroBitCount / 8 : low != 0 ? 8 + low.leadingZeroBitCount / 8 : 16
        let byte = max(first, shared)
        if byte >= 16 { return }
        // A bucketing pass costs a few hundred steps whatever its size.
        if n < 256 { var keys = keys; keys.sort(by: less); return }
        @inline(__always) func digit(_ x: SortKey) -> Int {
            byte < 8 ? Int(truncatingIfNeeded: x.high >> UInt64(56 - 8 * byte)) & 0xFF
                     : Int(truncatingIfNeeded: x.low >> UInt64(120 - 8 * byte)) & 0xFF
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 512) { table in
            let next = table.baseAddress!, end = next + 256
            for d in 0..<256 { end[d] = 0 }
            for i in 0..<n { end[digit(keys[i])] += 1 }
            var total = 0
            for d in 0..<256 { next[d] = total; total += end[d]; end[d] = total }
            // Each key goes to its bucket's next free place; the key it displaces is
            // placed the same way, until one belongs where the cycle began.
            for b in 0..<256 {
                while next[b] < end[b] {
                    var x = keys[next[b]]
                    var d = digit(x)
                    while d != b {
                        swap(&x, &keys[next[d]])
                        next[d] += 1
                        d = digit(x)
                    }
                    keys[next[b]] = x
                    next[b] += 1
                }
            }
            if byte == 15 { return }
            var start = 0
            for d in 0..<256 {
                let stop = end[d]
                if stop - start > 1 { radixSort(UnsafeMutableBufferPointer(rebasing: keys[start..<stop]), byte: byte + 1) }
                start = stop
            }
        }
    }

    /// Sorts `keys` and writes their ids in order to `out`; runs whose first 16 bytes
    /// tie (long terms, or a term that ends in zero bytes before 16) are ordered by
    /// the bytes that follow, 16 at a time, the same way.
    private static func sort(_ keys: UnsafeMutableBufferPointer<SortKey>, into out: UnsafeMutableBufferPointer<UInt32>,
                             arena base: UnsafeRawPointer, starts st: UnsafeBufferPointer<UInt32>) {
        radixSort(keys, byte: 0)
        for i in 0..<keys.count { out[i] = keys[i].id }
        orderTies(keys, out, depth: 16, arena: base, starts: st)
    }

    /// The 16 bytes of a term from `depth` on, big-endian, zero-padded.
    @inline(__always) static func key(_ id: UInt32, depth: Int, arena base: UnsafeRawPointer,
                                      starts st: UnsafeBufferPointer<UInt32>) -> SortKey {
        let s = Int(st[Int(id)]) + depth, e = Int(st[Int(id) + 1])
        var high: UInt64 = 0, low: UInt64 = 0
        if e - s >= 16 {
            high = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: s, as: UInt64.self))
            low = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: s + 8, as: UInt64.self))
        } else {
            for k in 0..<16 {
                let byte = s + k < e ? UInt64(base.load(fromByteOffset: s + k, as: UInt8.self)) : 0
                if k < 8 { high = high << 8 | byte } else { low = low << 8 | byte }
            }
        }
        return SortKey(high: high, low: low, id: id)
    }

    /// `keys`, sorted, hold the 16 bytes before `depth` of the terms `out` names in the
    /// same order, and the terms' bytes before `depth - 16` are equal; orders each run
    /// of equal keys by the bytes from `depth` on.
    private static func orderTies(_ keys: UnsafeMutableBufferPointer<SortKey>, _ out: UnsafeMutableBufferPointer<UInt32>,
                                  depth: Int, arena base: UnsafeRawPointer, starts st: UnsafeBufferPointer<UInt32>) {
        let n = keys.count
        var i = 0
        while i < n {
            var j = i + 1
            while j < n && keys[j].high == keys[i].high && keys[j].low == keys[i].low { j += 1 }
            if j - i > 1 { orderRun(UnsafeMutableBufferPointer(rebasing: out[i..<j]), depth: depth, arena: base, starts: st) }
            i = j
        }
    }

    /// Sorts terms whose bytes before `depth` are equal (zero-padded). Those that end by
    /// `depth` are prefixes of the others (and of each other): they come first, shortest
    /// first; the others are sorted on their next 16 bytes.
    private static func orderRun(_ ids: UnsafeMutableBufferPointer<UInt32>, depth: Int, arena base: UnsafeRawPointer,
                                 starts st: UnsafeBufferPointer<UInt32>) {
        @inline(__always) func length(_ id: UInt32) -> Int { Int(st[Int(id) + 1]) - Int(st[Int(id)]) }
        var ended = 0
        for k in ids.indices where length(ids[k]) <= depth {
            ids.swapAt(k, ended)
            ended += 1
        }
        if ended > 1 {
            var prefixes = UnsafeMutableBufferPointer(rebasing: ids[0..<ended])
            prefixes.sort { length($0) < length($1) }
        }
        let rest = UnsafeMutableBufferPointer(rebasing: ids[ended...])
        guard rest.count > 1 else { return }
        var keys = rest.map { key($0, depth: depth, arena: base, starts: st) }
        keys.withUnsafeMutableBufferPointer { k in
            radixSort(k, byte: 0)
            for i in 0..<k.count { rest[i] = k[i].id }
            orderTies(k, rest, depth: depth + 16, arena: base, starts: st)
        }
    }
}
