import MaildexSupport
import MaildexParse
import MaildexRead

/// Joins the fragments of parsed chunks, in stream order, into whole sessions,
/// across chunk, window and file boundaries.
///
/// Chunks are parsed in parallel, each without knowing what was open before it;
/// the stitcher replays their fragments in order, so the sessions equal those of
/// one sequential read. It does little per fragment (no per-line work); turning a
/// finished session into a `Session` value (`SessionStitcher.build`) is separate
/// and can run in parallel.
public final class SessionStitcher {
    /// A session still being assembled.
    package final class Pending {
        package let number: UInt64
        package let date: CivilDate
        package var fragments: [Fragment]
        /// Bytes of the lines so far.
        package var bytes = 0
        package init(number: UInt64, date: CivilDate, first: Fragment) {
            self.number = number; self.date = date; bytes = first.bytes
            // Most sessions span a few chunks: room for them without growing.
            fragments = []
            fragments.reserveCapacity(4)
            fragments.append(first)
        }
        package init(number: UInt64, date: CivilDate, fragments: [Fragment]) {
            self.number = number; self.date = date; self.fragments = fragments
            bytes = fragments.reduce(0) { $0 + $1.bytes }
        }
    }

    private var open: [ChannelKey: Pending] = [:]
    /// The most line bytes one session holds before it is cut (see `add`).
    static let maxSessionBytes = 64 << 20
    public private(set) var nextNumber: UInt64
    /// Sessions finished since the last `takeFinished()`, in order of finishing.
    private var finished: [Pending] = []

    /// Numbers of message trails (`ChannelKey.isTrail`): from `trailBase` up, apart from
    /// sessions' numbers, so that every segment's table lists its trails after its sessions
    /// (postings keep 40 bits of a number: sessions and trails have 2^39 each).
    public static let trailBase: UInt64 = 1 << 39
    public private(set) var nextTrailNumber: UInt64

    /// Outbound CommuniGate channels that began today: such a channel has no opening
    /// record, so its first record of the day opens its session.
    private var outboundSeen = Set<ChannelKey>()
    private var outboundDate: CivilDate? = nil

    public init(firstNumber: UInt64 = 0, firstTrailNumber: UInt64 = SessionStitcher.trailBase) {
        nextNumber = firstNumber
        nextTrailNumber = max(firstTrailNumber, Self.trailBase)
    }

    public var openCount: Int { open.count }

    /// What the last line stitched belongs to (within the current file).
    private var lastLineOwner: LineOwner? = nil
    private var lastLineSource: UInt32? = nil

    /// The next window, of `source`, goes on from a line `owner` owns (`Sessionizer.continuing`).
    func continueLastLine(_ owner: LineOwner, source: UInt32) {
        lastLineOwner = owner
        lastLineSource = source
    }

    /// Adds one parsed chunk (its fragments in order) from `window`. Returns how many of
    /// the chunk's lines before its first record continue a record of an earlier window
    /// (a window cut where no record began for a whole window): they are given to that
    /// record's session, or dropped like any continuation of a record of no session, and
    /// are not unparsed.
    @discardableResult
    func add(_ chunk: ChunkResult, window: Window, chunkFirstLine: UInt64) -> Int {
        var continued = 0
        // A new file (or the part of one that grew since a run before): its first lines
        // continue nothing of the file before.
        if window.source != lastLineSource { lastLineOwner = nil; lastLineSource = window.source }
        if !chunk.leading.isEmpty, window.streamOffset > 0, let owner = lastLineOwner {
            switch owner {
            case .noSession:
                continued = chunk.leading.count
            case .session(let key):
                let f = Fragment(key: key)
                f.lines = LineList(copying: chunk.leading)
                f.bytes = chunk.leading.reduce(0) { $0 + Int($1.length) }
                f.window = window
                f.chunkFirstLine = chunkFirstLine
                if key.isTrail {
                    finishTrail(f, window)
                } else if let s = open[key] {
                    s.fragments.append(f)
                    s.bytes += f.bytes
                    // The same size limit as for records (see below).
                    if s.bytes > SessionStitcher.maxSessionBytes {
                        finished.append(s)
                        open.removeValue(forKey: key)
                    }
                } else {
                    // Its session has ended (closed, or cut at the size limit): the lines
                    // start another, incomplete, rather than being lost.
                    start(f, window)
                }
                continued = chunk.leading.count
            }
        }
        if window.streamOffset == 0 && chunkFirstLine == window.firstLineNumber { lastLineOwner = nil }
        if let e = chunk.endsIn { lastLineOwner = e }
        if outboundDate != window.date { outboundSeen.removeAll(keepingCapacity: true); outboundDate = window.date }
        for f in chunk.fragments {
            f.window = window
            f.chunkFirstLine = chunkFirstLine
            if f.key.isTrail {
                // The chunk's records about messages: a row of their own, never joined to
                // another chunk's (a query gathers a message's records by its id).
                finishTrail(f, window)
                continue
            }
            if f.firstOutbound, !f.opens, open[f.key] == nil, !outboundSeen.contains(f.key) {
                // The first record of an outbound channel not seen before today opens it
                // (when that record shows it is one: not a later record of the fragment,
                // which a chunk cut elsewhere would have put in another).
                f.opens = true
            }
            if f.facts.outbound { outboundSeen.insert(f.key) }
            if f.opens {
                if let previous = open.removeValue(forKey: f.key) { finished.append(previous) }
                start(f, window)
            } else if let s = open[f.key] {
                s.fragments.append(f)
                s.bytes += f.bytes
                if s.bytes > SessionStitcher.maxSessionBytes, !f.closes {
                    // A channel that never closes and keeps writing: end the session here
                    // (incomplete); its later lines start another. Nothing is lost, and a
                    // session stays small enough for 32-bit offsets in its block.
                    finished.append(s)
                    open.removeValue(forKey: f.key)
                }
            } else {
                start(f, window)
            }
            if f.closes, let s = open.removeValue(forKey: f.key) { finished.append(s) }
        }
        return continued
    }

