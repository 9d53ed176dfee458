import Foundation
import MaildexCore

/// How `maildex serve` runs: which index, where it listens, who may ask.
public struct ServeOptions: Sendable {
    public var index: String
    public var host: String
    public var port: Int
    /// Requests must carry `Authorization: Bearer <token>` when set.
    public var token: String?
    /// Threads for queries in all (`Searcher`'s budget), and threads that run them.
    public var threads: Int
    /// Decompressed store blocks kept in memory (`BlockCache`), in MiB.
    public var cacheMegabytes: Int

    public static let defaultListen = "127.0.0.1:8025"

    public init(index: String, listen: String = ServeOptions.defaultListen, tokenFile: String? = nil, threads: Int = Parallel.cores, cacheMegabytes: Int = 256) throws {
        self.index = index
        (host, port) = try Self.parseListen(listen)
        self.threads = max(1, threads)
        self.cacheMegabytes = max(0, cacheMegabytes)
        token = try tokenFile.map(Self.readToken)
        if token == nil, !Self.isLoopback(host) {
            throw MaildexError(.syntax, "--listen \(listen): \(host) is not a loopback address, and without --token-file anyone who can reach it could read these logs; pass --token-file FILE (every request then needs `Authorization: Bearer TOKEN`), or listen on 127.0.0.1 or [::1]")
        }
    }

    /// `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` (loopback).
    static func parseListen(_ text: String) throws -> (String, Int) {
        func bad(_ why: String) -> MaildexError { MaildexError(.syntax, "--listen \(text): \(why) (expected HOST:PORT, such as 127.0.0.1:8025 or [::1]:0)") }
        var host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw bad("no closing `]`") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw bad("no port after the address") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw bad("no port") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { throw bad("an IPv6 address goes in brackets") }
        }
        if host.isEmpty { host = "127.0.0.1" }
        guard let port = Int(portText), (0...65535).contains(port) else { throw bad("the port is a number from 0 to 65535 (0 picks a free one)") }
        return (String(host), port)
    }

    /// 127.0.0.0/8, ::1 (also as IPv4-mapped) and `localhost`.
    static func isLoopback(_ host: String) -> Bool {
        if host.lowercased() == "localhost" { return true }
        guard let a = IPAddress(host) else { return false }
        if a.isV4 { return (a.low >> 24) & 0xFF == 127 }
        return a.description == "::1"
    }

    /// The token: the file's first line, without surrounding white space.
    static func readToken(_ path: String) throws -> String {
        let bytes = try MappedFile(path: path).withBytes { Array($0) }
        let text = String(decoding: bytes.prefix { $0 != 10 && $0 != 13 }, as: UTF8.self)
        let token = text.trimmingCharacters(in: .whitespaces)
        guard token.count >= 16 else {
            throw MaildexError(.syntax, "--token-file \(path): the token (its first line) has \(token.count) characters; use at least 16, such as `openssl rand -hex 32 > \(path)`", path: path)
        }
        return token
    }
}
