#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CPlatform
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// The terms of a batch of sessions, laid out flat (no array per term) so that
/// they can be built and hashed on worker threads.
struct TermBatch {
    var arena: [UInt8] = []
    var starts: [UInt32] = []
    var hashes: [UInt64] = []
    var sessions: [UInt64] = []

    mutating func reserve(terms: Int, bytes: Int) {
        arena.reserveCapacity(bytes); starts.reserveCapacity(terms + 1); hashes.reserveCapacity(terms); sessions.reserveCapacity(terms)
    }

    var count: Int { hashes.count }

    /// One term being written: its kind byte, then its key's bytes up to the key
    /// limit, in a small buffer of its own (where it is also hashed), so the arena
    /// takes each term in one copy instead of one array append per byte. The keys are
    /// written by the layouts in `Terms` (`writePeerKey`, ...), which the lookups share.
    struct Scratch: TermSink {
        static let capacity = Terms.maxKeyBytes + 1
        let base: UnsafeMutableRawPointer
        var count = 0

        init(_ base: UnsafeMutableRawPointer) { self.base = base }

        @inline(__always) mutating func begin(_ kind: TermKind) {
            base.storeBytes(of: kind.rawValue, as: UInt8.self)
            count = 1
        }

        @inline(__always) mutating func append(_ byte: UInt8) {
            guard count < Self.capacity else { return }
            base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
            count += 1
        }

        @inline(__always) mutating func appendBigEndian(_ v: UInt32) {
            // Fixed-width fields come first: at most 17 bytes into an empty term.
            base.storeBytes(of: v.bigEndian, toByteOffset: count, as: UInt32.self)
            count += 4
        }

        @inline(__always) mutating func appendBigEndian(_ v: UInt64) {
            base.storeBytes(of: v.bigEndian, toByteOffset: count, as: UInt64.self)
            count += 8
        }

        /// Appends `bytes` up to the key limit.
        @inline(__always) mutating func append(_ bytes: UnsafeRawBufferPointer) {
            let n = min(bytes.count, Self.capacity - count)
            guard n > 0 else { return }
            (base + count).copyMemory(from: bytes.baseAddress!, byteCount: n)
            count += n
        }

        /// Appends `bytes`, lowercased (ASCII), up to the key limit.
        @inline(__always) mutating func appendLowered(_ bytes: UnsafeRawBufferPointer) {
            let n = min(bytes.count, Self.capacity - count)
            guard n > 0 else { return }
            let to = (base + count).assumingMemoryBound(to: UInt8.self)
            for i in 0..<n { to[i] = Bytes.lower(bytes[i]) }
            count += n
        }

        var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    }

    @inline(__always) private mutating func commit(_ t: Scratch, session: UInt64) {
        if starts.isEmpty { starts.append(0) }
        arena.append(contentsOf: t.bytes)
        starts.append(UInt32(arena.count))
        hashes.append(TermTable.hash(t.bytes))
        sessions.append(session)
    }

    /// Every term of a session (duplicates possible; the writer removes them). The
    /// keys are written by `Terms`' layouts (those of `TermKindInfo.all`'s encodings),
    /// straight into the scratch buffer, without building each key as an array first.
    mutating func add(session s: SessionRecord) {
        withUnsafeTemporaryAllocation(byteCount: Scratch.capacity, alignment: 8) { buffer in
            add(session: s, scratch: Scratch(buffer.baseAddress!))
        }
    }

    private mutating func add(session s: SessionRecord, scratch: Scratch) {
        var t = scratch
        let n = s.number
        if s.channel.isTrail {
            // Message records are found by their messages' ids only.
            for i in s.facts.messages.indices {
                s.facts.messages[i].withUnsafeBytes { m in t.begin(.trail); Terms.writeLoweredKey(m, to: &t); commit(t, session: n) }
            }
            return
        }
        let date = s.date
        s.server?.withUnsafeBytes { v in t.begin(.server); Terms.writeLoweredKey(v, to: &t); commit(t, session: n) }
        s.facts.auth?.withUnsafeBytes { v in t.begin(.auth); Terms.writeLoweredKey(v, to: &t); commit(t, session: n) }
        SessionFlag.forEach(complete: s.complete, facts: s.facts) { flag in
            // The raw values are literals: their bytes are read in place.
            var value = flag.rawValue
            value.withUTF8 { v in t.begin(.flag); t.append(UnsafeRawBufferPointer(v)); commit(t, session: n) }
        }
        if let p = s.facts.peer { t.begin(.peer); Terms.writePeerKey(p, to: &t); commit(t, session: n) }
        t.begin(.date); Terms.writeDateKey(date, to: &t); commit(t, session: n)
        t.begin(.line); Terms.writeLineKey(s.channel.id, date, to: &t); commit(t, session: n)
        // Through each element's own buffer: binding an array to a local would retain
        // it, and its count lives on a line another core wrote.
        s.facts.helo?.withUnsafeBytes { h in t.begin(.helo); Terms.writeLoweredKey(h, to: &t); commit(t, session: n) }
        for i in s.facts.messages.indices {
            s.facts.messages[i].withUnsafeBytes { m in t.begin(.message); Terms.writeLoweredKey(m, to: &t); commit(t, session: n) }
        }
        func roles(_ role: TermKind, _ list: [[UInt8]]) {
            for i in list.indices {
                list[i].withUnsafeBytes { a in
                    let at = Terms.lastAt(a)
                    t.begin(role); Terms.writeAddressKey(a, at: at, to: &t); commit(t, session: n)
                    if let d = Terms.domain(ofAddress: a, at: at) {
                        t.begin(.domain); Terms.writeDomainKey(d, to: &t); commit(t, session: n)
                    }
                }
            }
        }
        roles(.sender, s.facts.from)
        roles(.recipient, s.facts.to)
        roles(.rejected, s.facts.rejected)
    }

    func term(_ i: Int) -> ArraySlice<UInt8> { arena[Int(starts[i])..<Int(starts[i + 1])] }
}
