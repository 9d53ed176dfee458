#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead

/// What one chunk yields: its SMTP fragments in order of first appearance, and counts.
final class ChunkResult {
    package var fragments: [Fragment] = []
    /// The length of every line (for the file's line table), when asked for.
    var lengths: [UInt32] = []
    package var lines = 0
    var records = 0
    /// Lines that are no record and follow no record in this chunk: at a file's start,
    /// or at the start of a window cut where no record began for a whole window. The
    /// stitcher gives them to the record they continue, if any; the rest are unparsed.
    var leading: [LineRef] = []
    var unparsed: Int { leading.count }
    /// Lines that begin with a time but are no record (`12:23:35 ` and binary bytes, no
    /// level digit, no tag): each with the lines after it that begin with no time
    /// (`offset` in the window). They are unparsed, and they end the record above: a
    /// session's transcript never gains them.
    var malformed: [(offset: UInt32, lines: Int)] = []
    /// What the chunk's last line belongs to; nil when the chunk holds no record.
    var endsIn: LineOwner? = nil
}

/// What a line belongs to: a session's channel, or a record of no session (whose
/// continuation lines are not indexed).
enum LineOwner: Equatable {
    case session(ChannelKey)
    case noSession
}

/// Splits a window into chunks at record boundaries and parses one chunk.
public enum ChunkParser {
    /// Parses `window[range]` into fragments. `atFileStart` says whether lines before
    /// the first record are orphans (counted as unparsed) — elsewhere a chunk starts at a record.
    /// With `firstLineContinues`, the first line is the rest of a line cut at a window's
    /// limit: never a record, whatever it looks like.
    /// With `trails`, records about messages (`SessionRules.trail`) and their continuation
    /// lines go, in log order, to one fragment of the chunk (`ChannelKey.messageRecords`),
    /// whose facts list the messages' ids.
    static func parse(_ p: UnsafeRawBufferPointer, _ range: Range<Int>, lengths: Bool = false,
                      firstLineContinues: Bool = false, trails: Bool = true) -> ChunkResult {
        let result = ChunkResult()
        var lineLengths = [UInt32]()
        if lengths { lineLengths.reserveCapacity(range.count / 48) }
        var records = 0
        // Fragments are owned by `result.fragments`; the table and `last` hold them
        // unretained, which spares a reference count per line.
        var open = ChannelTable()
        var last: Unmanaged<Fragment>? = nil
        // The chunk's message records, and the messages they are about.
        var trailFragment: Unmanaged<Fragment>? = nil
        var trailIDs = Set<UInt64>()
        var seenRecord = false
        // In a malformed record's lines (`result.malformed`'s last).
        var inMalformed = false
        let base = p.baseAddress!
        var pos = range.lowerBound
        let end = range.upperBound
        var lineIndex: UInt32 = 0
        while pos < end {
            let lineEnd: Int
            if let nl = memchr(base + pos, 10, end - pos) {
                lineEnd = base.distance(to: UnsafeRawPointer(nl))
            } else {
                lineEnd = end
            }
            let mayStart = !(firstLineContinues && lineIndex == 0)
            let header = mayStart ? RecordParser.parse(p, pos, lineEnd) : nil
            if let h = header, !h.tag.isEmpty {
                seenRecord = true
                inMalformed = false
                records += 1
                if let (key, marker) = SessionRules.channel(p, h) {
                    let fragment: Unmanaged<Fragment>
                    if marker == .opens {
                        open.remove(key)
                        let f = Fragment(key: key)
                        f.opens = true
                        f.firstTime = h.time
                        result.fragments.append(f)
                        fragment = Unmanaged.passUnretained(f)
                        open.set(key, fragment)
                    } else if let f = open.get(key) {
                        fragment = f
                    } else {
                        let f = Fragment(key: key)
                        f.firstTime = h.time
                        result.fragments.append(f)
                        fragment = Unmanaged.passUnretained(f)
                        open.set(key, fragment)
                    }
                    fragment._withUnsafeGuaranteedRef { f in
                        f.lines.append(LineRef(lineInChunk: lineIndex, offset: UInt32(pos),
                                               length: UInt32(lineEnd - pos), header: LineHeader.pack(h, lineStart: pos)))
                        f.bytes += lineEnd - pos
                        f.lastTime = h.time
                        SessionRules.observe(p, h, f)
                        if f.lines.count == 1 { f.firstOutbound = f.facts.outbound }
                        if marker == .closes { f.closes = true }
                    }
                    if marker == .closes { open.remove(key) }
                    last = fragment
                } else if trails, let (key, id) = SessionRules.trail(p, h) {
                    // A record about a message: into the chunk's one fragment of message
                    // records (a query keeps the lines of the messages it asks for).
                    let fragment: Unmanaged<Fragment>
                    if let f = trailFragment {
                        fragment = f
                    } else {
                        let f = Fragment(key: ChannelKey.messageRecords)
                        f.firstTime = h.time
                        result.fragments.append(f)
                        fragment = Unmanaged.passUnretained(f)
                        trailFragment = fragment
                    }
                    fragment._withUnsafeGuaranteedRef { f in
                        f.lines.append(LineRef(lineInChunk: lineIndex, offset: UInt32(pos),
                                               length: UInt32(lineEnd - pos), header: LineHeader.pack(h, lineStart: pos)))
                        f.bytes += lineEnd - pos
                        f.lastTime = h.time
                        if trailIDs.insert(key.raw).inserted { f.facts.messages.append(Array(p[id])) }
                    }
                    last = fragment
                } else {
                    last = nil
                }
            } else if mayStart, header != nil || RecordParser.beginsWithTime(p, pos, lineEnd) {
                seenRecord = true
                inMalformed = true
                last = nil
                result.malformed.append((UInt32(pos), 1))
            } else if let f = last {
                f._withUnsafeGuaranteedRef { f in
                    f.lines.append(LineRef(lineInChunk: lineIndex, offset: UInt32(pos), length: UInt32(lineEnd - pos)))
                    f.bytes += lineEnd - pos
                }
            } else if inMalformed {
                result.malformed[result.malformed.count - 1].lines += 1
            } else if !seenRecord {
                result.leading.append(LineRef(lineInChunk: lineIndex, offset: UInt32(pos), length: UInt32(lineEnd - pos)))
            }
            if lengths { lineLengths.append(UInt32(lineEnd - pos)) }
            lineIndex &+= 1
            pos = lineEnd + 1
        }
        result.lines = Int(lineIndex)
        result.records = records
        result.lengths = lineLengths
        if seenRecord { result.endsIn = last.map { .session($0._withUnsafeGuaranteedRef { $0.key }) } ?? .noSession }
        return result
    }
}

