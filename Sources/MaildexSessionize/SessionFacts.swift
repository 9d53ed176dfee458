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

    public init() {}

    /// Adds `later`'s facts after these (first value wins for single-valued facts).
    mutating func append(_ later: SessionFacts) {
        if peer == nil { peer = later.peer; port = later.port }
        if helo == nil { helo = later.helo }
        from += later.from
        to += later.to
        rejected += later.rejected
        messages += later.messages
        if auth == nil { auth = later.auth }
        tls = tls || later.tls
    }

    /// As `append`, moving `later`'s values where these have none (which leaves `later`
    /// partly empty).
    mutating func append(taking later: inout SessionFacts) {
        if peer == nil { peer = later.peer; port = later.port }
        if helo == nil { swap(&helo, &later.helo) }
        Self.move(&from, &later.from)
        Self.move(&to, &later.to)
        Self.move(&rejected, &later.rejected)
        Self.move(&messages, &later.messages)
        if auth == nil { swap(&auth, &later.auth) }
        tls = tls || later.tls
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
    case other
}

/// Which channel a session record belongs to: the kind of tag and the line number.
public struct ChannelKey: Hashable, Sendable, Comparable {
    public var raw: UInt64
    public static let smtp: UInt64 = 1   // Stalker `SMTP-N`, CommuniGate outbound `SMTP-N`
    public static let smtpi: UInt64 = 2  // CommuniGate inbound `SMTPI-N`

    public init(kind: UInt64, id: UInt32) { raw = kind << 32 | UInt64(id) }
    public var kind: UInt64 { raw >> 32 }
    public var id: UInt32 { UInt32(truncatingIfNeeded: raw) }
    public static func < (a: ChannelKey, b: ChannelKey) -> Bool { a.raw < b.raw }
}
