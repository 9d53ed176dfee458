import ArgumentParser
import MaildexCore

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sessions and messages per day, top peers, senders, recipient domains, rejections.",
        discussion: """
        Over the whole index, or over the sessions that match the query terms.

        Examples:
          maildex stats --index idx
          maildex stats --index idx --json since:2026-01-01 until:2026-01-07
          maildex stats --index idx ip:203.0.113.0/24 --top 20
        """
    )

    @Option(help: "Index directory.")
    var index: String

    @Argument(help: "Query terms (optional).")
    var terms: [String] = []

    @Flag(help: "JSON output.")
    var json = false

    @Option(help: "Entries in each top list.")
    var top: Int = 10

    func run() throws {
        do {
            let query = terms.isEmpty ? nil : try Query.parse(terms)
            let st = try Searcher(directory: index).statistics(query, top: top)
            ByteOutput.standardOutput.write(json ? st.json() + "\n" : st.text())
        } catch {
            throw fail(error)
        }
        try finishStandardOutput()
    }
}
