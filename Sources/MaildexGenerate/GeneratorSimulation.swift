#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// The generator's simulation: sessions started, stepped and finished, records of other components, and time prefixes.
extension CorpusGenerator {
    // MARK: - The simulation

    func step() {
        while active.count < concurrency { startSession() }
        // The messages' own records (and a few of other components' about them), once due;
        // now and then a session's line comes first, so they interleave.
        if !pending.isEmpty, pending.firstDue <= now, pending.count > 256 || random.chance(0.6) {
            writePending()
            return
        }
        // Records of other components.
        let r = random.unit()
        if r < 0.06 { noise(); return }
        let i = random.below(active.count)
        let s = active[i]
        emit(s)
        if s.next >= s.stop {
            active[i] = active[active.count - 1]
            active.removeLast()
            finishSession(s)
        }
    }

    func startSession() {
        if !stalker, options.outboundShare > 0, random.chance(options.outboundShare) { return startOutbound() }
        let peer = peers[min(peers.count - 1, Int(Double(peers.count) * pow(random.unit(), 4)))]
        let orphan = random.chance(0.01)
        var id: UInt32
        if stalker {
            // An orphan may not take the id of a session that was never closed: its
            // records would continue that session.
            var k = random.below(freeStalkerIDs.count)
            if orphan {
                var tries = 0
                while danglingIDs.contains(freeStalkerIDs[k]) && tries < 20 { k = random.below(freeStalkerIDs.count); tries += 1 }
                if danglingIDs.contains(freeStalkerIDs[k]) { return startNormal(peer) }
            }
            id = freeStalkerIDs.swapAt(k)
            danglingIDs.remove(id)
        } else {
            id = cgpBase + nextCGPID
            nextCGPID = (nextCGPID + 1) % 250_000
        }
        let s = GenSession(key: ChannelKey(kind: stalker ? ChannelKey.smtp : ChannelKey.smtpi, id: id),
                           idText: stalker ? Array(String(id).utf8) : Array(pad6(id)),
                           peer: peer.ip, peerText: peer.text, port: 1024 + random.below(64000),
                           helo: heloNames[min(heloNames.count - 1, Int(Double(heloNames.count) * pow(random.unit(), 2)))])
        script(s)
        if orphan {
            s.next = min(s.steps.count - 1, 4 + random.below(8))
            while s.next < s.steps.count - 1, s.steps[s.next].flags & GenStep.continuation != 0 { s.next += 1 }
        }
        if random.chance(0.01) { s.stop = max(s.next + 1, s.steps.count - 1 - random.below(6)); s.vanishes = true }
        s.truthIndex = truth.count
        truth.append(nil)
        active.append(s)
    }

    func startNormal(_ peer: (ip: IPAddress, text: [UInt8])) {
        // Fallback when no id is safe for an orphan: start an ordinary session.
        let k = random.below(freeStalkerIDs.count)
        let id = freeStalkerIDs.swapAt(k)
        danglingIDs.remove(id)
        let s = GenSession(key: ChannelKey(kind: ChannelKey.smtp, id: id), idText: Array(String(id).utf8),
                           peer: peer.ip, peerText: peer.text, port: 1024 + random.below(64000),
                           helo: heloNames[random.below(heloNames.count)])
        script(s)
        s.truthIndex = truth.count
        truth.append(nil)
        active.append(s)
    }

    func pad6(_ v: UInt32) -> String.UTF8View {
        let s = String(v)
        return (String(repeating: "0", count: max(0, 6 - s.count)) + s).utf8
    }

    func finishSession(_ s: GenSession) {
        if stalker {
            freeStalkerIDs.append(s.key.id)
            if s.vanishes { danglingIDs.insert(s.key.id) }
        }
        releaseDeferred(s)
        finalizeTruth(s)
    }

    /// Writes the session's next record and the continuation lines that follow it.
    func emit(_ s: GenSession) {
        let flags = s.steps[s.next].flags
        emitOne(s)
        while s.next < s.steps.count, s.steps[s.next].flags & GenStep.continuation != 0 { emitOne(s) }
        if flags & GenStep.withNext != 0, s.next < s.stop { emit(s) }
    }