/// A small open-addressing map from channel to its open fragment; the chunk
/// parser's only per-record lookup, so it avoids hashing through `Hasher`. It holds
/// its fragments unretained: the chunk's result owns them.
struct ChannelTable {
    private var keys: [UInt64]
    private var values: [Unmanaged<Fragment>?]
    private var count = 0
    private var mask: Int

    package init() { keys = [UInt64](repeating: 0, count: 256); values = [Unmanaged<Fragment>?](repeating: nil, count: 256); mask = 255 }

    @inline(__always) private func slot(_ k: UInt64) -> Int {
        Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 40) & mask
    }

    @inline(__always) func get(_ key: ChannelKey) -> Unmanaged<Fragment>? {
        let k = key.raw
        var i = slot(k)
        while true {
            if keys[i] == 0 { return nil }
            if keys[i] == k { return values[i] }
            i = (i + 1) & mask
        }
    }

    /// Sets or clears (`nil`) the fragment of `key`. Cleared slots keep the key
    /// (a tombstone with a nil value), so probing stays correct.
    @inline(__always) mutating func set(_ key: ChannelKey, _ value: Unmanaged<Fragment>?) {
        let k = key.raw
        var i = slot(k)
        while true {
            if keys[i] == k { values[i] = value; return }
            if keys[i] == 0 {
                guard value != nil else { return }
                keys[i] = k; values[i] = value; count += 1
                if count * 2 > mask { grow() }
                return
            }
            i = (i + 1) & mask
        }
    }

    @inline(__always) mutating func remove(_ key: ChannelKey) { set(key, nil) }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        mask = mask * 2 + 1
        keys = [UInt64](repeating: 0, count: mask + 1)
        values = [Unmanaged<Fragment>?](repeating: nil, count: mask + 1)
        count = 0
        for i in oldKeys.indices where oldKeys[i] != 0 && oldValues[i] != nil {
            set(ChannelKey(raw: oldKeys[i]), oldValues[i])
        }
    }
}

extension ChannelKey {
    package init(raw: UInt64) { self.raw = raw }
}
