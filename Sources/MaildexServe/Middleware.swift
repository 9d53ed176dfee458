import HTTPTypes
import Hummingbird
import MaildexCore

/// Wraps every request, matched or not: refuses one without the token (when the server
/// has one), turns every error into a JSON answer with a 4xx status for what the
/// client sent, and puts the security headers on every response.
struct GuardMiddleware<Context: RequestContext>: RouterMiddleware {
    /// SHA-256 of the token, compared with that of the request's bearer token, so that
    /// the comparison takes the same time wherever the two differ.
    let expected: [UInt8]?
    let metrics: Metrics
    /// Without a token: the host names a request may be addressed to (lowercased, no
    /// port), so that a web page elsewhere cannot reach a loopback server through a
    /// name it points at 127.0.0.1 (DNS rebinding). With a token, any.
    let allowedHosts: Set<String>?

    init(token: String?, listenHost: String, metrics: Metrics) {
        expected = token.map { Self.digest(Array($0.utf8)) }
        self.metrics = metrics
        allowedHosts = token == nil ? ["127.0.0.1", "localhost", "[::1]", "::1", listenHost.lowercased(), "[\(listenHost.lowercased())]"] : nil
    }

    /// The host of a `Host` header, lowercased, without its port.
    static func hostName(_ header: String?) -> String? {
        guard var h = header?.lowercased(), !h.isEmpty else { return nil }
        if h.hasPrefix("[") {
            guard let close = h.firstIndex(of: "]") else { return nil }
            return String(h[...close])
        }
        if let colon = h.lastIndex(of: ":") { h = String(h[..<colon]) }
        return h
    }

    /// The token of an `Authorization: Bearer TOKEN` header (the scheme's case does not
    /// matter, RFC 9110); nil without one.
    static func bearerToken(_ header: String?) -> [UInt8]? {
        guard let header else { return nil }
        let u = Array(header.utf8)
        guard u.count > 7, String(decoding: u[0..<6], as: UTF8.self).lowercased() == "bearer", u[6] == 32 else { return nil }
        var token = u[7...]
        while token.first == 32 { token = token.dropFirst() }
        while token.last == 32 { token = token.dropLast() }
        return Array(token)
    }

    static func digest(_ bytes: [UInt8]) -> [UInt8] {
        let h = SHA256Hasher()
        h.update(bytes)
        return h.finish()
    }

    static func sameDigest(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }


    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = Metrics.now()
        let headerBytes = Self.headerBytes(request.headers)
        var response: Response
        if let allowed = allowedHosts, !allowed.contains(Self.hostName(request.head.authority) ?? "") {
            response = Self.errorResponse(APIError(.forbidden, "this server answers requests addressed to its loopback address only (Host: 127.0.0.1, localhost or [::1])",
                                                   hint: "to serve other hosts, listen on their address with --token-file"))
        } else if let expected, !Self.sameDigest(Self.digest(Self.bearerToken(request.headers[.authorization]) ?? []), expected) {
            response = Self.errorResponse(APIError(.unauthorized, "this server needs `Authorization: Bearer TOKEN` with its token",
                                                   hint: "the token is the first line of the file given to `maildex serve --token-file`"))
            response.headers[.wwwAuthenticate] = "Bearer"
        } else if request.method != .get && request.method != .head {
            response = Self.errorResponse(APIError(.methodNotAllowed, "\(request.method) is not served: maildex serve is read-only", hint: "use GET"))
            response.headers[.allow] = "GET, HEAD"
        } else if headerBytes > Self.maxHeaderBytes {
            response = Self.errorResponse(APIError(.requestHeaderFieldsTooLarge,
                "the request's header fields hold \(headerBytes) bytes; this server reads at most \(Self.maxHeaderBytes)",
                hint: "send the terms in q, not in headers"))
            response.headers[.connection] = "close"
        } else if request.headers[.transferEncoding] != nil || (request.headers[.contentLength].map { $0 != "0" } ?? false) {
            response = Self.errorResponse(APIError(.badRequest, "a \(request.method) request takes no body", hint: "send the terms in q"))
            response.headers[.connection] = "close"
        } else {
            do { response = try await next(request, context) } catch {
                response = Self.errorResponse(APIError.from(error))
            }
        }
        for (name, value) in securityHeaders { response.headers[name] = value }
        let path = request.uri.path
        if path.hasPrefix("/api/"), path != "/api/v1/metrics" {
            metrics.record(request: Metrics.now() - start, status: Int(response.status.code))
        }
        return response
    }

    /// The most bytes of header fields a request may carry (names, values, and `: ` and
    /// CRLF each): 32 KiB, as web servers allow; the HTTP parser's own bound is 80 KiB.
    static var maxHeaderBytes: Int { 32 << 10 }

    static func headerBytes(_ fields: HTTPFields) -> Int {
        fields.reduce(0) { $0 + $1.name.rawName.utf8.count + $1.value.utf8.count + 4 }
    }

    static func errorResponse(_ e: APIError) -> Response {
        Response(status: e.status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: e.json)))
    }
}

/// The headers every response carries (made once: the middleware is generic, and a
/// generic type cannot hold a static stored property).
private let securityHeaders: [(HTTPField.Name, String)] = [
    (HTTPField.Name("Content-Security-Policy")!, "default-src 'self'"),
    (HTTPField.Name("X-Content-Type-Options")!, "nosniff"),
    (HTTPField.Name("Referrer-Policy")!, "no-referrer"),
    (HTTPField.Name("X-Frame-Options")!, "DENY"),
]
