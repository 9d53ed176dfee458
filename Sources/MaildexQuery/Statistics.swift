import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize
import MaildexIndex

/// Counts over an index, or over the sessions a query matches: sessions and
/// messages per day, top peers, senders, recipient domains, rejections.
public struct IndexStatistics: Sendable {
    public struct Day: Sendable { public var date: CivilDate; public var sessions = 0; public var messages = 0; public var rejected = 0 }
    /// The sessions of one server (`index --server`); `name` nil for files of no named server.
    public struct Server: Sendable { public var name: String?; public var sessions = 0; public var messages = 0; public var rejected = 0 }

    public var sessions = 0
    public var complete = 0
    public var messages = 0
    public var sessionsWithRejections = 0
    public var rejectedRecipients = 0
    public var days: [Day] = []
    /// Per server, by name (no name first).
    public var servers: [Server] = []
    public var topPeers: [(String, Int)] = []
    public var topSenders: [(String, Int)] = []
    public var topRecipientDomains: [(String, Int)] = []
    public var topRejected: [(String, Int)] = []

    static func top(_ counts: [String: Int], _ n: Int) -> [(String, Int)] {
        Array(counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(n))
    }

    /// Statistics of the whole index, from its session tables and term dictionaries
    /// (no session is decompressed).
    public static func of(_ index: IndexReader, top n: Int = 10) throws -> IndexStatistics {
        var st = IndexStatistics()
        var days: [CivilDate: Day] = [:]
        var servers: [String: Server] = [:]
        for (i, seg) in index.segments.enumerated() {
            // Each session's server, from the lists of the segment's server terms, walked
            // beside its session table (both in number order).
            var lists = [(name: String, numbers: [UInt64], at: Int)]()
            try seg.lookupRange([TermKind.server.rawValue], [TermKind.server.rawValue] + [UInt8](repeating: 0xFF, count: 65)) { t, list in
                lists.append((String(decoding: t.dropFirst(), as: UTF8.self), list, 0))
            }
            for k in 0..<seg.sessionCount {
                let e = try seg.entry(at: k)
                var name = ""
                for j in lists.indices {
                    while lists[j].at < lists[j].numbers.count, lists[j].numbers[lists[j].at] < e.number { lists[j].at += 1 }
                    if lists[j].at < lists[j].numbers.count, lists[j].numbers[lists[j].at] == e.number { name = lists[j].name }
                }
                if index.shadowed[i].contains(e.number) { continue }
                st.add(entry: e, &days)
                var sv = servers[name] ?? Server(name: name.isEmpty ? nil : name)
                sv.sessions += 1; sv.messages += e.messageCount; sv.rejected += e.rejectedCount
                servers[name] = sv
            }
        }
        st.days = days.values.sorted { $0.date < $1.date }
        st.servers = servers.keys.sorted().map { servers[$0]! }
        var peers = [String: Int](), senders = [String: Int](), domains = [String: Int](), rejected = [String: Int]()
        for (i, seg) in index.segments.enumerated() {
            let hidden = index.shadowed[i]
            // Session counts per term; in a segment some of whose sessions a later one
            // replaced, count the visible sessions of each list instead.
            func each(_ kind: TermKind, _ visit: ([UInt8], Int) -> Void) throws {
                if hidden.isEmpty {
                    try seg.terms(withPrefix: [kind.rawValue], visit: visit)
                } else {
                    try seg.lookupRange([kind.rawValue], [kind.rawValue] + [UInt8](repeating: 0xFF, count: 64)) { t, list in
                        let n = list.reduce(0) { $0 + (hidden.contains($1) ? 0 : 1) }
                        if n > 0 { visit(t, n) }
                    }
                }
            }
            try each(.peer) { t, c in
                if let a = IPAddress(bytes: t.dropFirst()) { peers[a.description, default: 0] += c }
            }
            try each(.sender) { t, c in
                let s = String(decoding: Terms.address(fromKey: t.dropFirst()), as: UTF8.self)
                senders[s.isEmpty ? "<>" : s, default: 0] += c
            }
            try each(.recipient) { t, c in
                if let d = Terms.domain(of: Terms.address(fromKey: t.dropFirst())) { domains[String(decoding: d, as: UTF8.self), default: 0] += c }
            }
            try each(.rejected) { t, c in
                rejected[String(decoding: Terms.address(fromKey: t.dropFirst()), as: UTF8.self), default: 0] += c
            }
        }
        st.topPeers = top(peers, n); st.topSenders = top(senders, n)
        st.topRecipientDomains = top(domains, n); st.topRejected = top(rejected, n)
        return st
    }

