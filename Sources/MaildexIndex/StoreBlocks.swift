#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// The session store: zstd blocks of sessions, and the block index that locates them
/// (offset, sizes, CRC, sessions per block). Written as sessions are appended; read
/// block by block, decompressed on all cores.

extension SegmentWriter {
    /// The block index: per store block its offset, sizes, CRC and session count.
    func writeBlockIndex(_ out: inout SegmentSections) throws {
        try out.write(.blockIndex) { p in
            var w = ByteWriter(capacity: blocks.count * SegmentFormat.blockEntrySize)
            for b in blocks { w.u64(b.offset); w.u32(b.compressed); w.u32(b.plain); w.u32(b.crc); w.u32(b.sessions) }
            try p.write(w.bytes, to: file)
        }
    }
}

extension SegmentReader {
    /// Where store block `i` lies in the file, as the block index says (its pages checked).
    struct BlockLocation {
        var index: Int
        var offset: Int
        var compressed: Int
        var plain: Int
        var crc: UInt32
    }

    func blockLocation(_ i: Int) throws -> BlockLocation {
        guard i >= 0, i < blockCount else { throw IndexError.corrupt(file.path, "block \(i) does not exist") }
        var r = ByteReader(try bytes(.blockIndex, (i * SegmentFormat.blockEntrySize)..<((i + 1) * SegmentFormat.blockEntrySize)))
        let rawOffset = try r.u64()
        guard rawOffset <= UInt64(file.size) else { throw IndexError.corrupt(file.path, "block \(i) out of bounds") }
        let offset = Int(rawOffset), compressed = Int(try r.u32()), plain = Int(try r.u32()), crc = try r.u32()
        let store = sections[SegmentFormat.Section.store.rawValue]
        guard offset >= Int(store.offset), offset + compressed <= Int(store.offset + store.length) else {
            throw IndexError.corrupt(file.path, "block \(i) out of bounds")
        }
        return BlockLocation(index: i, offset: offset, compressed: compressed, plain: plain, crc: crc)
    }

    /// Checks and decompresses a block found by `blockLocation`. Reads only the mapping:
    /// any thread may call it.
    /// Through the process's `BlockCache` when it is on; `caching` false reads past it
    /// without keeping the block (a long answer read once must not evict the blocks
    /// that lookups repeat).
    func decompress(_ at: BlockLocation, caching: Bool = true) throws -> [UInt8] {
        let key = BlockCache.Key(segment: serial, block: at.index)
        if let bytes = BlockCache.shared.block(key) { return bytes }
        let bytes = try decompress(UnsafeRawBufferPointer(rebasing: file.bytes[at.offset..<(at.offset + at.compressed)]), at)
        if caching { BlockCache.shared.keep(key, bytes) }
        return bytes
    }

    /// Checks and decompresses the bytes `raw` of the block at `at` (read from the mapping or a copy of them).
    func decompress(_ raw: UnsafeRawBufferPointer, _ at: BlockLocation) throws -> [UInt8] {
        guard CRC32C.checksum(raw) == at.crc else {
            throw IndexError.corrupt(file.path, "checksum mismatch in store block \(at.index)", offset: UInt64(at.offset))
        }
        do { return try Zstd.decompress(raw, expectedSize: at.plain) } catch {
            throw IndexError.corrupt(file.path, "store block \(at.index): \(error)", offset: UInt64(at.offset))
        }
    }

    /// The decompressed bytes of store block `i` (the last one is cached).
    func block(_ i: Int) throws -> [UInt8] {
        if let c = cacheLock.with({ blockCache }), c.index == i { return c.bytes }
        let bytes = try decompress(try blockLocation(i))
        cacheLock.with { blockCache = (i, bytes) }
        return bytes
    }

