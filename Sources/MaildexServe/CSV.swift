import Foundation
import MaildexCore

/// The CSV form of an export: one row per session, the fields of `query --json` but
/// the transcript (lists joined by spaces). RFC 4180 quoting. A text cell that starts
/// with `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'` before it, so that a
/// spreadsheet shows an attacker's HELO name such as `=HYPERLINK(...)` rather than
/// running it as a formula (the JSON export keeps every value as logged).
enum CSV {
    static let header = "id,date,line,start,end,complete,peer,port,helo,from,to,rejected,messages,file,firstLine,lastLine,server,direction,tls,auth\r\n"

    static func appendRow(_ s: Session, index: IndexReader, to out: inout [UInt8]) {
        func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
        var cells: [String] = [
            String(s.number), s.date.description, String(s.lineID), text(s.start), s.end.map(text) ?? "",
            s.complete ? "true" : "false", s.facts.peer?.description ?? "", s.facts.port.map { String($0) } ?? "",
            cell(s.facts.helo.map(text) ?? ""),
            cell(s.facts.from.map(text).joined(separator: " ")), cell(s.facts.to.map(text).joined(separator: " ")),
            cell(s.facts.rejected.map(text).joined(separator: " ")), cell(s.facts.messages.map(text).joined(separator: " ")),
        ]
        if let first = s.lines.first, let last = s.lines.last {
            cells += [cell(index.sourceName(first.source)), String(first.lineNumber), String(last.lineNumber)]
        } else {
            cells += ["", "", ""]
        }
        // Added with issue #18, after the first columns, so scripts that read those by
        // position keep working.
        cells += [cell(index.server(of: s) ?? ""), s.facts.direction, s.facts.tls ? "true" : "false", cell(s.facts.auth.map(text) ?? "")]
        out += Array(cells.map(quoted).joined(separator: ",").utf8)
        out += [13, 10]
    }

    /// A text cell, defused for spreadsheets.
    static func cell(_ v: String) -> String {
        guard let c = v.utf8.first, [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 9, 13].contains(c) else { return v }
        return "'" + v
    }

    static func quoted(_ v: String) -> String {
        guard v.utf8.contains(where: { $0 == 44 || $0 == 34 || $0 == 10 || $0 == 13 }) else { return v }
        return "\"" + v.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
