import Hummingbird
import MaildexCore

/// An answer other than success: a status, a sentence saying what was wrong, and a
/// hint saying what would be right. Sent as `{"error": "...", "hint": "..."}`.
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var error: String
    var hint: String

    init(_ status: HTTPResponse.Status, _ error: String, hint: String = "") {
        self.status = status; self.error = error; self.hint = hint
    }

    static func badRequest(_ error: String, hint: String = "") -> APIError { APIError(.badRequest, error, hint: hint) }
    static func notFound(_ error: String, hint: String = "") -> APIError { APIError(.notFound, error, hint: hint) }

    /// The engine's errors: a bad query or cursor is the client's (400); a missing,
    /// damaged or unreadable index is the server's (503, 500).
    init(_ e: MaildexError) {
        switch e.kind {
        case .syntax:
            let positional = e.position.map { " (term \($0 + 1))" } ?? ""
            self.init(.badRequest, e.message + positional,
                      hint: e.message.contains("cursor") ? "pass the `next` value of the page before, unchanged, with the same order" : Query.syntax)
        case .notFound: self.init(.serviceUnavailable, e.description, hint: "the index is not there now; see the server's log")
        case .busy: self.init(.serviceUnavailable, e.description, hint: "try again")
        case .corrupt, .io, .unsupportedFormat: self.init(.internalServerError, e.description, hint: "run `maildex verify` on the index")
        }
    }

    /// Any error, as an answer.
    static func from(_ error: Error) -> APIError {
        if let e = error as? APIError { return e }
        if let e = error as? MaildexError { return APIError(e) }
        if let e = error as? HTTPError {
            if e.status == .notFound { return .notFound("no such path", hint: "the API is under /api/v1 (sessions, sessions/ID, sessions/ID/evidence, count, stats, histogram, export, info, metrics); the page is at /") }
            return APIError(e.status, e.body ?? e.status.reasonPhrase)
        }
        return APIError(.internalServerError, "\(error)")
    }

    var json: String {
        var o = JSONObjectWriter()
        o.string("error", error); o.string("hint", hint)
        return o.finish() + "\n"
    }
}

/// A request's query string, decoded: `+` and `%XX` to bytes, which must be UTF-8.
struct Params: Sendable {
    private var values: [String: String] = [:]

    /// The longest `q` taken, in bytes (after decoding).
    static let maxQueryBytes = 4096
    /// The most terms in one `q` (each may be a range over a whole index).
    static let maxTerms = 64

    init(_ raw: String?) throws {
        guard let raw, !raw.isEmpty else { return }
        // Bytes sent raw (not percent-encoded) that are not UTF-8 reach us as U+FFFD.
        if raw.unicodeScalars.contains("\u{FFFD}") {
            throw APIError.badRequest("the query string has bytes that are not UTF-8", hint: "send UTF-8, percent-encoded")
        }
        for pair in raw.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Self.decode(parts[0], what: "a parameter name")
            let value = parts.count > 1 ? try Self.decode(parts[1], what: "the value of `\(name)`") : ""
            if values[name] == nil { values[name] = value }
        }
    }

    static func decode(_ bytes: Substring.UTF8View.SubSequence, what: String) throws -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let c = bytes[i]
            if c == UInt8(ascii: "+") { out.append(32); i = bytes.index(after: i); continue }
            if c == UInt8(ascii: "%") {
                let h = bytes.index(after: i)
                guard h < bytes.endIndex, bytes.index(after: h) < bytes.endIndex,
                      let hi = SHA256Hasher.hexValue(bytes[h]), let lo = SHA256Hasher.hexValue(bytes[bytes.index(after: h)]) else {
                    throw APIError.badRequest("\(what) has a `%` not followed by two hex digits", hint: "percent-encode the query string (encodeURIComponent)")
                }
                out.append(hi << 4 | lo)
                i = bytes.index(h, offsetBy: 2)
                continue
            }
            out.append(c)
            i = bytes.index(after: i)
        }
        guard let s = String(validating: out, as: UTF8.self) else {
            throw APIError.badRequest("\(what) is not UTF-8 once decoded", hint: "send UTF-8, percent-encoded")
        }
        return s
    }

    subscript(_ name: String) -> String? { values[name] }

    /// The query `q`, parsed; nil when absent or blank and `optional`.
    func query(optional: Bool = false) throws -> Query? {
        let text = values["q"] ?? ""
        guard text.utf8.count <= Self.maxQueryBytes else {
            throw APIError.badRequest("q is \(text.utf8.count) bytes long; the limit is \(Self.maxQueryBytes)", hint: "split the question into several queries")
        }
        let terms = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).map(String.init)
        if terms.count > Self.maxTerms {
            throw APIError.badRequest("q has \(terms.count) terms; the limit is \(Self.maxTerms)", hint: "split the question into several queries")
        }
        if terms.isEmpty {
            if optional { return nil }
            throw APIError.badRequest("no query terms: pass q=TERMS", hint: Query.syntax)
        }
        do { return try Query.parse(terms) } catch let e as MaildexError { throw APIError(e) }
    }

    /// `limit`: 1–1000, 100 when absent.
    func limit() throws -> Int {
        guard let text = values["limit"] else { return 100 }
        guard let n = Int(text), (1...1000).contains(n) else {
            throw APIError.badRequest("limit=\(text.prefix(40)): a limit is a whole number from 1 to 1000", hint: "follow `next` for more; no answer is capped")
        }
        return n
    }

    func order() throws -> Order {
        guard let text = values["order"] else { return .oldest }
        guard let o = Order(rawValue: text) else { throw APIError.badRequest("order=\(text.prefix(40)): the order is oldest or newest") }
        return o
    }

    func cursor() throws -> Cursor? {
        guard let text = values["cursor"], !text.isEmpty else { return nil }
        do { return try Cursor(text) } catch let e as MaildexError { throw APIError(e) }
    }

    /// A yes/no parameter (`messages=1`): `1`, `true`, `yes` or `0`, `false`, `no`; false when absent.
    func flag(_ name: String) throws -> Bool {
        guard let text = values[name] else { return false }
        switch text.lowercased() {
        case "1", "true", "yes": return true
        case "0", "false", "no", "": return false
        default: throw APIError.badRequest("\(name)=\(text.prefix(40)): expected 1 or 0")
        }
    }

    /// An enumeration parameter with its default.
    func choice<T: RawRepresentable & CaseIterable>(_ name: String, default value: T) throws -> T where T.RawValue == String {
        guard let text = values[name] else { return value }
        guard let v = T(rawValue: text) else {
            throw APIError.badRequest("\(name)=\(text.prefix(40)): expected one of " + T.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return v
    }
}