    /// The sessions of table rows `entries` (all of this segment), in the order given:
    /// each block they need is decompressed once, the blocks on `threads` threads at once.
    func sessions(_ entries: [SessionEntry], threads: Int, caching: Bool = true) throws -> [Session] {
        // Group the rows by block; locate the blocks here (that checks index pages,
        // which is not thread-safe), then decompress and decode them in parallel.
        let order = entries.indices.sorted { (entries[$0].block, entries[$0].offsetInBlock) < (entries[$1].block, entries[$1].offsetInBlock) }
        var groups = [(location: BlockLocation, rows: ArraySlice<Int>)]()
        var start = 0
        while start < order.count {
            var end = start + 1
            while end < order.count, entries[order[end]].block == entries[order[start]].block { end += 1 }
            groups.append((try blockLocation(Int(entries[order[start]].block)), order[start..<end]))
            start = end
        }
        let decoded = Parallel.map(groups.count, threads: threads) { g -> Result<[(Int, Session)], Error> in
            Result {
                // One block: through the cache of the last block read (a repeated lookup).
                let block = groups.count == 1 ? try self.block(groups[g].location.index) : try decompress(groups[g].location, caching: caching)
                return try block.withUnsafeBytes { p in
                    try groups[g].rows.map { k in
                        do { return (k, try SessionCodec.decode(block: p, offset: Int(entries[k].offsetInBlock))) } catch {
                            throw IndexError.corrupt(file.path, "session \(entries[k].number) in block \(entries[k].block) is malformed")
                        }
                    }
                }
            }
        }
        var out = [Session?](repeating: nil, count: entries.count)
        for d in decoded { for (k, s) in try d.get() { out[k] = s } }
        return out.map { $0! }
    }

    /// Every session of store block `i`, in the order they were written. Byte offsets
    /// are 0: they live in the sources' line tables, possibly in another segment, so
    /// read sessions through `IndexReader`, which fills them in.
    func sessions(inBlock i: Int) throws -> [Session] {
        let count = try sessionCount(ofBlock: i)
        let b = try block(i)
        return try b.withUnsafeBytes { p in
            do { return try SessionCodec.decodeAll(block: p, count: count) } catch {
                throw IndexError.corrupt(file.path, "a session in block \(i) is malformed")
            }
        }
    }

    /// Store block `at`, checked and decompressed: its sessions (byte offsets 0, as in
    /// `sessions(inBlock:)`), where each one's record starts in it, and with
    /// `keepCompressed` its stored bytes (copied once, then checked and decompressed from
    /// the copy, so the bytes kept are the bytes checked). Reads only the mapping, after
    /// `blockLocation` checked the index page: any thread may call it with a location
    /// from the calling thread.
    func rawBlock(_ at: BlockLocation, sessions count: Int, keepCompressed: Bool)
        throws -> (compressed: [UInt8]?, sessions: [Session], offsets: [UInt32]) {
        var compressed: [UInt8]? = nil
        let plain: [UInt8]
        if keepCompressed {
            let copy = Array(UnsafeRawBufferPointer(rebasing: file.bytes[at.offset..<(at.offset + at.compressed)]))
            plain = try copy.withUnsafeBytes { try decompress($0, at) }
            compressed = copy
        } else {
            plain = try decompress(at)
        }
        var offsets = [UInt32]()
        let sessions = try plain.withUnsafeBytes { p in
            do { return try SessionCodec.decodeAll(block: p, count: count, offsets: &offsets) } catch {
                throw IndexError.corrupt(file.path, "a session in block \(at.index) is malformed", offset: UInt64(at.offset))
            }
        }
        return (compressed, sessions, offsets)
    }

    /// How many sessions store block `i` holds (its index entry).
    func sessionCount(ofBlock i: Int) throws -> Int {
        var r = ByteReader(try bytes(.blockIndex, (i * SegmentFormat.blockEntrySize)..<((i + 1) * SegmentFormat.blockEntrySize)), at: 20)
        return Int(try r.u32())
    }

    /// The session of table row `e`; byte offsets are 0, as in `sessions(inBlock:)`.
    func session(_ e: SessionEntry) throws -> Session { try sessions([e], threads: 1)[0] }
}
