#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one error type of maildex's engine. Its `kind` is what a front decides on (the
/// CLI's exit status, an HTTP status); its `description` is the message a person reads:
/// the file, the byte offset, what to do.
public struct MaildexError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// A query term or other request text that does not parse (`position`, `accepted`).
        case syntax
        /// No index in the directory, or no such session.
        case notFound = "not-found"
        /// An index file that fails a check (`path`, `offset`).
        case corrupt
        /// The index's lock is held by another run.
        case busy
        /// A system call failed on a file (`path`, `offset`, `errno`), or an input file
        /// is not what it should be.
        case io
        /// An index written in a format this maildex does not read (`formatVersion`).
        case unsupportedFormat = "unsupported-format"
    }

    public var kind: Kind
    /// The whole message, as printed.
    public var message: String
    /// The file it is about, where there is one.
    public var path: String?
    /// The byte offset in that file, where known.
    public var offset: UInt64?
    /// The system's error number, for `.io`.
    public var errno: Int32?
    /// For `.syntax`: which term (0-based) did not parse, and the forms accepted.
    public var position: Int?
    public var accepted: String?
    /// For `.unsupportedFormat`: the format version found.
    public var formatVersion: Int?

    public init(_ kind: Kind, _ message: String, path: String? = nil, offset: UInt64? = nil, errno: Int32? = nil,
                position: Int? = nil, accepted: String? = nil, formatVersion: Int? = nil) {
        self.kind = kind; self.message = message; self.path = path; self.offset = offset; self.errno = errno
        self.position = position; self.accepted = accepted; self.formatVersion = formatVersion
    }

    public var description: String {
        if let accepted { return message + "\n\n" + accepted }
        return message
    }

    /// The exit status of a command that stops on this error. Every kind is 2 (a bad
    /// query, a missing, busy or damaged index); 1 stays "nothing found" and "some input
    /// could not be read", which the commands decide themselves.
    public var exitStatus: Int32 { 2 }

    /// The HTTP status a server answers with: a client's mistake is a 4xx; the server's
    /// own state (a damaged index, a failed read) a 5xx; a lock held by an indexing run
    /// does not stop reads, so `busy` only arises for writers (409).
    public var httpStatus: Int {
        switch kind {
        case .syntax: return 400
        case .notFound: return 404
        case .busy: return 409
        case .corrupt, .io, .unsupportedFormat: return 500
        }
    }

    /// A failed system call on `path`: the message is `path: [at byte N: ]what`, with
    /// `strerror(errno)` for `what` unless another text is given.
    public static func io(_ path: String, offset: UInt64? = nil, errno code: Int32, _ what: String? = nil) -> MaildexError {
        var e = MaildexError(path: path, offset: offset, message: what ?? String(cString: strerror(code)))
        e.errno = code
        return e
    }
}

/// An I/O or format problem with one input file, with the byte offset where known.
public typealias IOError = MaildexError

extension MaildexError {
    /// A problem with file `path` at `offset` (`.io`; without errno: the bytes are wrong,
    /// or a read ended early): the message is `path: [at byte N: ]message`.
    public init(path: String, offset: UInt64?, message: String) {
        self.init(.io, offset.map { "\(path): at byte \($0): \(message)" } ?? "\(path): \(message)", path: path, offset: offset)
    }
}
