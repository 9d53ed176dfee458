#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// The term dictionary (FORMAT.md, "Term dictionary"): terms in byte order, in
/// blocks of `termsPerBlock`. In a block, each term is written as the length it
/// shares with the term before it (0 for a block's first), the rest of its bytes,
/// then a varint `code`: `number << 1 | 1` for a term of one session (no postings
/// list), else `count << 1` followed by the length of its list in the postings
/// section; lists follow one another from the block's postings offset.
/// Sorted keys share long prefixes (line ids, message ids, peers of one network),
/// and most terms belong to a single session, so a term takes a few bytes instead
/// of a 32-byte entry, its bytes and a list.
public enum TermDictionary {
    public static let termsPerBlock = 32
    /// Marks, in the writer's per-term info, a term of a single session.
    static let single: UInt64 = 1 << 63
}

extension SegmentWriter {
    /// Writes the term dictionary: the term blocks (front-coded, 32 terms a block, each
    /// term with its single session or its postings' count and length) and their index.
    func writeTermDictionary(_ layout: PostingsLayout, _ out: inout SegmentSections) throws {
        let order = layout.order, info = layout.info, pieceRanks = layout.pieceRanks
        let piecePostingsBytes = layout.piecePostingsBytes
        // Term blocks: front-coded within a block, each block's offsets in the block index.
        var blockIndex = ByteWriter(capacity: 16 + order.count / TermDictionary.termsPerBlock * 16 + 16)
        blockIndex.u32(UInt32(TermDictionary.termsPerBlock)); blockIndex.u32(0); blockIndex.u64(UInt64(order.count))
        try out.write(.termBytes) { p in
            try terms.arena.withUnsafeBytes { arena in
              try terms.starts.withUnsafeBufferPointer { starts in
                try info.withUnsafeBufferPointer { info in
                  try order.withUnsafeBufferPointer { order in
                    guard !order.isEmpty, let base = arena.baseAddress else { return }
                    let view = UncheckedBox((base, starts, info, order))
                    var flushed: UInt64 = 0, postingsBase: UInt64 = 0
                    // Per piece, its bytes and, per block, its offset and its postings'
                    // offset, both from the piece's start.
                    try inPieces(layout.pieceCount) { piece -> ([UInt8], [UInt64]) in
                        let (base, starts, info, order) = view.value
                        func term(_ id: UInt32) -> UnsafeRawBufferPointer {
                            let s = Int(starts[Int(id)])
                            return UnsafeRawBufferPointer(start: base + s, count: Int(starts[Int(id) + 1]) - s)
                        }
                        let r0 = piece * pieceRanks, r1 = min(order.count, r0 + pieceRanks)
                        var w = ByteWriter(capacity: 1 << 20)
                        var blocks = [UInt64]()
                        blocks.reserveCapacity(2 * pieceRanks / TermDictionary.termsPerBlock + 2)
                        var postingsOffset: UInt64 = 0
                        var previous = UnsafeRawBufferPointer(start: nil, count: 0)
                        for r in r0..<r1 {
                            let t = term(order[r])
                            var shared = 0
                            if r % TermDictionary.termsPerBlock == 0 {
                                blocks.append(UInt64(w.bytes.count)); blocks.append(postingsOffset)
                            } else {
                                let limit = min(previous.count, t.count)
                                while shared < limit, previous[shared] == t[shared] { shared += 1 }
                            }
                            w.varint(UInt64(shared)); w.varint(UInt64(t.count - shared))
                            w.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: t[shared...]))
                            let e = info[r]
                            if e & TermDictionary.single != 0 {
                                w.varint((e & Self.numberMask) << 1 | 1)
                            } else {
                                w.varint((e >> 32) << 1); w.varint(e & 0xFFFF_FFFF)
                                postingsOffset += e & 0xFFFF_FFFF
                            }
                            previous = t
                        }
                        return (w.bytes, blocks)
                    } write: { piece, made in
                        let (bytes, blocks) = made
                        for b in stride(from: 0, to: blocks.count, by: 2) {
                            blockIndex.u64(flushed + blocks[b]); blockIndex.u64(postingsBase + blocks[b + 1])
                        }
                        try p.write(bytes, to: file)
                        flushed += UInt64(bytes.count)
                        postingsBase += piecePostingsBytes[piece]
                    }
                  }
                }
              }
            }
        }
        out.phase("termBytes")
        try out.write(.termEntries) { p in try p.write(blockIndex.bytes, to: file) }
    }
}

