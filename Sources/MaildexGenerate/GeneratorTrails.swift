import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// A message waiting in the queue for an outbound session (CommuniGate).
struct QueuedMessage {
    var id: [UInt8]
    /// The sender, normalised (empty: the null sender).
    var from: [UInt8]
}

/// A record of no session waiting for its time: a message's trail record (`id` set) or
/// another component's record (`id` empty).
struct PendingRecord {
    /// When it is due (ms since the first day's midnight); written at the first steps after.
    var due: Int64 = 0
    var seq: UInt64 = 0
    /// The level, then the text; continuation lines follow after `\n`.
    var text: [UInt8]
    var id: [UInt8]
    /// Once written, this message may go out (an outbound session may take it).
    var release: QueuedMessage? = nil
}

/// Pending records by (due, seq), a binary min-heap of plain entries over a slab of the
/// records themselves: the records of one trail, due in order, are written in order.
struct PendingHeap {
    struct Entry { var due: Int64; var seq: UInt64; var slot: Int32 }
    var heap: [Entry] = []
    var slab: [PendingRecord] = []
    var free: [Int32] = []

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }
    var firstDue: Int64 { heap[0].due }

    @inline(__always) static func less(_ a: Entry, _ b: Entry) -> Bool {
        a.due < b.due || (a.due == b.due && a.seq < b.seq)
    }

    mutating func push(_ r: PendingRecord) {
        let slot: Int32
        if let f = free.popLast() { slab[Int(f)] = r; slot = f } else { slot = Int32(slab.count); slab.append(r) }
        heap.append(Entry(due: r.due, seq: r.seq, slot: slot))
        var i = heap.count - 1
        let e = heap[i]
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(e, heap[parent]) else { break }
            heap[i] = heap[parent]
            i = parent
        }
        heap[i] = e
    }

    mutating func pop() -> PendingRecord {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            var i = 0
            let n = heap.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = l
                if l >= n { break }
                if r < n, Self.less(heap[r], heap[l]) { m = r }
                guard Self.less(heap[m], last) else { break }
                heap[i] = heap[m]
                i = m
            }
            heap[i] = last
        }
        let slot = Int(top.slot)
        let r = slab[slot]
        slab[slot] = PendingRecord(text: [], id: [])
        free.append(top.slot)
        return r
    }
}

/// Byte strings of the trails, made once.
enum TrailText {
    static let system = Array("SYSTEM [".utf8), systemPOP = Array("SYSTEM(POP) [".utf8)
    static let fromLine = Array("@host.example>\n0+1 From:".utf8)
    static let deliveredTo = Array("] delivered to (user".utf8), relayedTo = Array("] relayed to <".utf8)
    static let deleted = Array("] deleted".utf8)
    static let routerLocal = Array("ROUTER LOCAL: '<".utf8), accepted = Array(">' accepted".utf8)
    static let queue = Array("QUEUE([".utf8), from = Array("]) from <".utf8), bytesMsgID = Array(" bytes (<".utf8)
    static let hostMsgID = Array("@host.example>)".utf8)
    static let dkimOut = Array("EXTFILTER(DKIM_verify) out(036): ".utf8), fileQueue = Array(" FILE Queue/".utf8)
    static let msg = Array(".msg".utf8), dkimIn = Array("EXTFILTER(DKIM_verify) inp(042): ".utf8)
    static let dkimPass = Array(" ADDHEADER \"DKIM-Check-Result: pass\"".utf8)
    static let kaspersky = Array("EXTFILTER(kaspersky) [".utf8)
    static let kasperskyDone = Array("] ADDHEADER(X-KAS-Status: KAS_STATUS_NOT_SPAM) completed".utf8)
    static let enqueued = Array("]) enqueued".utf8), queueDeleted = Array("]) deleted".utf8)
    static let local = Array("LOCAL-".utf8), localClose = Array(") [".utf8)
    static let storedOn = Array("] stored on [10.46.2.52]:25".utf8)
    static let dequeuer = Array("DEQUEUER [".utf8), dequeuerDash = Array("DEQUEUER-".utf8)
    static let deliveredMailbox = Array("] delivered: Delivered to the user mailbox".utf8)
    static let smtpOpen = Array("SMTP(".utf8), batchRelayed = Array("] batch relayed".utf8), smtpCtx = Array("] SMTP(".utf8)
    static let relayedVia = Array(" relayed: relayed via ".utf8), processing = Array("] processing".utf8)
    static let spaceBracket = Array(" [".utf8), mx = Array("mx.".utf8)
}

