import Hummingbird
import MaildexCore

/// The routes of `maildex serve`: the JSON API under `/api/v1`, `/healthz`, and the
/// page's three files. Every handler reads the index through one `Searcher` and runs
/// the engine's work on a `WorkPool`: lookups on `pool`; what reads every match
/// (statistics, histograms, exports) on `heavyPool`, so that a few such requests
/// cannot hold up the lookups.
struct API: Sendable {
    let searcher: Searcher
    let pool: WorkPool
    let heavyPool: WorkPool
    let metrics: Metrics
    private let infoCache = InfoCache()

    /// Sessions a streamed answer (export) renders at a time.
    static let exportBatch = 32
    /// A page of `/sessions` ends after the session that takes it past this many bytes.
    static let maxPageBytes = 16 << 20
    /// Exports streaming at once; one more is a 429.
    static let maxExports = 4
    private let exports = ExportSlots(Self.maxExports)

    func routes(_ router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in Self.text("ok\n") }
        router.get("/") { _, _ in Self.asset(Page.html, "text/html; charset=utf-8") }
        router.get("/app.js") { _, _ in Self.asset(Page.script, "text/javascript; charset=utf-8") }
        router.get("/app.css") { _, _ in Self.asset(Page.style, "text/css; charset=utf-8") }
        router.get("/favicon.ico") { _, _ in Response(status: .noContent) }
        let api = router.group("/api/v1")
        api.get("/info") { _, _ in try await info() }
        api.get("/syntax") { _, _ in syntax() }
        api.get("/metrics") { _, _ in Self.json(metrics.json()) }
        api.get("/sessions") { request, _ in try await sessions(Params(request.uri.query)) }
        api.get("/sessions/:id") { request, context in
            try await session(context.parameters.get("id") ?? "", messages: try Params(request.uri.query).flag("messages"))
        }
        api.get("/sessions/:id/evidence") { request, context in
            try await evidence(context.parameters.get("id") ?? "", messages: try Params(request.uri.query).flag("messages"))
        }
        api.get("/sessions/:id/lines") { _, context in try await lines(context.parameters.get("id") ?? "") }
        api.get("/count") { request, _ in try await count(Params(request.uri.query)) }
        api.get("/stats") { request, _ in try await stats(Params(request.uri.query)) }
        api.get("/histogram") { request, _ in try await histogram(Params(request.uri.query)) }
        api.get("/export") { request, _ in try await export(Params(request.uri.query)) }
    }

    // MARK: Responses

    static func json(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(bytes: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func text(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func asset(_ text: String, _ type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// A session number from the path; an id that names no session is a 404.
    static func number(_ id: String) throws -> UInt64 {
        guard id.utf8.count <= 20, id.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = UInt64(id) else {
            throw APIError.notFound("`\(id.prefix(40))` is not a session id of this index", hint: "ids are the `id` values of /api/v1/sessions")
        }
        return n
    }

    // MARK: Endpoints

    func info() async throws -> Response {
        let s = searcher, cache = infoCache
        let info = try await heavyPool.run { () throws -> IndexInfo in
            let index = try s.index()
            return try cache.info(of: index)
        }
        return Self.json(info.json() + "\n")
    }

    func syntax() -> Response {
        var o = JSONObjectWriter()
        o.string("syntax", Query.syntax)
        o.raw("kinds", "[" + TermKindInfo.all.map { row in
            var k = JSONObjectWriter()
            k.string("name", row.kind.name)
            k.strings("examples", row.help.flatMap(\.values))
            k.string("meaning", row.help.map(\.meaning).joined(separator: "; "))
            return k.finish()
        }.joined(separator: ",") + "]")
        return Self.json(o.finish() + "\n")
    }

    func sessions(_ params: Params) async throws -> Response {
        let query = try params.query()!, limit = try params.limit(), order = try params.order(), cursor = try params.cursor()
        let s = searcher, messages = try params.flag("messages")
        let body = try await pool.run { () throws -> [UInt8] in
            let result = try s.search(query, order: order, limit: limit, after: cursor)
            var out = Array("{\"sessions\":[".utf8)
            // A page ends early, its `next` after its last session, once it passes
            // `maxPageBytes` (sessions can be large: the log's writers choose).
            var next = result.next, at = 0
            while at < result.numbers.count {
                let part = result.slice(at..<min(at + 16, result.numbers.count))
                if at > 0 { out.append(44) }
                try Self.appendObjects(of: part, searcher: s, separator: 44, messages: messages, to: &out)
                at += part.numbers.count
                if out.count > Self.maxPageBytes, at < result.numbers.count {
                    next = Cursor(order: order, after: result.numbers[at - 1])
                    break
                }
            }
            out += Array("],\"next\":".utf8)
            out += Array((next.map { "\"\($0)\"" } ?? "null").utf8)
            out += Array(",\"total\":\(result.total)}\n".utf8)
            return out
        }
        return Self.json(bytes: body)
    }

    /// The session objects of `result` (`query --json`'s, with `"id"` first), each
    /// after `separator` but the first (a comma in an array, nothing in NDJSON, where
    /// each ends with its newline).
    static func appendObjects(of result: SearchResult, searcher: Searcher, separator: UInt8?, caching: Bool = true,
                              messages: Bool = false, to out: inout [UInt8]) throws {
        var k = 0
        try searcher.render(result, as: .json, caching: caching, messages: messages) { bytes in
            if k > 0, let separator { out.append(separator) }
            out += Array("{\"id\":\"\(result.numbers[k])\",".utf8)
            out += separator == nil ? bytes.dropFirst() : bytes.dropFirst().dropLast()
            k += 1
        }
    }

    func session(_ id: String, messages: Bool) async throws -> Response {
        let n = try Self.number(id), s = searcher
        let body = try await pool.run { () throws -> [UInt8]? in
            guard let (session, index) = try s.session(n) else { return nil }
            let view = try index.view(of: session, messages: messages)
            return Array("{\"id\":\"\(n)\",".utf8) + view.rendered(.json, position: 0, sources: index.sources).dropFirst()
        }
        guard let body else { throw APIError.notFound("no session \(id) in this index", hint: "ids are the `id` values of /api/v1/sessions") }
        return Self.json(bytes: body)
    }

    func evidence(_ id: String, messages: Bool) async throws -> Response {
        let n = try Self.number(id), s = searcher
        let body = try await pool.run { () throws -> [UInt8]? in
            guard let (session, index) = try s.session(n) else { return nil }
            return try index.view(of: session, messages: messages).rendered(.evidence, position: 0, sources: index.sources)
        }
        guard let body else { throw APIError.notFound("no session \(id) in this index", hint: "ids are the `id` values of /api/v1/sessions") }
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store",
                                               .contentDisposition: "inline; filename=\"session-\(n)-evidence.txt\""],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The page's view of a session: each line with its file, line number and byte offset.
    func lines(_ id: String) async throws -> Response {
        let n = try Self.number(id), s = searcher
        let body = try await pool.run { () throws -> String? in
            guard let (session, index) = try s.session(n) else { return nil }
            let view = try index.view(of: session, messages: true)
            func lines(of session: Session?) -> String {
                var lines = [String]()
                if let session {
                    SessionView.forEachWholeLine(of: session) { l, bytes in
                        var o = JSONObjectWriter()
                        o.string("file", index.sourceName(l.source)); o.uint("line", l.lineNumber); o.uint("offset", l.byteOffset)
                        o.string("text", String(decoding: bytes, as: UTF8.self))
                        lines.append(o.finish())
                    }
                }
                return "[" + lines.joined(separator: ",") + "]"
            }
            var o = JSONObjectWriter()
            o.string("id", String(n))
            o.string("summary", view.summaryLine())
            o.bool("complete", session.complete)
            if let server = view.server { o.string("server", server) } else { o.raw("server", "null") }
            o.string("direction", session.facts.direction)
            o.bool("tls", session.facts.tls)
            if let auth = session.facts.auth { o.string("auth", String(decoding: auth, as: UTF8.self)) } else { o.raw("auth", "null") }
            o.raw("messageIds", "[" + session.facts.messages.map { JSONObjectWriter.quote(String(decoding: $0, as: UTF8.self)) }.joined(separator: ",") + "]")
            o.raw("lines", lines(of: session))
            // The records about its messages, in log order.
            o.raw("messages", lines(of: view.trail))
            return o.finish() + "\n"
        }
        guard let body else { throw APIError.notFound("no session \(id) in this index", hint: "ids are the `id` values of /api/v1/sessions") }
        return Self.json(body)
    }

    func count(_ params: Params) async throws -> Response {
        let query = try params.query()!, s = searcher
        let n = try await pool.run { try s.count(query) }
        return Self.json("{\"count\":\(n)}\n")
    }

    func stats(_ params: Params) async throws -> Response {
        let query = try params.query(optional: true), s = searcher
        var top = 10
        if let t = params["top"] {
            guard let n = Int(t), (1...1000).contains(n) else { throw APIError.badRequest("top=\(t.prefix(40)): top is a whole number from 1 to 1000") }
            top = n
        }
        let st = try await heavyPool.run { [top] in try s.statistics(query, top: top) }
        return Self.json(st.json() + "\n")
    }

    enum BucketChoice: String, CaseIterable { case day, hour, auto }

    func histogram(_ params: Params) async throws -> Response {
        let query = try params.query()!, choice = try params.choice("bucket", default: BucketChoice.day), s = searcher
        let h = try await heavyPool.run { () throws -> Histogram in
            switch choice {
            case .day: return try s.histogram(query, bucket: .day)
            case .hour: return try s.histogram(query, bucket: .hour)
            case .auto: return try s.histogram(query, bucket: nil)  // per hour over two days or less
            }
        }
        return Self.json(h.json() + "\n")
    }

    enum ExportFormat: String, CaseIterable { case ndjson, csv }

    /// Every match, rendered `exportBatch` sessions at a time as the client reads.
    func export(_ params: Params) async throws -> Response {
        let query = try params.query()!, format = try params.choice("format", default: ExportFormat.ndjson)
        let order = try params.order(), s = searcher, pool = heavyPool, slots = exports, messages = try params.flag("messages")
        guard slots.take() else {
            throw APIError(.tooManyRequests, "\(Self.maxExports) exports are streaming already", hint: "try again when one has finished")
        }
        let result: SearchResult
        do { result = try await pool.run { try s.search(query, order: order) } } catch { slots.give(); throw error }
        let type = format == .csv ? "text/csv; charset=utf-8" : "application/x-ndjson"
        let body = ResponseBody { writer in
            defer { slots.give() }
            if format == .csv { try await writer.write(ByteBuffer(string: CSV.header)) }
            var at = 0
            while at < result.numbers.count {
                let part = result.slice(at..<min(at + Self.exportBatch, result.numbers.count))
                let bytes = try await pool.run { () throws -> [UInt8] in
                    var out = [UInt8]()
                    if format == .csv {
                        try s.forEachBatch(of: part, resolvingOffsets: false, caching: false) { _, sessions in
                            for session in sessions { CSV.appendRow(session, index: part.index, to: &out) }
                        }
                    } else {
                        try Self.appendObjects(of: part, searcher: s, separator: nil, caching: false, messages: messages, to: &out)
                    }
                    return out
                }
                try await writer.write(ByteBuffer(bytes: bytes))
                at += part.numbers.count
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-store",
                                               .contentDisposition: "attachment; filename=\"maildex-export.\(format == .csv ? "csv" : "ndjson")\""],
                        body: body)
    }
}

/// `/api/v1/info` scans the session tables once per state of the index.
/// A count of streams that may run at once.
final class ExportSlots: @unchecked Sendable {
    private let lock = NSLockLite()
    private var free: Int
    init(_ n: Int) { free = n }
    func take() -> Bool { lock.with { guard free > 0 else { return false }; free -= 1; return true } }
    func give() { lock.with { free += 1 } }
}

/// Holds its state weakly: segments a merge removed are unmapped once no query uses them.
final class InfoCache: @unchecked Sendable {
    private let lock = NSLockLite()
    private weak var reader: IndexReader?
    private var info: IndexInfo?

    func info(of index: IndexReader) throws -> IndexInfo {
        if let info = lock.with({ reader === index ? info : nil }) { return info }
        let fresh = try IndexInfo.of(index)
        lock.with { reader = index; info = fresh }
        return fresh
    }
}
