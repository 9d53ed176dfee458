#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import MaildexCore

/// `maildex query --batch FILE`: one query per line, answered in one process from one
/// `Searcher` (its block cache on, as queries of one list hit the same blocks).
struct BatchQueries {
    let searcher: Searcher
    let count: Bool
    let messages: Bool
    let order: Order
    let limit: Int?

    /// Answers every line of `path` (`-`: standard input, read as it comes); returns
    /// how many lines did not parse.
    func run(path: String, out: ByteOutput) throws -> Int {
        if BlockCache.shared.capacityBytes == 0 { BlockCache.shared.capacityBytes = 256 << 20 }
        let file: UnsafeMutablePointer<FILE>
        if path == "-" {
            file = fdopen(0, "r")!
        } else {
            guard let f = fopen(path, "r") else { throw MaildexError.io(path, errno: errno) }
            file = f
        }
        defer { if path != "-" { fclose(file) } }  // standard input stays open
        var failed = 0
        var lineNumber = 0
        var buffer: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(buffer) }
        while true {
            let n = getline(&buffer, &capacity, file)
            if n < 0 {
                if ferror(file) != 0 { throw MaildexError.io(path, errno: errno) }
                break
            }
            lineNumber += 1
            var bytes = [UInt8](UnsafeRawBufferPointer(start: buffer, count: n))
            while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }
            let text = String(decoding: bytes, as: UTF8.self)
            let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if words.isEmpty || words[0].hasPrefix("#") { continue }
            var prefix = [UInt8]("{\"query\":".utf8)
            JSONBytesWriter.appendQuoted(bytes, to: &prefix)
            do {
                try answer(words, prefix: prefix, out: out)
            } catch let e as MaildexError where e.kind == .syntax {
                failed += 1
                warn("maildex: \(path):\(lineNumber): \(e.message)")
                var line = prefix
                line += Array(",\"error\":".utf8)
                JSONBytesWriter.appendQuoted(Array(e.message.utf8), to: &line)
                line += [125, 10]
                out.write(line)
            }
            if out.failure != nil { try finishStandardOutput() }
        }
        return failed
    }

    /// One query's answer: its count, or its sessions with `"query"` as their first key.
    func answer(_ terms: [String], prefix: [UInt8], out: ByteOutput) throws {
        let q = try Query.parse(terms)
        if count {
            var line = prefix
            line += Array(",\"count\":\(try searcher.count(q))}\n".utf8)
            out.write(line)
            return
        }
        let result = try searcher.search(q, order: order, limit: limit)
        try searcher.render(result, as: .json, messages: messages) { bytes in
            // Each object is one line, `{...}\n`: the key goes in after its brace.
            var at = 0
            var line = [UInt8]()
            line.reserveCapacity(bytes.count + prefix.count * 2)
            while at < bytes.count {
                var end = at
                while end < bytes.count, bytes[end] != 10 { end += 1 }
                guard end > at, bytes[at] == 123 else { line += bytes[at..<min(end + 1, bytes.count)]; at = end + 1; continue }
                line += prefix
                line.append(44)
                line += bytes[(at + 1)..<min(end + 1, bytes.count)]
                at = end + 1
            }
            out.write(line)
        }
    }
}
