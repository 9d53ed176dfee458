import Foundation
import FuzzSupport
import MaildexCore

/// Any bytes as query text, split into terms as a shell or the API splits `q`: the parser
/// gives a query or a syntax error (never another error, never a crash); a query runs
/// against a small index and gives sorted, distinct session numbers of that index; and its
/// ClickHouse SQL (`maildex sql`) quotes every literal, so no byte of the input ends one.
let index: IndexReader = {
    // The index: the log seeds (generated and real, both dialects), a day each, built
    // once per process.
    let seeds = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Seeds").standardized.path
    let logs = Fuzz.scratch + "/query-logs", dir = Fuzz.scratch + "/query-index"
    for d in [logs, dir] { try? FileManager.default.removeItem(atPath: d) }
    try! FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: seeds).sorted()) ?? []
    for (i, name) in names.enumerated() {
        try! FileManager.default.copyItem(atPath: seeds + "/" + name, toPath: logs + "/\(Fuzz.date.adding(days: i)).log")
    }
    var o = Indexer.Options()
    o.read.restSeconds = 0
    _ = try! Indexer.run(directory: dir, paths: [logs], options: o)
    let reader = try! IndexReader(directory: dir)
    Fuzz.require(reader.sessionCount > 20, "the seed logs in \(seeds) gave \(reader.sessionCount) sessions")
    return reader
}()
let engine = QueryEngine(index: index, threads: 1)
let now = (Fuzz.date.adding(days: 1), Int32(43_200))

func fuzzQuery(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    let text = String(decoding: bytes, as: UTF8.self)
    let terms = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).map(String.init)
    let query: Query
    do {
        query = try Query.parse(terms, now: now)
    } catch let e as MaildexError {
        Fuzz.require(e.kind == .syntax, "\(terms): a \(e.kind) error, not a syntax error: \(e)")
        Fuzz.require(!e.message.isEmpty, "\(terms): an empty message")
        return 0
    } catch {
        Fuzz.require(false, "\(terms): \(error)")
        return 0
    }
    do {
        let found = try engine.matches(query)
        Fuzz.require(zip(found, found.dropFirst()).allSatisfy { $0 < $1 }, "\(terms): matches not sorted and distinct")
        Fuzz.require(found.count <= index.sessionCount, "\(terms): \(found.count) matches of \(index.sessionCount) sessions")
        // The same query parsed again is the same query, and finds the same.
        let twice = try Query.parse(terms, now: now)
        Fuzz.require(twice == query, "\(terms): parsed twice, two queries")
    } catch {
        Fuzz.require(false, "\(terms): the query failed: \(error)")
    }
    let sql = Array(ClickHouseSQL.select(query, limit: 10).utf8)
    Fuzz.require(quotesBalance(sql), "\(terms): the SQL's quotes do not balance: \(String(decoding: sql, as: UTF8.self))")
    Fuzz.require(!sql.contains(0) && sql.allSatisfy { $0 >= 32 || $0 == 10 }, "\(terms): the SQL holds a control byte")
    return 0
}

/// Whether every `'` of the SQL opens or closes a literal, backslash escapes inside one
/// excepted: the SQL ends outside a literal.
func quotesBalance(_ sql: [UInt8]) -> Bool {
    var inside = false
    var i = 0
    while i < sql.count {
        let c = sql[i]
        if inside && c == 92 { i += 2; continue }
        if c == 39 { inside.toggle() }
        i += 1
    }
    return !inside
}

Fuzz.run { fuzzQuery($0, $1) }