    /// Statistics of the sessions numbered `numbers`.
    public static func of(_ index: IndexReader, sessions numbers: [UInt64], top n: Int = 10, threads: Int = Parallel.cores) throws -> IndexStatistics {
        var st = IndexStatistics()
        var days: [CivilDate: Day] = [:]
        var peers = [String: Int](), senders = [String: Int](), domains = [String: Int](), rejected = [String: Int]()
        var servers: [String: Server] = [:]
        try index.forEachBatch(numbers, threads: threads, resolvingOffsets: false, caching: false) { _, batch in for s in batch {
            let name = index.server(of: s) ?? ""
            var sv = servers[name] ?? Server(name: name.isEmpty ? nil : name)
            sv.sessions += 1; sv.messages += s.facts.messages.count; sv.rejected += s.facts.rejected.count
            servers[name] = sv
            st.sessions += 1
            if s.complete { st.complete += 1 }
            st.messages += s.facts.messages.count
            st.rejectedRecipients += s.facts.rejected.count
            if !s.facts.rejected.isEmpty { st.sessionsWithRejections += 1 }
            var d = days[s.date] ?? Day(date: s.date)
            d.sessions += 1; d.messages += s.facts.messages.count; d.rejected += s.facts.rejected.count
            days[s.date] = d
            if let p = s.facts.peer { peers[p.description, default: 0] += 1 }
            for f in Set(s.facts.from) { senders[f.isEmpty ? "<>" : String(decoding: f, as: UTF8.self), default: 0] += 1 }
            for t in Set(s.facts.to) { if let dom = Terms.domain(of: t) { domains[String(decoding: dom, as: UTF8.self), default: 0] += 1 } }
            for r in Set(s.facts.rejected) { rejected[String(decoding: r, as: UTF8.self), default: 0] += 1 }
        } }
        st.days = days.values.sorted { $0.date < $1.date }
        st.servers = servers.keys.sorted().map { servers[$0]! }
        st.topPeers = top(peers, n); st.topSenders = top(senders, n)
        st.topRecipientDomains = top(domains, n); st.topRejected = top(rejected, n)
        return st
    }

    mutating func add(entry e: SessionEntry, _ days: inout [CivilDate: Day]) {
        sessions += 1
        if e.complete { complete += 1 }
        messages += e.messageCount
        rejectedRecipients += e.rejectedCount
        if e.rejectedCount > 0 { sessionsWithRejections += 1 }
        var d = days[e.date] ?? Day(date: e.date)
        d.sessions += 1; d.messages += e.messageCount; d.rejected += e.rejectedCount
        days[e.date] = d
    }

    public func json() -> String {
        var o = JSONObjectWriter()
        o.int("sessions", sessions); o.int("complete", complete); o.int("messages", messages)
        o.int("sessionsWithRejections", sessionsWithRejections); o.int("rejectedRecipients", rejectedRecipients)
        o.raw("days", "[" + days.map { d in
            var j = JSONObjectWriter()
            j.string("date", d.date.description); j.int("sessions", d.sessions); j.int("messages", d.messages); j.int("rejected", d.rejected)
            return j.finish()
        }.joined(separator: ",") + "]")
        o.raw("servers", "[" + servers.map { sv in
            var j = JSONObjectWriter()
            if let name = sv.name { j.string("server", name) } else { j.raw("server", "null") }
            j.int("sessions", sv.sessions); j.int("messages", sv.messages); j.int("rejected", sv.rejected)
            return j.finish()
        }.joined(separator: ",") + "]")
        func list(_ k: String, _ name: String, _ l: [(String, Int)]) {
            o.raw(k, "[" + l.map { "{\(JSONObjectWriter.quote(name)):\(JSONObjectWriter.quote($0.0)),\"sessions\":\($0.1)}" }.joined(separator: ",") + "]")
        }
        list("topPeers", "peer", topPeers)
        list("topSenders", "sender", topSenders)
        list("topRecipientDomains", "domain", topRecipientDomains)
        list("topRejected", "address", topRejected)
        return o.finish()
    }

    public func text() -> String {
        var out = "sessions: \(sessions) (\(complete) complete), messages: \(messages), sessions with rejections: \(sessionsWithRejections), rejected recipients: \(rejectedRecipients)\n"
        out += "\nper day:\n"
        for d in days { out += "  \(d.date)  \(d.sessions) sessions  \(d.messages) messages  \(d.rejected) rejected\n" }
        if servers.contains(where: { $0.name != nil }) {
            out += "\nper server:\n"
            for sv in servers { out += "  \(sv.name ?? "(none)")  \(sv.sessions) sessions  \(sv.messages) messages  \(sv.rejected) rejected\n" }
        }
        func list(_ title: String, _ l: [(String, Int)]) {
            out += "\n\(title):\n"
            for (k, v) in l { out += "  \(v)\t\(k)\n" }
        }
        list("top peers", topPeers)
        list("top senders", topSenders)
        list("top recipient domains", topRecipientDomains)
        list("top rejected recipients", topRejected)
        return out
    }
}
