#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// The indexer's `SegmentSink`: the segment being written, rolled over when full.
extension Indexer {
    /// The segment being written, and a new one whenever it holds as many postings as
    /// memory allows. Used from one thread at a time (the write-behind queue).
    final class SegmentSink: @unchecked Sendable {
        let directory: String
        let threads: Int
        let postingsLimit: Int
        let supersedes: Set<UInt64>
        private(set) var generation: UInt64
        private(set) var finished: [String] = []
        /// Sessions and messages written to the finished segments.
        private(set) var totals = SegmentStats()
        private(set) var writer: SegmentWriter! = nil

        let encoder: SegmentWriter.Encoder

        init(directory: String, generation: UInt64, threads: Int, postingsLimit: Int, supersedes: Set<UInt64>, server: [UInt8]? = nil) {
            self.directory = directory; self.generation = generation; self.threads = threads
            self.postingsLimit = postingsLimit; self.supersedes = supersedes
            encoder = SegmentWriter.Encoder(threads: threads, blockTarget: SegmentFormat.storeBlockTarget, level: SegmentWriter.indexingLevel,
                                            server: server)
        }

        func start() throws {
            generation += 1
            writer = try SegmentWriter(directory: directory, name: Indexer.segmentName(generation), encoder: encoder,
                                       expectedPostings: postingsLimit)
            writer.supersedes = supersedes
        }

        func add(_ sessions: [Session]) throws {
            try writer.add(sessions)
            try rollOverIfFull()
        }

        /// Encodes sessions into blocks; safe to call while `append` runs on another thread.
        func encode(pending: [SessionStitcher.Pending]) -> SegmentWriter.Batch {
            encoder.encode(pending: pending)
        }

        func append(_ batch: SegmentWriter.Batch) throws {
            try writer.append(batch)
            try rollOverIfFull()
        }

        private func rollOverIfFull() throws {
            if writer.postingsCount > postingsLimit {
                try close()
                try start()
            }
        }

        func finish() throws { try close() }

        /// Wall time of the steps of the segments' finishes.
        private(set) var finishSeconds: [String: Double] = [:]

        private func close() throws {
            _ = try writer.finish()
            finishSeconds.merge(writer.finishSeconds, uniquingKeysWith: +)
            finished.append(writer.name)
            totals.sessions += writer.stats.sessions
            totals.messages += writer.stats.messages
        }
    }
}
