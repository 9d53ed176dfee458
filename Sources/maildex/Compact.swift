import ArgumentParser
import MaildexCore
#if canImport(Glibc)
import Glibc
#endif

struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge an index's segments into one (fewer lookups per query).",
        discussion: """
        Each `maildex index` run adds a segment; compacting merges them. Queries that
        run meanwhile see the old or the new segments, never a mix.

        Example:
          maildex compact --index idx
        """
    )

    @Option(help: "Index directory.")
    var index: String

    @Option(help: "Worker threads.")
    var threads: Int = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))

    func run() throws {
        do {
            let r = try Compactor.run(directory: index, threads: threads)
            warn("compacted \(r.segmentsBefore) segments (\(formatBytes(r.bytesBefore))) into \(r.segmentsAfter) (\(formatBytes(r.bytesAfter))), \(r.sessions) sessions, in \(formatDouble(r.seconds, digits: 2)) s")
        } catch {
            throw fail(error)
        }
    }
}
