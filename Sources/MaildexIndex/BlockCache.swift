import MaildexSupport

/// Decompressed store blocks, shared by every segment a process has open, up to a
/// number of bytes: a long-running front (`maildex serve`) turns it on, so that the
/// lookups people repeat (a page of results, then a session of it, then its lines)
/// decompress each block once. Off (capacity 0) by default: a `query` process
/// reads each block once anyway.
///
/// Blocks are kept as checked (CRC) and decompressed; the least recently used go first.
/// Segments are immutable, so an entry never goes stale; each `SegmentReader` has its
/// own serial number, never reused, so a new segment of the same name is another key.
public final class BlockCache: @unchecked Sendable {
    public static let shared = BlockCache()

    struct Key: Hashable { var segment: UInt64; var block: Int }

    private let lock = NSLockLite()
    private var capacity = 0
    private var used = 0
    private var clock: UInt64 = 0
    private var entries: [Key: (bytes: [UInt8], lastUse: UInt64)] = [:]
    private var serials: UInt64 = 0
    /// Lookups that found their block, and that did not (for `maildex serve`'s info).
    private var hitCount = 0, missCount = 0
    public var hits: Int { lock.with { hitCount } }
    public var misses: Int { lock.with { missCount } }

    public init() {}

    /// The most bytes of decompressed blocks kept; 0 turns the cache off and empties it.
    public var capacityBytes: Int {
        get { lock.with { capacity } }
        set { lock.with { capacity = max(0, newValue); evict() } }
    }

    /// Bytes of blocks held now.
    public var bytesHeld: Int { lock.with { used } }

    func nextSerial() -> UInt64 { lock.with { serials += 1; return serials } }

    func block(_ key: Key) -> [UInt8]? {
        lock.with {
            guard capacity > 0 else { return nil }
            guard let e = entries[key] else { missCount += 1; return nil }
            hitCount += 1
            clock += 1
            entries[key] = (e.bytes, clock)
            return e.bytes
        }
    }

    func keep(_ key: Key, _ bytes: [UInt8]) {
        lock.with {
            guard capacity > 0, bytes.count <= capacity / 4, entries[key] == nil else { return }
            clock += 1
            entries[key] = (bytes, clock)
            used += bytes.count
            evict()
        }
    }

    /// Drops the least recently used eighth of the entries at a time until within
    /// capacity (under `lock`).
    private func evict() {
        while used > capacity, !entries.isEmpty {
            let oldest = entries.sorted { $0.value.lastUse < $1.value.lastUse }.prefix(max(1, entries.count / 8))
            for (k, e) in oldest { entries[k] = nil; used -= e.bytes.count }
        }
    }
}