/// One record's bytes, built in one allocation: `level`, then the pieces.
@inline(__always)
func trailRecord(_ level: UInt8, _ build: (inout [UInt8]) -> Void) -> [UInt8] {
    var b = [UInt8]()
    b.reserveCapacity(120)
    b.append(level)
    build(&b)
    return b
}

extension Array where Element == UInt8 {
    /// Appends `v` in decimal.
    @inline(__always) mutating func appendDecimal(_ v: Int) {
        var d = 1
        while d <= v / 10 { d *= 10 }
        while d > 0 { append(UInt8(48 + (v / d) % 10)); d /= 10 }
    }

    /// Appends `v` in decimal, zero-padded to six digits.
    @inline(__always) mutating func appendPad6(_ v: Int) {
        var d = 100_000
        while d > 0 { append(UInt8(48 + (v / d) % 10)); d /= 10 }
    }
}

/// The generator's message trails (the records about a message: `SYSTEM [S.N]` in Stalker,
/// `QUEUE([N])`, `DEQUEUER [N]`, `LOCAL-N(...) [N]`, `SMTP(queue) [N]` in CommuniGate) and
/// its CommuniGate outbound sessions (`SMTP-N(relay or domain)`).
extension CorpusGenerator {
    // MARK: - Trails

    enum TrailTiming { case soon, afterEnd, late }

    /// When a trail's later records come: soon (while the session still runs), after the
    /// session has ended, or in the next file (a few percent).
    func trailTiming() -> TrailTiming {
        let r = random.unit()
        return r < 0.04 ? .late : (r < 0.40 ? .afterEnd : .soon)
    }

    /// Schedules `records` in order, from `start`, a few milliseconds apart (sometimes none),
    /// never before a record's own `due` (its floor). Returns the last due time.
    @discardableResult
    func place(_ records: [PendingRecord], from start: Int64) -> Int64 {
        var t = start
        for var r in records {
            t = max(t + Int64(random.below(40)), r.due)
            r.due = t
            r.seq = pendingSeq
            pendingSeq += 1
            pending.push(r)
        }
        return t
    }

    /// Schedules a trail's later records (none may precede `after`) by `trailTiming`.
    func scheduleLater(_ records: [PendingRecord], session: GenSession, after: Int64) {
        switch trailTiming() {
        case .afterEnd:
            for var r in records {
                r.due = after
                session.deferred.append(r)
            }
        case .late where nextFileIndex < fileStartTimes.count:
            place(records, from: max(after, fileStartTimes[nextFileIndex]) + Int64(random.below(900_000)))
        default:
            place(records, from: max(after, now) + 200 + Int64(random.below(8000)))
        }
    }

    /// Writes the next due record of no session; a trail record's lines go to its message's truth.
    func writePending() {
        let r = pending.pop()
        let file = fileIndex, first = fileLine + 1
        writeRaw(r.text)
        if options.recordTruth && options.recordLines && !r.id.isEmpty {
            for k in first...fileLine { trailLines[r.id, default: []].append(TruthLine(file: file, line: k)) }
        }
        if let q = r.release { relayPool.append(q) }
    }

