import MaildexSupport
import MaildexParse
import MaildexRead

/// Reads a set of files in order and sessionizes them as one stream (sessions
/// continue across files), without writing an index. The indexer does the same
/// with an index writer attached; tests and `maildex sessions` use this directly.
public enum FileSetReader {
    public struct Result {
        public var sessions: [Session] = []
        /// The message trails (each a `Session` whose channel `isTrail`), in order.
        public var trails: [Session] = []
        public var counts = ParseCounts()
        public var summaries: [ReadSummary] = []
        public var errors: [IOError] = []
    }

    public static func sessions(of files: [InputFile], threads: Int = 2, chunkSize: Int = 1 << 20,
                                read: ReadOptions = ReadOptions()) -> Result {
        var result = Result()
        let sessionizer = Sessionizer(threads: threads, chunkSize: chunkSize)
        var options = read
        options.threads = threads
        for (i, file) in files.enumerated() {
            guard let stamp = file.stamp else {
                result.errors.append(IOError(path: file.path, offset: nil, message: "no date in the file name (use --date)"))
                continue
            }
            do {
                let box = ResultBox()
                let summary = try SourceReader.read(path: file.path, source: UInt32(i), date: stamp.date, options: options) { w in
                    let before = sessionizer.counts.lines
                    box.sessions += sessionizer.feed(w)
                    return sessionizer.counts.lines - before
                }
                result.sessions += box.sessions
                if let e = summary.error { result.errors.append(e) }
                result.summaries.append(summary)
            } catch let e as IOError {
                result.errors.append(e)
            } catch {
                result.errors.append(IOError(path: file.path, offset: nil, message: "\(error)"))
            }
        }
        result.sessions += sessionizer.finish()
        result.trails = sessionizer.trails
        result.sessions.sort { $0.number < $1.number }
        result.counts = sessionizer.counts
        return result
    }

    final class ResultBox { var sessions: [Session] = [] }
}