    private func finishTrail(_ f: Fragment, _ window: Window) {
        finished.append(Pending(number: nextTrailNumber, date: window.date, first: f))
        nextTrailNumber += 1
    }

    private func start(_ f: Fragment, _ window: Window) {
        let s = Pending(number: nextNumber, date: window.date, first: f)
        nextNumber += 1
        open[f.key] = s
    }

    /// Sessions that ended since the last call.
    func takeFinished() -> [Pending] {
        defer { finished.removeAll(keepingCapacity: true) }
        return finished
    }

    /// Ends every open session (incomplete): the file set is over.
    func finishAll() -> [Pending] {
        var all = takeFinished()
        all += open.values.sorted { $0.number < $1.number }
        open.removeAll()
        return all
    }

    /// Sessions still open, with what it takes to continue them in a later run.
    func openSessions() -> [CarriedSession] {
        open.values.sorted { $0.number < $1.number }.map { p in
            let (_, pending) = Self.merge(p.fragments)
            let last = p.fragments[p.fragments.count - 1]
            var session = Self.build(p)
            session.end = nil
            return CarriedSession(session: session, opened: p.fragments[0].opens, pending: pending,
                                  lastTime: last.text(last.lastTime))
        }
    }

    /// Takes up sessions a previous run left open: later records of their channels
    /// continue them, under their original numbers.
    func resume(_ carried: [CarriedSession]) {
        for c in carried {
            let fragments = Fragment.rebuilt(from: c)
            guard !fragments.isEmpty else { continue }
            open[c.session.channel] = Pending(number: c.session.number, date: c.session.date, fragments: fragments)
        }
    }

    /// Copies the bytes of open sessions out of their windows, so that the windows
    /// can be released; call before a window's memory goes away.
    func detachOpen() {
        for s in open.values { for f in s.fragments where f.detachedStreamOffsets == nil { f.detach() } }
    }

    /// The facts of a session's fragments taken together, and the command still
    /// waiting for its reply at the end. With `taking`, the facts are moved out of the
    /// fragments rather than copied (no reference count on each address, whose count
    /// lives on a cache line the parsing core wrote): for a last use of the fragments.
    static func merge(_ fragments: [Fragment], taking: Bool = false) -> (SessionFacts, PendingCommand?) {
        // The first fragment's facts as they are (copying the arrays, not each address).
        guard let first = fragments.first else { return (SessionFacts(), nil) }
        // Facts taken once are gone: a second record of the same fragments would be wrong.
        precondition(!fragments.contains { $0.factsTaken }, "a session's facts were taken twice")
        var facts = SessionFacts()
        if taking { swap(&facts, &first.facts); first.factsTaken = true } else { facts = first.facts }
        var pending: PendingCommand? = first.sawCommand ? first.pending : nil
        // A HELO name taken from a channel's name gives way to one a command gives, in a
        // later fragment as in the same one (`SessionRules.observe`; found by FuzzSessions).
        var heloFromContext = first.heloFromContext
        for f in fragments.dropFirst() {
            if let p = pending, f.leadingResponse >= 0 { SessionRules.apply(p, f.leadingResponse, &facts); pending = nil }
            if f.facts.helo != nil {
                if facts.helo == nil { heloFromContext = f.heloFromContext }
                else if heloFromContext && !f.heloFromContext { facts.helo = nil; heloFromContext = false }
            }
            if taking { facts.append(taking: &f.facts); f.factsTaken = true } else { facts.append(f.facts) }
            if f.sawCommand { pending = f.pending } else if f.leadingResponse >= 0 { pending = nil }
        }
        return (facts, pending)
    }

