import MaildexSupport
import MaildexParse
import MaildexRead

/// What maildex extracts about one SMTP session.
///
/// Addresses are normalised for comparison: `<>` and spaces stripped, ASCII
/// lowercased; the null sender is the empty address.
public struct SessionFacts: Sendable, Equatable {
    public var peer: IPAddress?
    public var port: Int?
    public var helo: [UInt8]?
    public var from: [[UInt8]] = []
    public var to: [[UInt8]] = []
    public var rejected: [[UInt8]] = []
    public var messages: [[UInt8]] = []
    public var auth: [UInt8]?
    public var tls: Bool = false
    /// A session this server opened to another (CommuniGate `SMTP-N`): its peer is the
    /// remote host it delivered to.
    public var outbound: Bool = false
    /// A message was accepted: received from the peer (inbound), or taken by the remote
    /// host (outbound: `[id] sent ... got:2xx`).
    public var accepted: Bool = false

    public init() {}

    public var direction: String { outbound ? "out" : "in" }

    /// Adds `later`'s facts after these (first value wins for single-valued facts).
    mutating func append(_ later: SessionFacts) {
        if peer == nil { peer = later.peer; port = later.port }
        if helo == nil { helo = later.helo }
        from += later.from
        to += later.to
        rejected += later.rejected
        for m in later.messages where messages.last != m { messages.append(m) }
        if auth == nil { auth = later.auth }
        tls = tls || later.tls
        outbound = outbound || later.outbound
        accepted = accepted || later.accepted
    }

    /// As `append`, moving `later`'s values where these have none (which leaves `later`
    /// partly empty).
    mutating func append(taking later: inout SessionFacts) {
        if peer == nil { peer = later.peer; port = later.port }
        if helo == nil { swap(&helo, &later.helo) }
        Self.move(&from, &later.from)
        Self.move(&to, &later.to)
        Self.move(&rejected, &later.rejected)
        if let m = later.messages.first, m == messages.last { later.messages.removeFirst() }
        Self.move(&messages, &later.messages)
        if auth == nil { swap(&auth, &later.auth) }
        tls = tls || later.tls
        outbound = outbound || later.outbound
        accepted = accepted || later.accepted
    }

    private static func move(_ list: inout [[UInt8]], _ later: inout [[UInt8]]) {
        if list.isEmpty { swap(&list, &later) } else { list += later }
    }
}

/// An SMTP command waiting for its reply, across records and chunks.
package enum PendingCommand: Equatable, Sendable {
    case mail([UInt8])
    case rcpt([UInt8])
    case startTLS
    /// `AUTH PLAIN`/`AUTH LOGIN` with its initial response: the account it names,
    /// the session's once the server answers 2xx.
    case auth([UInt8])
    case other
}

/// Which channel a session record belongs to: the kind of tag and the line number.
public struct ChannelKey: Hashable, Sendable, Comparable {
    public var raw: UInt64
    public static let smtp: UInt64 = 1   // Stalker `SMTP-N`, CommuniGate outbound `SMTP-N`
    public static let smtpi: UInt64 = 2  // CommuniGate inbound `SMTPI-N`
    /// Message records (a message trail), not a session: the records of one parse chunk
    /// about messages (`QUEUE([id])`, `DEQUEUER [id]`, `SYSTEM [S.N]`, ...), whose facts
    /// list the messages. `messageRecords` is their channel. The kinds also key one
    /// message's records while a chunk is read: CommuniGate's numeric queue id and
    /// Stalker's `S.N`; ids above 2^32 keep their high bits above the kind byte.
    public static let queueTrail: UInt64 = 3
    public static let stalkerTrail: UInt64 = 4
    public static let messageRecords = ChannelKey(kind: queueTrail, id: 0)

    public init(kind: UInt64, id: UInt32) { raw = kind << 32 | UInt64(id) }
    public var kind: UInt64 { raw >> 32 }
    /// The kind byte alone (a trail key keeps high id bits above it).
    public var kindByte: UInt64 { (raw >> 32) & 0xFF }
    /// A message trail's key rather than a session's channel.
    public var isTrail: Bool { kindByte == Self.queueTrail || kindByte == Self.stalkerTrail }

    /// The key of the trail of message number `n` (`kind` a trail kind); nil if `n` is
    /// too large (at most 2^56 - 1).
    package static func trail(_ kind: UInt64, _ n: UInt64) -> ChannelKey? {
        guard n >> 56 == 0 else { return nil }
        return ChannelKey(raw: (n & 0xFFFF_FFFF) | kind << 32 | (n >> 32) << 40)
    }
    public var id: UInt32 { UInt32(truncatingIfNeeded: raw) }
    public static func < (a: ChannelKey, b: ChannelKey) -> Bool { a.raw < b.raw }
}
