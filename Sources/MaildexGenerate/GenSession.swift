#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// Byte strings the generator writes again and again, made once.
enum GenText {
    static let smtpDash = Array("SMTP-".utf8), smtpiDash = Array("SMTPI-".utf8)
    static let inputLine = Array("Input Line: ".utf8), cmd = Array("cmd: ".utf8)
    static let sending = Array("Sending ".utf8), rsp = Array("rsp: ".utf8)
    static let cr = Array("\\r".utf8), crlf = Array("\\r\\n".utf8)
}

/// What a generated line means, for the ground truth.
enum GenMeaning: UInt8 {
    case none, peer, helo, mail, rcpt, startTLS, otherCommand, response, message, messageEncrypted, auth
    /// Outbound: `[id] sent ... got:250 ...` (the remote took the message), `[id] reenqueueing ...`.
    case sent, reenqueue
}

/// One line of a generated session's script.
struct GenStep {
    static let continuation: UInt16 = 1
    static let contextIP: UInt16 = 2
    static let opens: UInt16 = 4
    static let closes: UInt16 = 8
    /// The context is a HELO name (not bracketed): CommuniGate's HELO when no command gave it.
    static let contextHelo: UInt16 = 16
    /// Written together with the step after it (an outbound session's greeting and EHLO).
    static let withNext: UInt16 = 32
    /// The context is an outbound relay `ip:port`: the peer, port 25.
    static let contextRelay: UInt16 = 64
    /// A received record naming the account, `received(account NAME)`.
    static let account: UInt16 = 128

    var start: Int32
    var end: Int32
    var level: UInt8
    var flags: UInt16
    var sem: GenMeaning
    /// Reply code, or index into the session's addresses / message ids.
    var value: Int32
}

/// A session the generator is writing: its whole script, rendered once into
/// `body`, and how far it has got.
final class GenSession {
    let key: ChannelKey
    let idText: [UInt8]
    let peer: IPAddress
    let peerText: [UInt8]
    let port: Int
    var helo: [UInt8]

    var body = [UInt8]()
    var steps = [GenStep]()
    var next = 0
    var stop = 0
    var vanishes = false

    var addresses: [[UInt8]] = []
    var messageIDs: [[UInt8]] = []
    var fromWritten: [[UInt8]] = []
    var authName: [UInt8] = []
    /// Per message: the first accepted recipient and the size received.
    var recipientOf: [[UInt8]] = []
    var sizes: [Int] = []
    /// CommuniGate inbound: the received records name the account.
    var accountInReceived = false

    /// Outbound (CommuniGate `SMTP-N`): the context written (relay `ip:port` or domain),
    /// and the queued message the session delivers.
    var outbound = false
    var target: [UInt8] = []
    var targetIsRelay = false
    var relay: QueuedMessage? = nil
    /// Trail records to write once the session has ended, and the time they may not precede.
    var deferred: [PendingRecord] = []
    var trailFloor: Int64 = 0

    var truthIndex = 0
    var firstTime: [UInt8]? = nil
    var lastTime: [UInt8] = []
    var firstFile = -1
    var emitted: [Int32] = []
    var lines: [TruthLine] = []
    var firstLine = TruthLine(file: -1, line: 0)

    init(key: ChannelKey, idText: [UInt8], peer: IPAddress, peerText: [UInt8], port: Int, helo: [UInt8]) {
        self.key = key; self.idText = idText; self.peer = peer; self.peerText = peerText; self.port = port
        self.helo = helo
    }

    enum Context { case empty, ip, helo, target }