    /// A session's message was received (its received record was just written): its trail.
    func receivedMessage(_ s: GenSession, _ m: Int) {
        let id = s.messageIDs[m], from = s.fromWritten[m], rcpt = s.recipientOf[m]
        let relay = !stalker && options.outboundShare > 0 && random.chance(0.2)
        guard options.messageTrails else {
            if relay { relayPool.append(QueuedMessage(id: id, from: from)) }
            return
        }
        typealias T = TrailText
        var first = [PendingRecord]()
        var later = [PendingRecord]()
        first.reserveCapacity(6)
        later.reserveCapacity(3)
        if stalker {
            // SYSTEM [S.N] <msgid>, its continuation `0+1 From:...`; delivered or relayed; deleted.
            first.append(PendingRecord(text: trailRecord(2) { b in
                b += T.system; b += id; b += [93, 32, 60]; b.appendDecimal(random.below(1000)); b.append(46)
                b.appendDecimal(random.below(999999)); b += T.fromLine; b += from
            }, id: id))
            if random.chance(0.8) {
                later.append(PendingRecord(text: trailRecord(2) { b in
                    b += T.systemPOP; b += id; b += T.deliveredTo; b.appendDecimal(random.below(50)); b.append(41)
                }, id: id))
            } else {
                later.append(PendingRecord(text: trailRecord(2) { b in b += T.system; b += id; b += T.relayedTo; b += rcpt; b.append(62) },
                                           id: id))
            }
            later.append(PendingRecord(text: trailRecord(2) { b in b += T.system; b += id; b += T.deleted }, id: id))
        } else {
            if random.chance(0.5) {
                first.append(PendingRecord(text: trailRecord(2) { b in b += T.routerLocal; b += rcpt; b += T.accepted }, id: []))
            }
            first.append(PendingRecord(text: trailRecord(2) { b in
                b += T.queue; b += id; b += T.from; b += from; b += [62, 44, 32]; b.appendDecimal(s.sizes[m]); b += T.bytesMsgID
                b.appendDecimal(random.below(999999)); b += T.hostMsgID
            }, id: id))
            if random.chance(0.4) {
                // Another component's records that name the message only in a path: no trail's.
                let n = 1000 + random.below(900_000)
                first.append(PendingRecord(text: trailRecord(5) { b in
                    b += T.dkimOut; b.appendDecimal(n); b += T.fileQueue; b.appendDecimal(random.below(100)); b.append(47); b += id; b += T.msg
                }, id: []))
                first.append(PendingRecord(text: trailRecord(5) { b in b += T.dkimIn; b.appendDecimal(n); b += T.dkimPass }, id: []))
            }
            if random.chance(0.2) {
                first.append(PendingRecord(text: trailRecord(4) { b in b += T.kaspersky; b += id; b += T.kasperskyDone }, id: id))
            }
            first.append(PendingRecord(text: trailRecord(2) { b in b += T.queue; b += id; b += T.enqueued }, id: id,
                                       release: relay ? QueuedMessage(id: id, from: from) : nil))
            if !relay {
                later.append(PendingRecord(text: trailRecord(2) { b in
                    b += T.local; b.appendPad6(random.below(200)); b.append(40); b += rcpt; b += T.localClose; b += id; b += T.storedOn
                }, id: id))
                later.append(PendingRecord(text: trailRecord(2) { b in b += T.dequeuer; b += id; b += T.deliveredMailbox }, id: id))
                later.append(PendingRecord(text: trailRecord(2) { b in b += T.queue; b += id; b += T.queueDeleted }, id: id))
            }
        }
        let last = place(first, from: now + 1 + Int64(random.below(300)))
        if !later.isEmpty { scheduleLater(later, session: s, after: last) }
    }

    /// An outbound session's `sent ... got:250` record was written: the relay's records.
    func sentMessage(_ s: GenSession) {
        guard options.messageTrails, let q = s.relay else { return }
        typealias T = TrailText
        let id = q.id
        let later = [
            PendingRecord(text: trailRecord(4) { b in b += T.smtpOpen; b += s.target; b += T.localClose; b += id; b += T.batchRelayed },
                          id: id),
            PendingRecord(text: trailRecord(2) { b in
                b += T.dequeuer; b += id; b += T.smtpCtx; b += s.target; b.append(41); b += s.addresses[1]; b += T.relayedVia
                if s.targetIsRelay { b += s.peerText } else { b += T.mx; b += s.target }
            }, id: id),
            PendingRecord(text: trailRecord(4) { b in
                b += T.dequeuerDash; b.appendPad6(random.below(100)); b += T.spaceBracket; b += id; b += T.processing
            }, id: id),
            PendingRecord(text: trailRecord(2) { b in b += T.queue; b += id; b += T.queueDeleted }, id: id),
        ]
        scheduleLater(later, session: s, after: max(now, s.trailFloor))
    }

    /// A session has ended: the trail records it held back are due now.
    func releaseDeferred(_ s: GenSession) {
        guard !s.deferred.isEmpty else { return }
        place(s.deferred, from: now + 10 + Int64(random.below(2000)))
        s.deferred = []
    }

    // MARK: - Outbound sessions (CommuniGate)

