import Foundation
import FuzzSupport
import MaildexCore

/// Any bytes as a carry file, the sessions a run left open (given a valid checksum one
/// time in two, so the fuzzer gets past it): decoding gives sessions or an error naming
/// the file, never a crash. Sessions decoded encode and decode again to the same, and a
/// run that resumes them over a day's log ends without a crash, each session it gives
/// rendered whole.
let log: [UInt8] = Array("""
    00:00:01 5 SMTP-1() Stream Created
    00:00:01 4 SMTP-1(1.2.3.4) [1.2.3.4] Inp: HELO a.example
    00:00:02 4 SMTP-1(1.2.3.4) [1.2.3.4] Inp: MAIL FROM:<x@a.example>
    00:00:02 4 SMTP-1(1.2.3.4) [1.2.3.4] Out: 250 ok
    00:00:03 5 SMTP-2() Stream Created
    00:00:04 4 SMTP-1(1.2.3.4) [1.2.3.4] Inp: QUIT
    00:00:04 5 SMTP-1() Stream Disposed

    """.utf8)

func fuzzCarry(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var bytes = Fuzz.bytes(data, size)
    var knobs = Fuzz.Knobs(bytes)
    if knobs.next(0...1) == 0 {
        let crc = CRC32C.checksum(bytes)
        bytes += [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)]
    }
    let path = "carry-000001.bin"
    let carried: [CarriedSession]
    do {
        carried = try CarryFile.decode(bytes, path: path)
    } catch let e as MaildexError {
        Fuzz.require([.corrupt, .unsupportedFormat].contains(e.kind), "a \(e.kind) error: \(e)")
        Fuzz.require(e.path == path, "the error names \(e.path ?? "no file"): \(e)")
        return 0
    } catch {
        Fuzz.require(false, "\(error)")
        return 0
    }
    do {
        let again = try CarryFile.decode(CarryFile.encode(carried), path: path)
        Fuzz.same(again.map(\.session), carried.map(\.session), "encoded and decoded again")
        Fuzz.require(again == carried, "encoded and decoded again, other states")
    } catch {
        Fuzz.require(false, "encoding what was decoded: \(error)")
    }
    // Resumed by a run, as the next day's log is read.
    let s = Sessionizer(threads: 1, chunkSize: knobs.next(16...512), firstSessionNumber: 1 << 20)
    s.resume(carried)
    var out = [Session]()
    log.withUnsafeBytes { p in
        out += s.feed(Window(bytes: p, owner: nil, source: 9, date: Fuzz.date, streamOffset: 0, firstLineNumber: 1))
    }
    out += s.finish()
    // Every session, carried ones included, renders: its lines lie within its text.
    for session in carried.map(\.session) + out {
        for l in session.lines {
            Fuzz.require(Int(l.textOffset) + Int(l.length) <= session.text.count, "session \(session.number): a line past its text")
        }
        let view = SessionView(session: session, sourceName: { "source-\($0)" })
        _ = view.json() + view.transcript(provenance: true)
    }
    return 0
}

Fuzz.run { fuzzCarry($0, $1) }