    /// Appends a record `TAG-ID(CONTEXT) TEXT` of this session.
    func record(_ level: UInt8, _ context: Context, _ text: [UInt8], _ sem: GenMeaning = .none, _ value: Int = 0,
                flags: UInt16 = 0) {
        let start = body.count
        body += key.kind == ChannelKey.smtp ? GenText.smtpDash : GenText.smtpiDash
        body += idText
        body.append(40)
        var f = flags
        switch context {
        case .empty: break
        case .ip: body.append(91); body += peerText; body.append(93); f |= GenStep.contextIP
        case .helo:
            body += helo
            if helo.first == 91 { f |= GenStep.contextIP }  // a literal `[ip]` HELO reads as an address
            else { f |= GenStep.contextHelo }
        case .target:
            body += target
            if targetIsRelay { f |= GenStep.contextRelay }
        }
        body.append(41)
        body.append(32)
        body += text
        steps.append(GenStep(start: Int32(start), end: Int32(body.count), level: level, flags: f, sem: sem, value: Int32(value)))
    }

    /// Appends a record of this session written without the `TAG-ID(...)` form
    /// (`SMTP(509) Resolver Created`, `SMTP Line 509 created ...`).
    func bare(_ level: UInt8, _ text: [UInt8]) {
        let start = body.count
        body += text
        steps.append(GenStep(start: Int32(start), end: Int32(body.count), level: level, flags: 0, sem: .none, value: 0))
    }

    func continuation(_ text: [UInt8]) {
        let start = body.count
        body += text
        steps.append(GenStep(start: Int32(start), end: Int32(body.count), level: 0, flags: GenStep.continuation,
                             sem: .none, value: 0))
    }
}