    /// Starts an outbound session delivering a queued message (usually one an inbound
    /// session received, sometimes one that came another way).
    func startOutbound() {
        let id = cgpBase + nextOutID
        nextOutID = (nextOutID + 1) % 250_000
        var fresh = false
        let q: QueuedMessage
        if !relayPool.isEmpty && random.chance(0.85) {
            q = relayPool.swapAt(random.below(relayPool.count))
        } else {
            nextMessage += 1
            q = QueuedMessage(id: Array(String(nextMessage).utf8), from: sender().normal)
            fresh = true
        }
        let s: GenSession
        var domain: [UInt8] = []
        if random.chance(0.4) {
            // Through a relay: `SMTP-N(193.95.123.24:25)`, the relay is the remote.
            let r = relays[random.below(relays.count)]
            s = GenSession(key: ChannelKey(kind: ChannelKey.smtp, id: id), idText: Array(pad6(id)), peer: r.ip, peerText: r.text,
                           port: 25, helo: Array("mail.example.com".utf8))
            s.target = r.text + Array(":25".utf8)
            s.targetIsRelay = true
        } else {
            // To the recipients' domain: `SMTP-N(labanquepostale.fr)`; the remote is known from `sent`.
            let k = random.below(211)
            domain = Array((k % 5 == 0 ? "labanquepostale.fr" : k % 5 == 1 ? "example.fr" : "dom\(k).example").utf8)
            let p = peers[random.below(peers.count)]
            s = GenSession(key: ChannelKey(kind: ChannelKey.smtp, id: id), idText: Array(pad6(id)), peer: p.ip, peerText: p.text,
                           port: 25, helo: Array("mail.example.com".utf8))
            s.target = domain
        }
        s.outbound = true
        s.relay = q
        scriptOutbound(s, domain: domain)
        if random.chance(0.05) { s.stop = max(s.next + 1, s.steps.count - 1 - random.below(6)); s.vanishes = true }
        s.truthIndex = truth.count
        truth.append(nil)
        active.append(s)
        if fresh && options.messageTrails {
            // A message that came another way (no session of this log received it).
            let first = [
                PendingRecord(text: trailRecord(2) { b in
                    b += TrailText.queue; b += q.id; b += TrailText.from; b += q.from; b += [62, 44, 32]
                    b.appendDecimal(500 + random.below(40000)); b += TrailText.bytesMsgID; b.appendDecimal(random.below(999999))
                    b += TrailText.hostMsgID
                }, id: q.id),
                PendingRecord(text: trailRecord(2) { b in b += TrailText.queue; b += q.id; b += TrailText.enqueued }, id: q.id),
            ]
            s.trailFloor = place(first, from: now + 1)
        }
    }

    /// The script of an outbound session: greeting, EHLO, one message to one to three
    /// recipients, `sent` or `reenqueueing`, QUIT, `closing connection`.
    func scriptOutbound(_ s: GenSession, domain: [UInt8]) {
        let q = s.relay!
        func command(_ text: [UInt8], _ sem: GenMeaning, _ value: Int = 0) {
            s.record(4, .target, GenText.cmd + text, sem, value)
        }
        func reply(_ code: Int, _ text: String) {
            s.record(4, .target, GenText.rsp + Array("\(code) \(text)".utf8), .response, code)
        }
        let mx = domain.isEmpty ? "relay.example.net" : "mx." + String(decoding: domain, as: UTF8.self)
        // The greeting opens the session; its EHLO is written with it.
        s.record(4, .target, GenText.rsp + Array("220 \(mx) ESMTP".utf8), .response, 220,
                 flags: GenStep.opens | GenStep.withNext)
        command(Array("EHLO ".utf8) + s.helo, .helo)
        reply(250, "\(mx) Hello mail.example.com")
        s.addresses.append(q.from)
        command(Array("MAIL FROM:<".utf8) + q.from + [62], .mail, 0)
        reply(250, "2.1.0 Ok")
        for k in 0..<(1 + (random.chance(0.3) ? random.below(3) : 0)) {
            let j = random.below(500)
            let rcpt = Array("friend\(j)@".utf8) + (domain.isEmpty ? Array("dom\(j % 211).example".utf8) : domain)
            s.addresses.append(rcpt)
            command(Array("RCPT TO:<".utf8) + rcpt + [62], .rcpt, s.addresses.count - 1)
            // The first recipient is taken (its address names the relay record).
            if k > 0 && random.chance(0.15) {
                reply(550, "5.1.1 <\(String(decoding: rcpt, as: UTF8.self))> unknown user")
            } else {
                reply(250, "2.1.5 Ok")
            }
        }
        command(Array("DATA".utf8), .otherCommand)
        reply(354, "End data with <CR><LF>.<CR><LF>")
        s.messageIDs.append(q.id)
        if random.chance(0.88) {
            let n = 10_000_000 + random.below(90_000_000)
            reply(250, "ok:  Message \(n) accepted")
            s.record(2, .target, [91] + q.id + Array("] sent [10.0.0.5]:\(1024 + random.below(64000)) -> [".utf8) + s.peerText
                     + Array("]:25, got:250 ok:  Message \(n) accepted".utf8), .sent, 0)
        } else {
            reply(451, "4.3.0 try again later")
            s.record(3, .target, [91] + q.id + Array("] reenqueueing addresses with temporary failure".utf8), .reenqueue, 0)
        }
        command(Array("QUIT".utf8), .otherCommand)
        reply(221, "2.0.0 Bye")
        s.record(5, .target, Array("closing connection".utf8), flags: GenStep.closes)
        s.stop = s.steps.count
    }
}