extension SegmentReader {
    func termIndexOrThrow() throws -> (perBlock: Int, blocks: Int, terms: Int) {
        if let t = cacheLock.with({ termIndexCache }) { return t }
        let length = Int(sections[SegmentFormat.Section.termEntries.rawValue].length)
        guard length >= 16, (length - 16) % 16 == 0 else { throw IndexError.corrupt(file.path, "term block index is malformed") }
        let h = try bytes(.termEntries, 0..<16)
        let perBlock = Int(UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        let terms = UInt64(littleEndian: h.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let blocks = (length - 16) / 16
        // Sizes are checked before they are multiplied: a hostile index must not trap here.
        guard perBlock > 0, perBlock <= 1 << 16,
              blocks == 0 ? terms == 0 : terms <= UInt64(blocks) * UInt64(perBlock) && terms > UInt64(blocks - 1) * UInt64(perBlock)
        else { throw IndexError.corrupt(file.path, "term block index is malformed") }
        let t = (perBlock, blocks, Int(terms))
        cacheLock.with { termIndexCache = t }
        return t
    }

    /// How many distinct terms the segment holds (0 if its dictionary is damaged).
    public var termCount: Int { (try? termIndexOrThrow())?.terms ?? 0 }

    /// A position in the term dictionary: the current term, its sessions, and where
    /// the next term of its block is.
    struct TermCursor {
        var block: Int
        var remaining: Int
        var reader: ByteReader
        var term: [UInt8] = []
        /// The term belongs to one session, `single`; else to `count` in its postings list.
        var isSingle = false
        var count = 0
        var single: UInt64 = 0
        var postingsOffset: UInt64 = 0
        var postingsLength = 0
        var nextPostings: UInt64
    }

    /// The bytes of term block `b` in the termBytes section.
    func termBlockRange(_ b: Int) throws -> Range<Int> {
        let blocks = try termIndexOrThrow().blocks
        let e = try bytes(.termEntries, (16 + b * 16)..<(24 + b * 16))
        let start = UInt64(littleEndian: e.loadUnaligned(as: UInt64.self))
        var end = sections[SegmentFormat.Section.termBytes.rawValue].length
        if b + 1 < blocks {
            let n = try bytes(.termEntries, (32 + b * 16)..<(40 + b * 16))
            end = UInt64(littleEndian: n.loadUnaligned(as: UInt64.self))
        }
        guard start <= end, end <= sections[SegmentFormat.Section.termBytes.rawValue].length else {
            throw IndexError.corrupt(file.path, "term block \(b) is out of bounds")
        }
        return Int(start)..<Int(end)
    }

    /// Whether the first term of block `b` sorts at or before `key` (read in place, for
    /// the binary search over blocks).
    func firstTerm(ofBlock b: Int, isAtOrBefore key: [UInt8]) throws -> Bool {
        let block = try bytes(.termBytes, try termBlockRange(b))
        var r = ByteReader(block)
        do {
            guard try r.varint() == 0 else { throw ByteReader.OutOfBounds() }
            let n = try r.varint()
            guard n <= UInt64(block.count - r.position) else { throw ByteReader.OutOfBounds() }
            let length = Int(n), common = min(length, key.count)
            let c = common == 0 ? 0 : key.withUnsafeBytes { memcmp(block.baseAddress! + r.position, $0.baseAddress!, common) }
            return c < 0 || (c == 0 && length <= key.count)
        } catch is ByteReader.OutOfBounds {
            throw IndexError.corrupt(file.path, "term block \(b) is malformed")
        }
    }

    /// A cursor on the first term of block `b`.
    func cursor(block b: Int) throws -> TermCursor {
        let (perBlock, _, total) = try termIndexOrThrow()
        let e = try bytes(.termEntries, (16 + b * 16)..<(32 + b * 16))
        let postings = UInt64(littleEndian: e.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard postings <= sections[SegmentFormat.Section.postings.rawValue].length else {
            throw IndexError.corrupt(file.path, "term block \(b) points past the postings")
        }
        var c = TermCursor(block: b, remaining: min(perBlock, total - b * perBlock),
                           reader: ByteReader(try bytes(.termBytes, try termBlockRange(b))), nextPostings: postings)
        guard try step(&c) else { throw IndexError.corrupt(file.path, "term block \(b) is empty") }
        return c
    }

    /// Reads the next term of the cursor's block; false at the block's end.
    func step(_ c: inout TermCursor) throws -> Bool {
        guard c.remaining > 0 else { return false }
        do {
            let shared = try c.reader.varint(), suffix = try c.reader.varint()
            guard shared <= UInt64(c.term.count), suffix <= UInt64(c.reader.buffer.count) else { throw ByteReader.OutOfBounds() }
            c.term.removeLast(c.term.count - Int(shared))
            c.term.append(contentsOf: try c.reader.bytes(Int(suffix)))
            let code = try c.reader.varint()
            if code & 1 == 1 {
                c.isSingle = true; c.count = 1; c.single = code >> 1; c.postingsLength = 0
            } else {
                // A list holds at least two sessions, each at least one byte: anything
                // else is damage, and must not reach counts or allocations.
                let count = code >> 1, length = try c.reader.varint()
                let room = sections[SegmentFormat.Section.postings.rawValue].length - c.nextPostings
                guard count >= 2, count <= length, length <= room, length <= UInt64(Int32.max) else { throw ByteReader.OutOfBounds() }
                c.isSingle = false
                c.count = Int(count)
                c.postingsOffset = c.nextPostings
                c.postingsLength = Int(length)
                c.nextPostings += length
            }
        } catch is ByteReader.OutOfBounds {
            throw IndexError.corrupt(file.path, "term block \(c.block) is malformed")
        }
        c.remaining -= 1
        return true
    }

    /// Moves to the next term, across blocks; false after the last term.
    func advance(_ c: inout TermCursor) throws -> Bool {
        if try step(&c) { return true }
        guard c.block + 1 < (try termIndexOrThrow()).blocks else { return false }
        c = try cursor(block: c.block + 1)
        return true
    }

    /// A cursor on the first term >= `key`, or nil when every term sorts before it.
    func seek(_ key: [UInt8]) throws -> TermCursor? {
        let blocks = try termIndexOrThrow().blocks
        guard blocks > 0 else { return nil }
        // The last block whose first term is <= key (block 0 if none).
        var lo = 0, hi = blocks
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if try firstTerm(ofBlock: mid, isAtOrBefore: key) {
                lo = mid
            } else {
                hi = mid
            }
        }
        var c = try cursor(block: lo)
        while c.term.lexicographicallyPrecedes(key) {
            guard try advance(&c) else { return nil }
        }
        return c
    }

    /// Session numbers of `key`, sorted.
    public func lookup(_ key: [UInt8]) throws -> [UInt64] {
        // Keys are stored cut to `Terms.maxKeyBytes` after the kind byte; look them up so.
        let key = key.count > Terms.maxKeyBytes + 1 ? Array(key.prefix(Terms.maxKeyBytes + 1)) : key
        guard let c = try seek(key), c.term == key else { return [] }
        var out = [UInt64]()
        try postings(c, into: &out)
        return out
    }

    /// Posting lists of every term in `[lower, upper]` (inclusive, as bytes), unmerged.
    public func lookupRange(_ lower: [UInt8], _ upper: [UInt8], visit: ([UInt8], [UInt64]) throws -> Void) throws {
        guard var c = try seek(lower) else { return }
        repeat {
            if upper.lexicographicallyPrecedes(c.term) { break }
            var list = [UInt64]()
            try postings(c, into: &list)
            try visit(c.term, list)
        } while try advance(&c)
    }

    /// Terms (with their session counts) that start with `prefix`, for stats.
    public func terms(withPrefix prefix: [UInt8], visit: ([UInt8], Int) throws -> Void) throws {
        guard var c = try seek(prefix) else { return }
        repeat {
            guard c.term.starts(with: prefix) else { break }
            try visit(c.term, c.count)
        } while try advance(&c)
    }
}