extension CorpusGenerator {
    /// Writes the whole script of a session into `s`.
    func script(_ s: GenSession) {
        let st = stalker
        let cmd = st ? GenText.inputLine : GenText.cmd
        let rsp = st ? GenText.sending : GenText.rsp
        let cr = st ? GenText.cr : []
        let crlf = st ? GenText.crlf : []
        func command(_ ctx: GenSession.Context, _ text: [UInt8], _ sem: GenMeaning, _ value: Int = 0) {
            s.record(4, ctx, cmd + text + cr, sem, value)
        }
        func reply(_ ctx: GenSession.Context, _ code: Int, _ text: String) {
            s.record(4, ctx, rsp + Array("\(code) \(text)".utf8) + crlf, .response, code)
        }
        func stat(_ ctx: GenSession.Context, _ n: Int) {
            if st && random.chance(0.5) { s.record(5, ctx, Array("*Status=\(n)".utf8)) }
        }
        if random.chance(0.1), s.peer.isV4 { s.helo = [91] + s.peerText + [93] }
        let portText = Array(String(s.port).utf8)

        if st {
            s.record(5, .empty, Array("Stream Created".utf8), flags: GenStep.opens)
            s.bare(5, Array("SMTP(".utf8) + s.idText + Array(") Resolver Created".utf8))
            s.bare(4, Array("SMTP Line ".utf8) + s.idText + Array(" created for answering".utf8))
            s.record(4, .empty, Array("Got connection from [".utf8) + s.peerText + [58] + portText + [93], .peer)
            s.record(4, .ip, Array("Sending 220-Stalker Internet Mail Server V.1.8b3 is ready.\\r\\n".utf8), .response, 220)
            s.continuation(Array("220 ESMTP is spoken here. You are welcome".utf8))
            if random.chance(0.7) { s.continuation([]) }
            s.record(5, .ip, Array("OT 153 of 153 bytes sent, Flags=0".utf8))
            stat(.ip, 22)
            s.record(5, .ip, Array("Received \(6 + s.helo.count) bytes".utf8))
        } else {
            if random.chance(0.25) {
                s.record(4, .ip, Array("[10.0.0.5]:25 <- [".utf8) + s.peerText + [93, 58] + portText
                         + Array(" incoming connection".utf8), .peer, flags: GenStep.opens)
            } else {
                s.record(5, .ip, Array("connected from [".utf8) + s.peerText + [93, 58] + portText, .peer, flags: GenStep.opens)
            }
            reply(.ip, 220, "mail.example.com ESMTP CommuniGate Pro 6.2.15")
        }
        // CommuniGate: some sessions log no HELO command; the context still becomes the name.
        let heloLogged = st || !random.chance(0.2)
        // HELO / EHLO, in the spellings clients use.
        let verbs = ["HELO ", "EHLO ", "helo ", "ehlo  ", "EHLO "]
        let verb = Array(verbs[random.below(verbs.count)].utf8)
        if heloLogged { command(.ip, verb + s.helo, .helo) }
        if st {
            stat(.ip, 21)
            s.record(4, .helo, Array("Looking for ".utf8) + s.helo)
            if random.chance(0.5) {
                s.record(3, .helo, Array("Failed to verify. Real address is [".utf8) + s.peerText + [58] + portText + [93])
            }
            s.record(4, .helo, Array("Sending 250 209.31.44.214 cannot verify ".utf8) + s.helo + crlf, .response, 250)
            s.record(5, .helo, Array("OT 40 of 40 bytes sent, Flags=0".utf8))
        } else {
            reply(.helo, 250, "mail.example.com we trust you")
            reply(.helo, 250, "SIZE 52428800")
            if random.chance(0.3) {
                command(.helo, Array("STARTTLS".utf8), .startTLS)
                reply(.helo, 220, "ready to start TLS")
                if heloLogged { command(.helo, Array("EHLO ".utf8) + s.helo, .helo) }
                reply(.helo, 250, "mail.example.com we trust you")
            }
            if random.chance(0.1) {
                s.authName = Array("user\(random.below(40))@example.com".utf8)
                command(.helo, Array("AUTH PLAIN".utf8), .otherCommand)
                reply(.helo, 235, "authentication succeeded")
                s.record(2, .helo, Array("authenticated as ".utf8) + s.authName, .auth)
            }
            if random.chance(0.08) {
                // The account named in the received records instead (or as well).
                s.accountInReceived = true
                if s.authName.isEmpty {
                    s.authName = Array("user\(random.below(40))@example.com".utf8)
                    command(.helo, Array("AUTH LOGIN".utf8), .otherCommand)
                    reply(.helo, 235, "authentication succeeded")
                }
            }
        }
        let context: GenSession.Context = st ? .ip : .helo
        // Transactions: none (HELO then QUIT), or one to three messages.
        let transactions = random.chance(0.1) ? 0 : (random.chance(0.7) ? 1 : (random.chance(0.65) ? 2 : 3))
        let tls = s.steps.contains { $0.sem == .startTLS }
        for _ in 0..<transactions {
            let (written, normal) = sender()
            s.addresses.append(normal)
            command(context, mailVerb() + written + (random.chance(0.1) ? Array(" SIZE=\(random.below(90000))".utf8) : []),
                    .mail, s.addresses.count - 1)
            stat(context, 25)
            if random.chance(0.03) {
                reply(context, 501, "sender rejected")
                command(context, Array("RSET".utf8), .otherCommand)
                reply(context, 250, "reset")
                continue
            }
            reply(context, 250, "<\(String(decoding: normal, as: UTF8.self))> sender accepted")
            var accepted = 0
            var firstAccepted: [UInt8] = []
            for _ in 0..<(1 + (random.chance(0.3) ? random.below(4) : 0)) {
                let (w, n) = recipient()
                s.addresses.append(n)
                command(context, rcptVerb() + w, .rcpt, s.addresses.count - 1)
                stat(context, 33)
                let r = random.unit()
                if r < 0.12 {
                    reply(context, 550, "<\(String(decoding: n, as: UTF8.self))> unknown user account")
                } else if r < 0.16 {
                    reply(context, 450, "<\(String(decoding: n, as: UTF8.self))> temporarily rejected, try again later")
                } else {
                    reply(context, 250, "<\(String(decoding: n, as: UTF8.self))> recipient accepted")
                    if accepted == 0 { firstAccepted = n }
                    accepted += 1
                }
            }
            if accepted == 0 {
                command(context, Array((random.chance(0.5) ? "RSET" : "rset").utf8), .otherCommand)
                reply(context, 250, "reset")
                continue
            }
            command(context, Array("DATA".utf8), .otherCommand)
            reply(context, 354, "Enter mail, end with \".\" on a line by itself")
            let size = 500 + random.below(40000)
            if st {
                s.record(5, .ip, Array("Received \(size) bytes".utf8))
                stat(.ip, 28)
            }
            nextMessage += 1
            let id: [UInt8] = st ? Array("S.".utf8) + pad10(nextMessage) : Array(String(nextMessage).utf8)
            s.messageIDs.append(id)
            s.fromWritten.append(normal)
            s.recipientOf.append(firstAccepted)
            s.sizes.append(size)
            if st {
                s.record(2, .ip, [123] + id + Array("} received, \(size) bytes".utf8), .message, s.messageIDs.count - 1)
            } else if s.accountInReceived {
                // [id] received(account NAME), 1234 bytes / [id] received encrypted(account NAME), ...
                let enc = tls ? " received encrypted(account " : " received(account "
                s.record(2, .helo, [91] + id + [93] + Array(enc.utf8) + s.authName + Array("), \(size) bytes".utf8),
                         tls ? .messageEncrypted : .message, s.messageIDs.count - 1, flags: GenStep.account)
            } else {
                let enc = tls ? " received encrypted, " : " received, "
                s.record(2, .helo, [91] + id + Array("]\(enc)\(size) bytes".utf8), tls ? .messageEncrypted : .message,
                         s.messageIDs.count - 1)
            }
            reply(context, 250, "\(String(decoding: id, as: UTF8.self)) message accepted for delivery")
        }
        command(context, Array((random.chance(0.8) ? "QUIT" : "quit").utf8), .otherCommand)
        reply(context, 221, "209.31.44.214 closing connection")
        if st {
            s.record(4, .ip, Array("Closing".utf8))
            s.record(5, .ip, Array("Disconnect Received".utf8))
            s.record(4, .ip, Array("Input Stream ended".utf8))
            s.bare(4, Array("SMTP disposing line ".utf8) + s.idText)
            s.bare(5, Array("SMTP(".utf8) + s.idText + Array(") Resolver Disposed".utf8))
            s.record(5, .ip, Array("Stream Disposed".utf8), flags: GenStep.closes)
        } else if random.chance(0.3) {
            s.record(4, .helo, Array("closing connection".utf8), flags: GenStep.closes)
        } else {
            s.record(5, .helo, Array("releasing stream".utf8), flags: GenStep.closes)
        }
        s.stop = s.steps.count
    }

