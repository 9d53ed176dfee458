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
        // Queries are answered a group at a time, on every core at once (one query's
        // sessions lie in as many blocks as it has sessions, and a core each keeps both
        // busy), and written in the order of their lines.
        var group = [(line: Int, text: [UInt8])]()
        func flush() throws {
            let answers = Parallel.map(group.count, threads: Parallel.cores) { k -> Result<[UInt8], Error> in
                Result { try answer(group[k].text) }
            }
            for (k, a) in answers.enumerated() {
                switch a {
                case .success(let bytes): out.write(bytes)
                case .failure(let e as MaildexError) where e.kind == .syntax:
                    failed += 1
                    warn("maildex: \(path):\(group[k].line): \(e.message)")
                    var line = Self.prefix(group[k].text)
                    line += Array(",\"error\":".utf8)
                    JSONBytesWriter.appendQuoted(Array(e.message.utf8), to: &line)
                    line += [125, 10]
                    out.write(line)
                case .failure(let e): throw e
                }
                if out.failure != nil { try finishStandardOutput() }
            }
            group.removeAll(keepingCapacity: true)
        }
        while true {
            let n = getline(&buffer, &capacity, file)
            if n < 0 {
                if ferror(file) != 0 { throw MaildexError.io(path, errno: errno) }
                break
            }
            lineNumber += 1
            var bytes = [UInt8](UnsafeRawBufferPointer(start: buffer, count: n))
            while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }
            let first = bytes.first { $0 != 32 && $0 != 9 }
            if first == nil || first == UInt8(ascii: "#") { continue }
            group.append((lineNumber, bytes))
            // Standard input is answered as its lines come: a group there is one line.
            if group.count >= (path == "-" ? 1 : 64) { try flush() }
        }
        try flush()
        return failed
    }

    /// `{"query":"LINE"`: what each answer to the line starts with.
    static func prefix(_ line: [UInt8]) -> [UInt8] {
        var prefix = [UInt8]("{\"query\":".utf8)
        JSONBytesWriter.appendQuoted(line, to: &prefix)
        return prefix
    }

    /// One query's answer: its count, or its sessions with `"query"` as their first key.
    func answer(_ line: [UInt8]) throws -> [UInt8] {
        let terms = String(decoding: line, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let q = try Query.parse(terms)
        let prefix = Self.prefix(line)
        if count {
            return prefix + Array(",\"count\":\(try searcher.count(q))}\n".utf8)
        }
        let result = try searcher.search(q, order: order, limit: limit)
        var out = [UInt8]()
        try searcher.render(result, as: .json, messages: messages) { bytes in
            // Each object is one line, `{...}\n`: the key goes in after its brace.
            var at = 0
            while at < bytes.count {
                var end = at
                while end < bytes.count, bytes[end] != 10 { end += 1 }
                let stop = min(end + 1, bytes.count)
                if end > at, bytes[at] == 123 {
                    out += prefix
                    out.append(44)
                    out += bytes[(at + 1)..<stop]
                } else {
                    out += bytes[at..<stop]
                }
                at = end + 1
            }
        }
        return out
    }
}