    /// The session as the store writes it, straight from its fragments (no copy of its lines).
    /// With `taking`, the facts are moved out of the fragments (see `merge`): the caller
    /// drops them once the record is encoded.
    package static func record(_ s: Pending, taking: Bool = false) -> SessionRecord {
        let fragments = s.fragments
        let first = fragments[0], last = fragments[fragments.count - 1]
        let (facts, _) = merge(fragments, taking: taking)
        var count = 0, bytes = 0
        for f in fragments {
            count += f.lines.count
            f.lines.withUnsafeBufferPointer { for l in $0 { bytes += Int(l.length) } }
        }
        let complete = first.opens && last.closes
        let timed = firstTimed(fragments)
        let startSecond = RecordParser.secondOfDay(UnsafeRawBufferPointer(rebasing: timed.window.bytes[timed.firstTime]))
        return SessionRecord(number: s.number, date: s.date, channel: first.key, complete: complete,
                             startSecond: startSecond, facts: facts, lineCount: count, textBytes: bytes,
                             firstSource: first.window.source) { body in
            for f in fragments {
                let w = f.window!
                let window = w.bytes, source = w.source, streamBase = w.streamOffset
                let detached = f.detachedStreamOffsets
                let firstLine = f.chunkFirstLine
                f.lines.withUnsafeBufferPointer { refs in
                    for (i, l) in refs.enumerated() {
                        let o = Int(l.offset)
                        body(source, firstLine + UInt64(l.lineInChunk), detached?[i] ?? streamBase + UInt64(l.offset),
                             UnsafeRawBufferPointer(rebasing: window[o..<(o + Int(l.length))]), l.header)
                    }
                }
            }
        }
    }

    /// The fragment with the session's first record time: a session that begins with the
    /// rest of a line cut at a window's limit (a line longer than a window) has no time in
    /// its first fragment.
    static func firstTimed(_ fragments: [Fragment]) -> Fragment {
        fragments.first { !$0.firstTime.isEmpty } ?? fragments[0]
    }

    /// Reads the first and last byte of each of the session's lines and its times, so
    /// that they are in cache when the session is encoded; returns a value to keep.
    package static func touch(_ s: Pending) -> Int {
        var sum = 0
        for f in s.fragments {
            let w = f.window.bytes
            if !f.firstTime.isEmpty { sum &+= Int(w[f.firstTime.lowerBound]) }
            if !f.lastTime.isEmpty { sum &+= Int(w[f.lastTime.lowerBound]) }
            // The facts' addresses and ids, which the session's record and terms read next.
            sum &+= touch(f.facts.from) &+ touch(f.facts.to) &+ touch(f.facts.rejected) &+ touch(f.facts.messages)
            sum &+= f.facts.helo?.count ?? 0
            f.lines.withUnsafeBufferPointer { refs in
                for l in refs where l.length > 0 {
                    sum &+= Int(w[Int(l.offset)]) &+ Int(w[Int(l.offset) + Int(l.length) - 1])
                }
            }
        }
        return sum
    }

    /// Reads each element's length (the first line of its buffer).
    @inline(__always) private static func touch(_ list: [[UInt8]]) -> Int {
        list.withUnsafeBufferPointer { l in
            var sum = 0
            for i in l.indices { sum &+= l[i].count }
            return sum
        }
    }

    /// The `Session` value of a finished session: its record, with the lines copied out.
    static func build(_ s: Pending) -> Session {
        let r = record(s)
        var lines = [SessionLine]()
        lines.reserveCapacity(r.lineCount)
        let text = [UInt8](unsafeUninitializedCapacity: r.textBytes) { out, filled in
            var at = 0
            r.forEachLine { source, number, offset, bytes, _ in
                if bytes.count > 0 {
                    (out.baseAddress! + at).update(from: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), count: bytes.count)
                }
                lines.append(SessionLine(source: source, lineNumber: number, byteOffset: offset,
                                         length: UInt32(bytes.count), textOffset: UInt32(at)))
                at += bytes.count
            }
            filled = at
        }
        let timed = firstTimed(s.fragments), last = s.fragments[s.fragments.count - 1]
        return Session(number: r.number, date: r.date, channel: r.channel, start: timed.text(timed.firstTime),
                       end: r.complete ? last.text(last.lastTime) : nil, complete: r.complete, facts: r.facts, text: text, lines: lines)
    }
}