    func pad10(_ v: UInt64) -> [UInt8] {
        let d = Array(String(v).utf8)
        return [UInt8](repeating: 48, count: max(0, 10 - d.count)) + d
    }

    func mailVerb() -> [UInt8] {
        switch random.below(10) {
        case 0, 1: return Array("mail from:".utf8)
        case 2: return Array("MAIL FROM: ".utf8)
        case 3: return Array("Mail From:".utf8)
        default: return Array("MAIL FROM:".utf8)
        }
    }

    func rcptVerb() -> [UInt8] {
        switch random.below(10) {
        case 0, 1: return Array("rcpt to:".utf8)
        case 2: return Array("RCPT TO: ".utf8)
        default: return Array("RCPT TO:".utf8)
        }
    }

    /// A sender as written (`<...>`, sometimes mixed case) and normalised; the null sender sometimes.
    func sender() -> (written: [UInt8], normal: [UInt8]) {
        if random.chance(0.05) { return (Array("<>".utf8), []) }
        let k = Int(Double(options.sessionsPerDay * 2 + 100) * pow(random.unit(), 3))
        let normal = Array("sender\(k)@dom\(k % 211).example".utf8)
        return (written(normal), normal)
    }

    func recipient() -> (written: [UInt8], normal: [UInt8]) {
        let domains = ["example.com", "example.net", "hypertouch.com", "lists.example.org"]
        let k = Int(Double(options.sessionsPerDay / 2 + 50) * pow(random.unit(), 2))
        let normal = random.chance(0.85)
            ? Array("user\(k)@\(domains[k % domains.count])".utf8)
            : Array("friend\(k)@dom\(k % 211).example".utf8)
        return (written(normal), normal)
    }

