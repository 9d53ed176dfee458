#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// What the postings step leaves for the term dictionary: the terms in byte order
/// (`order[rank]` is a term id), per rank what its entry says of its sessions, and the
/// pieces the postings were written in (the term blocks are written in the same pieces).
struct PostingsLayout {
    var order: [UInt32]
    var info: [UInt64]
    var pieceRanks: Int
    var pieceCount: Int
    var piecePostingsBytes: [UInt64]
}

extension SegmentWriter {
    /// Sorts the terms and the (term, session) pairs and writes the postings section:
    /// per term of more than one session, its session numbers as delta varints.
    func writePostings(_ out: inout SegmentSections) throws -> PostingsLayout {
        // Postings first (streamed), then the term entries and bytes that point into them.
        // Terms are ranked in byte order; each posting becomes one key, its term's rank
        // over its session number less the segment's lowest (so a day's keys use about
        // 38 bits and the radix sort makes 4 passes), and the keys are radix-sorted, so
        // each term's sessions come out together and in order.
        let order = terms.sortedIDs(threads: encoder.threads)
        out.phase("sortTerms")
        var lowest = UInt64.max, highest: UInt64 = 0
        for p in postings { lowest = min(lowest, p & Self.numberMask); highest = max(highest, p & Self.numberMask) }
        let numberBits = highest > lowest ? Self.bitLength(highest - lowest) : 0  // no postings: lowest > highest
        let rankBits = Self.bitLength(UInt64(order.count))
        precondition(numberBits + rankBits <= 64, "a segment's postings keys need \(numberBits + rankBits) bits")
        let numberMask: UInt64 = numberBits == 0 ? 0 : ~0 >> UInt64(64 - numberBits)
        var rank = [UInt32](repeating: 0, count: order.count)
        for (r, id) in order.enumerated() { rank[Int(id)] = UInt32(r) }
        rank.withUnsafeBufferPointer { rank in
            postings.withUnsafeMutableBufferPointer { all in
                let view = UncheckedBox((rank, all)), parts = 4 * max(1, encoder.threads)
                Parallel.forEach(parts, threads: encoder.threads) { part in
                    let (rank, all) = view.value
                    for k in all.count * part / parts..<all.count * (part + 1) / parts {
                        let p = all[k]
                        all[k] = UInt64(rank[Int(p >> 40)]) << numberBits | ((p & Self.numberMask) - lowest)
                    }
                }
            }
        }
        rank = []
        out.phase("rank")
        radixSort(&postings, threads: encoder.threads)
        out.phase("sortPostings")
        // Per term, in rank order, what its dictionary entry says about its sessions:
        // a term of one session holds the number itself (most terms: message and line
        // ids), any other its count and the bytes its list took in the postings section.
        // The postings, then the term blocks, are made in pieces of ranks on every core,
        // a round of pieces at a time, and written in order: never held whole.
        // About 16 pieces, of 1,024 to 65,536 terms (whole term blocks).
        let block = TermDictionary.termsPerBlock
        let pieceRanks = min(block * 2048, max(block * 32, (order.count / 16 + block - 1) / block * block))
        let pieceCount = (order.count + pieceRanks - 1) / pieceRanks
        var info = [UInt64](repeating: 0, count: order.count)
        var piecePostingsBytes = [UInt64](repeating: 0, count: pieceCount)
        try out.write(.postings) { p in
            try postings.withUnsafeBufferPointer { all in
                try info.withUnsafeMutableBufferPointer { info in
                    let view = UncheckedBox((all, info))
                    try inPieces(pieceCount) { piece -> [UInt8] in
                        let (all, info) = view.value
                        let r0 = piece * pieceRanks, r1 = min(order.count, r0 + pieceRanks)
                        // The piece's first key: every rank has at least one.
                        var k = 0, high = all.count
                        while k < high {
                            let mid = (k + high) / 2
                            if all[mid] >> numberBits < UInt64(r0) { k = mid + 1 } else { high = mid }
                        }
                        var w = ByteWriter(capacity: 1 << 16)
                        for r in r0..<r1 {
                            let before = w.bytes.count
                            var count: UInt64 = 0
                            var previous: UInt64 = 0
                            while k < all.count, all[k] >> numberBits == UInt64(r) {
                                let n = (all[k] & numberMask) + lowest
                                if count == 0 { w.varint(n); count = 1; previous = n }
                                else if n != previous { w.varint(n - previous); count += 1; previous = n }
                                k += 1
                            }
                            if count == 1 {
                                w.bytes.removeLast(w.bytes.count - before)
                                info[r] = TermDictionary.single | previous
                            } else {
                                info[r] = count << 32 | UInt64(w.bytes.count - before)
                            }
                        }
                        return w.bytes
                    } write: { piece, bytes in
                        piecePostingsBytes[piece] = UInt64(bytes.count)
                        try p.write(bytes, to: file)
                    }
                }
            }
        }
        postings = []
        out.phase("postings")
        return PostingsLayout(order: order, info: info, pieceRanks: pieceRanks, pieceCount: pieceCount,
                              piecePostingsBytes: piecePostingsBytes)
    }
}

/// A term's posting list, from its dictionary entry.
extension SegmentReader {
    func postings(_ c: TermCursor, into out: inout [UInt64]) throws {
        if c.isSingle { out.append(c.single); return }
        guard c.postingsOffset <= sections[SegmentFormat.Section.postings.rawValue].length else {
            throw IndexError.corrupt(file.path, "postings out of bounds")
        }
        let start = Int(c.postingsOffset)
        let p = try bytes(.postings, start..<(start + c.postingsLength))
        do { try PostingList.decode(p, count: c.count, into: &out) } catch {
            throw IndexError.corrupt(file.path, "postings are malformed")
        }
    }
}
