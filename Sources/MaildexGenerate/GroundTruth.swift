import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// The log dialect a corpus is written in.
public enum Dialect: String, Sendable, CaseIterable {
    case stalker
    case cgp
}

/// How generated day files are stored.
public enum CorpusCompression: String, Sendable, CaseIterable {
    /// Plain `.log` files.
    case none
    /// One zstd frame per file (`zstd FILE`), written without a content size.
    case zstd
    /// Many independent frames per file (`pzstd`, concatenation); some frames record
    /// their content size and some don't.
    case zstdFrames = "zstd-frames"
}

/// A line of a generated session: which file, which line (1-based).
public struct TruthLine: Hashable, Sendable {
    public var file: Int
    public var line: UInt64
    public init(file: Int, line: UInt64) { self.file = file; self.line = line }
}

/// What the generator knows about a session it wrote: the answer the parser must give.
public struct TruthSession: Equatable, Sendable {
    public var date: CivilDate
    public var channel: ChannelKey
    public var start: String
    public var end: String?
    public var complete: Bool
    public var peer: IPAddress?
    public var port: Int?
    public var helo: String?
    public var from: [String] = []
    public var to: [String] = []
    public var rejected: [String] = []
    public var messages: [String] = []
    public var auth: String?
    public var tls = false
    /// "out" for an outbound session (CommuniGate `SMTP-N`), else "in".
    public var direction = "in"
    /// A message was accepted: received (inbound), or taken by the remote (outbound).
    public var accepted = false
    /// The lines of the records about the session's messages (its trail), in log order.
    public var messageLines: [TruthLine] = []
    /// The session's first line.
    public var firstLine = TruthLine(file: -1, line: 0)
    /// Filled when the generator is asked to record lines.
    public var lines: [TruthLine] = []
}

/// A file the generator wrote.
public struct GeneratedFile: Sendable {
    public var path: String
    public var name: String
    public var date: CivilDate
    /// Log text bytes (before compression).
    public var plainBytes: UInt64
    public var bytesOnDisk: UInt64
}

public struct GeneratedCorpus: Sendable {
    public var files: [GeneratedFile] = []
    public var sessions: [TruthSession] = []
    public var plainBytes: UInt64 { files.reduce(0) { $0 + $1.plainBytes } }
    public var lines: UInt64 = 0
}