    func emitOne(_ s: GenSession) {
        let st = s.steps[s.next]
        s.next += 1
        if st.flags & GenStep.continuation == 0 {
            writeTimePrefix(level: st.level)
            if options.recordTruth {
                if s.firstTime == nil { s.firstTime = timeText }
                s.lastTime = timeText
            }
        }
        s.body.withUnsafeBufferPointer { b in
            out.append(contentsOf: UnsafeBufferPointer(rebasing: b[Int(st.start)..<Int(st.end)]))
        }
        out.append(10)
        fileLine += 1
        if options.recordTruth {
            if s.firstFile < 0 { s.firstFile = fileIndex; s.firstLine = TruthLine(file: fileIndex, line: fileLine) }
            s.emitted.append(Int32(s.next - 1))
            if options.recordLines { s.lines.append(TruthLine(file: fileIndex, line: fileLine)) }
        }
        switch st.sem {
        case .message, .messageEncrypted: receivedMessage(s, Int(st.value))
        case .sent: sentMessage(s)
        case .reenqueue: if let q = s.relay { relayPool.append(q) }  // back in the queue for another try
        default: break
        }
    }

    /// Writes a record that belongs to no session: `line[0]` is its level, the rest its
    /// text, which may hold continuation lines after `\n`.
    func writeRaw(_ line: [UInt8]) {
        writeTimePrefix(level: line[0])
        out.append(contentsOf: line[1...])
        out.append(10)
        for c in line.dropFirst() where c == 10 { fileLine += 1 }
        fileLine += 1
    }

    func noise() {
        switch random.below(5) {
        case 0:
            let p = peers[random.below(peers.count)].text
            writeRaw([4] + Array("POP-\(random.below(900) + 1)([".utf8) + p + Array("]) Received 6 bytes".utf8))
        case 1:
            writeRaw([2] + Array("ROUTER [\(random.below(100000))] relay routing to \(random.below(50)).example.net".utf8))
        case 2:
            let p = peers[random.below(peers.count)].text
            writeRaw([5] + Array((stalker ? "IMAP-\(random.below(900) + 1)([" : "IMAPI-\(pad6(UInt32(random.below(999_999))))([").utf8) + p
                     + Array("]) Input Line: A01 NOOP\\r".utf8))
        case 3:
            // A record of another component with continuation lines.
            writeRaw([3] + Array("SYSTEM Warning: disk space is low\\r\\n".utf8))
            out.append(contentsOf: Array("  only 12% left on volume /var/spool".utf8)); out.append(10); fileLine += 1
            out.append(10); fileLine += 1
        default:
            tcpSequence += 1
            let p = peers[random.below(peers.count)].text
            if stalker {
                writeRaw([4] + Array("SMTP(tcp) Connection accepted from [".utf8) + p
                         + Array(":\(1024 + random.below(60000))], seq=\(tcpSequence), 3/9".utf8))
            } else {
                writeRaw([5] + Array("SMTP(tcp) connection from [".utf8) + p + Array("]:\(1024 + random.below(60000)) accepted".utf8))
            }
        }
    }

    // MARK: - Time

    func writeTimePrefix(level: UInt8) {
        let dayMillis = now % 86_400_000
        let second = dayMillis / 1000
        if second != timeTextSecond || (!stalker && dayMillis != timeTextMillis) {
            timeTextSecond = second
            timeTextMillis = dayMillis
            timeText.removeAll(keepingCapacity: true)
            func two(_ v: Int64) { timeText.append(UInt8(48 + v / 10)); timeText.append(UInt8(48 + v % 10)) }
            two(second / 3600); timeText.append(58); two((second / 60) % 60); timeText.append(58); two(second % 60)
            if !stalker {
                let ms = dayMillis % 1000
                timeText.append(46)
                timeText.append(UInt8(48 + ms / 100)); timeText.append(UInt8(48 + (ms / 10) % 10)); timeText.append(UInt8(48 + ms % 10))
            }
        }
        out.append(contentsOf: timeText)
        out.append(32)
        out.append(48 + level)
        out.append(32)
    }
}
