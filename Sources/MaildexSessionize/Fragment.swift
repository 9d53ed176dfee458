import MaildexSupport
import MaildexParse
import MaildexRead

/// One line of a session, relative to its chunk and window.
package struct LineRef {
    /// Line index within the chunk.
    var lineInChunk: UInt32
    /// Byte offset of the line in the window.
    var offset: UInt32
    /// Length without the `\n`.
    var length: UInt32
    /// What the parser learnt of the record header, for the store's line encoder (so it
    /// need not parse the line again): 0 when unknown, else see `LineHeader`.
    var header: UInt32 = 0
}

/// A fragment's lines, in a buffer of its own. The chunk parser appends one a line, and
/// an `Array` append checks that its buffer is not shared, in a call of its own (about
/// 2% of the indexer's time). Noncopyable, so the buffer has exactly one owner.
package struct LineList: ~Copyable {
    private var base: UnsafeMutablePointer<LineRef>
    package private(set) var count = 0
    private var capacity: Int

    package init(capacity: Int) {
        self.capacity = max(capacity, 1)
        base = .allocate(capacity: self.capacity)
    }

    package init(copying lines: [LineRef]) {
        self.init(capacity: lines.count)
        lines.withUnsafeBufferPointer { b in
            if let from = b.baseAddress, b.count > 0 { base.initialize(from: from, count: b.count) }
        }
        count = lines.count
    }

    deinit { base.deallocate() }

    var isEmpty: Bool { count == 0 }
    var indices: Range<Int> { 0..<count }

    @inline(__always) mutating func append(_ line: LineRef) {
        if count == capacity { grow() }
        (base + count).initialize(to: line)
        count += 1
    }

    private mutating func grow() {
        let bigger = UnsafeMutablePointer<LineRef>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity *= 2
    }

    subscript(i: Int) -> LineRef {
        get { precondition(i >= 0 && i < count, "line \(i) of \(count)"); return base[i] }
        set { precondition(i >= 0 && i < count, "line \(i) of \(count)"); base[i] = newValue }
    }

    func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<LineRef>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }
}

/// A record line's header shape, packed into 32 bits: timestamp length (4 bits),
/// level (4 bits) and where the data starts in the line (24 bits). 0 means unknown.
package enum LineHeader {
    @inline(__always) static func pack(_ h: RecordHeader, lineStart: Int) -> UInt32 {
        let tl = h.time.count, dataStart = h.data.lowerBound - lineStart
        guard tl > 0, tl < 16, h.level < 16, dataStart > 0, dataStart < 1 << 24 else { return 0 }
        return UInt32(tl) | UInt32(h.level) << 4 | UInt32(dataStart) << 8
    }
    @inline(__always) package static func timeLength(_ x: UInt32) -> Int { Int(x & 15) }
    @inline(__always) package static func level(_ x: UInt32) -> UInt8 { UInt8(x >> 4 & 15) }
    @inline(__always) package static func dataStart(_ x: UInt32) -> Int { Int(x >> 8) }
}