    /// `<address>` with the case of some letters changed, now and then with spaces inside the brackets.
    func written(_ normal: [UInt8]) -> [UInt8] {
        var w = normal
        if random.chance(0.15) {
            for i in w.indices where w[i] >= 97 && w[i] <= 122 && random.chance(0.4) { w[i] -= 32 }
        }
        return random.chance(0.03) ? Array("< ".utf8) + w + Array(" >".utf8) : [60] + w + [62]
    }

    /// Computes the ground truth of a session from the lines it actually wrote.
    func finalizeTruth(_ s: GenSession) {
        guard options.recordTruth, let first = s.emitted.first, let last = s.emitted.last, let firstTime = s.firstTime
        else { return }
        let firstStep = s.steps[Int(first)], lastStep = s.steps[Int(last)]
        let complete = firstStep.flags & GenStep.opens != 0 && lastStep.flags & GenStep.closes != 0
        var t = TruthSession(date: corpus.files[s.firstFile].date, channel: s.key,
                             start: String(decoding: firstTime, as: UTF8.self),
                             end: complete ? String(decoding: s.lastTime, as: UTF8.self) : nil, complete: complete)
        if s.outbound { t.direction = "out" }
        var pending: GenStep? = nil
        func text(_ a: [UInt8]) -> String { String(decoding: a, as: UTF8.self) }
        for i in s.emitted {
            let st = s.steps[Int(i)]
            if st.flags & GenStep.continuation != 0 { continue }
            switch st.sem {
            case .peer:
                if t.peer == nil { t.peer = s.peer; t.port = s.port }
            case .helo:
                if t.helo == nil { t.helo = text(s.helo) }
                pending = st
            case .mail, .rcpt, .startTLS, .otherCommand:
                pending = st
            case .response:
                if let p = pending {
                    let code = Int(st.value)
                    switch p.sem {
                    case .mail: if (200..<300).contains(code) { t.from.append(text(s.addresses[Int(p.value)])) }
                    case .rcpt:
                        if (200..<300).contains(code) { t.to.append(text(s.addresses[Int(p.value)])) }
                        else if (400..<600).contains(code) { t.rejected.append(text(s.addresses[Int(p.value)])) }
                    case .startTLS: if (200..<300).contains(code) { t.tls = true }
                    default: break
                    }
                    pending = nil
                }
            case .message, .messageEncrypted:
                t.messages.append(text(s.messageIDs[Int(st.value)]))
                if st.sem == .messageEncrypted { t.tls = true }
                t.accepted = true
                if st.flags & GenStep.account != 0, t.auth == nil { t.auth = text(s.authName) }
            case .sent:
                // The remote host named in `sent ... -> [remote]:25` wins over the context.
                t.messages.append(text(s.messageIDs[Int(st.value)]))
                t.accepted = true
                t.peer = s.peer
                t.port = 25
            case .reenqueue:
                t.messages.append(text(s.messageIDs[Int(st.value)]))
            case .auth:
                if t.auth == nil { t.auth = text(s.authName) }
            case .none: break
            }
            if t.peer == nil, st.flags & GenStep.contextIP != 0 {
                // The context `([ip])` names the peer when the connect record was not seen.
                t.peer = s.peer
            }
            if t.peer == nil, st.flags & GenStep.contextRelay != 0 {
                // An outbound relay `(ip:port)`: the peer and its port (always 25 here).
                t.peer = s.peer
                t.port = 25
            }
            if !stalker, t.helo == nil, st.flags & GenStep.contextHelo != 0 {
                // CommuniGate: with no HELO command seen, the first context that is a name.
                // (Every generated context name is the HELO name itself.)
                t.helo = text(s.helo)
            }
        }
        t.lines = s.lines
        t.firstLine = s.firstLine
        truth[s.truthIndex] = t
    }
}