/// The records of one channel inside one chunk, between session boundaries.
/// The stitcher joins fragments, in order, into sessions.
package final class Fragment {
    let key: ChannelKey
    /// Began with the channel's opening record.
    var opens = false
    /// Ended with the channel's closing record.
    var closes = false
    /// Its first record showed a CommuniGate outbound channel (`SessionRules.observe`):
    /// what decides whether it opens a channel not seen today, so that the decision does
    /// not depend on where a chunk was cut (the facts of the whole fragment would).
    var firstOutbound = false
    /// A session's stretch in one chunk fits in one allocation, not five growths. Not
    /// more: a window of one-line sessions (hostile input) holds this much for every line.
    package var lines = LineList(capacity: 24)
    /// Bytes of `lines`.
    package var bytes = 0
    package var facts = SessionFacts()
    /// The facts were moved out for the session's record (`SessionStitcher.record(_:taking:)`).
    var factsTaken = false
    /// The reply code seen before any command in this fragment: it answers a
    /// command left pending by the session's previous fragment.
    var leadingResponse = -1
    var sawCommand = false
    /// The HELO name came from the channel's context; a logged HELO command replaces it.
    var heloFromContext = false
    package var pending: PendingCommand? = nil
    /// Window offsets of the first and last record's timestamp.
    var firstTime: Range<Int> = 0..<0
    var lastTime: Range<Int> = 0..<0

    // Set when the chunk is stitched:
    var window: Window! = nil
    /// Line number (1-based) of the chunk's first line.
    var chunkFirstLine: UInt64 = 0

    package init(key: ChannelKey) {
        self.key = key
    }

    func text(_ r: Range<Int>) -> [UInt8] { Array(window.bytes[r]) }

    /// Copies the fragment's lines out of its window into memory of its own, so the
    /// window can be released while the session stays open.
    func detach() {
        if window.owner is OwnedBytesTag { return }
        var total = 0
        lines.withUnsafeBufferPointer { for l in $0 { total += Int(l.length) } }
        total += firstTime.count + lastTime.count
        let owned = OwnedBytes(count: total)
        var at = 0
        let src = window.bytes.baseAddress!
        func copy(_ from: Int, _ n: Int) -> Int {
            if n > 0 { owned.pointer.advanced(by: at).copyMemory(from: src + from, byteCount: n) }
            defer { at += n }
            return at
        }
        // Provenance is kept: offsets in `lines` become offsets in the copy, and the
        // stream offset of each line is rebuilt from `streamOffsets`.
        var offsets = [UInt64](); offsets.reserveCapacity(lines.count)
        for i in lines.indices {
            offsets.append(window.streamOffset + UInt64(lines[i].offset))
            lines[i].offset = UInt32(copy(Int(lines[i].offset), Int(lines[i].length)))
        }
        let ft = copy(firstTime.lowerBound, firstTime.count)
        firstTime = ft..<(ft + firstTime.count)
        let lt = copy(lastTime.lowerBound, lastTime.count)
        lastTime = lt..<(lt + lastTime.count)
        detachedStreamOffsets = offsets
        window = Window(bytes: owned.buffer, owner: OwnedBytesTag(owned), source: window.source,
                        date: window.date, streamOffset: 0, firstLineNumber: window.firstLineNumber)
    }

    /// Stream offsets of the lines, once detached.
    var detachedStreamOffsets: [UInt64]? = nil

    func streamOffset(ofLine i: Int) -> UInt64 {
        if let d = detachedStreamOffsets { return d[i] }
        return window.streamOffset + UInt64(lines[i].offset)
    }
}

/// Marks a window whose bytes are a fragment's private copy.
final class OwnedBytesTag {
    package let bytes: OwnedBytes
    package init(_ b: OwnedBytes) { bytes = b }
}

/// A session left open at the end of an indexing run, kept in the index so the
/// next run can continue it (a session open at midnight goes on in the next file).
public struct CarriedSession: Sendable, Equatable {
    /// The session so far (incomplete; `end` is nil).
    public var session: Session
    /// Whether its first record was the channel's opening record.
    public var opened: Bool
    /// The command still waiting for its reply.
    package var pending: PendingCommand?
    /// Time of its last record, as written.
    public var lastTime: [UInt8]

    package init(session: Session, opened: Bool, pending: PendingCommand?, lastTime: [UInt8]) {
        self.session = session; self.opened = opened; self.pending = pending; self.lastTime = lastTime
    }
}

extension Fragment {
    /// Fragments that stand for a carried session: one per run of lines from the same
    /// source, holding copies of the lines and their provenance.
    static func rebuilt(from c: CarriedSession) -> [Fragment] {
        let s = c.session
        var groups = [Range<Int>]()
        var start = 0
        for i in 1..<max(1, s.lines.count + 1) where i == s.lines.count || s.lines[i].source != s.lines[i - 1].source {
            groups.append(start..<i)
            start = i
        }
        var out = [Fragment]()
        for g in groups where !g.isEmpty {
            let f = Fragment(key: s.channel)
            var bytes = [UInt8]()
            var offsets = [UInt64]()
            for i in g {
                let line = s.lines[i]
                f.lines.append(LineRef(lineInChunk: UInt32(truncatingIfNeeded: line.lineNumber), offset: UInt32(bytes.count), length: line.length))
                bytes += s.bytes(ofLine: i)
                offsets.append(line.byteOffset)
            }
            f.bytes = bytes.count
            let t0 = bytes.count
            bytes += s.start
            f.firstTime = t0..<bytes.count
            let t1 = bytes.count
            bytes += c.lastTime
            f.lastTime = t1..<bytes.count
            let owned = OwnedBytes(count: bytes.count)
            bytes.withUnsafeBytes { if $0.count > 0 { owned.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            f.window = Window(bytes: owned.buffer, owner: OwnedBytesTag(owned), source: s.lines[g.lowerBound].source,
                              date: s.date, streamOffset: 0, firstLineNumber: 0)
            f.chunkFirstLine = 0
            f.detachedStreamOffsets = offsets
            out.append(f)
        }
        if out.isEmpty { return [] }
        out[0].opens = c.opened
        out[0].facts = s.facts
        out[out.count - 1].sawCommand = true
        out[out.count - 1].pending = c.pending
        return out
    }
}
