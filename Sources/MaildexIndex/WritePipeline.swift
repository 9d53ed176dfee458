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

/// The indexer's `WritePipeline`: encoding and appending sessions behind the parser.
extension Indexer {
    /// Runs the writing of sessions in two stages behind the parser: encoding (parallel
    /// within a batch) on one queue, appending to the segment (sequential, in order) on
    /// another. The parser parses window N+2 while window N+1's sessions are encoded
    /// and window N's are appended, so no core waits on the writer's sequential part.
    /// At most `maxBacklog` encoded batches wait to be appended (a segment's finish
    /// runs on the append queue and may take a while).
    /// With `inline`, every stage runs at once on the caller's thread.
    final class WritePipeline: @unchecked Sendable {
        private let encodeQueue = DispatchQueue(label: "maildex.encode")
        private let appendQueue = DispatchQueue(label: "maildex.append")
        private let encoding = DispatchGroup()
        private let appending = DispatchGroup()
        private let backlog: DispatchSemaphore
        private let lock = NSLockLite()
        private var failure: Error? = nil
        private let inline: Bool
        /// Wall time spent in each stage (each stage runs one job at a time).
        private(set) var encodeSeconds = 0.0
        private(set) var appendSeconds = 0.0

        init(inline: Bool = false, maxBacklog: Int = 3) {
            self.inline = inline
            backlog = DispatchSemaphore(value: maxBacklog)
        }

        /// Waits for the previous batch's encoding, then encodes `encode()` and appends
        /// the result after every batch submitted before it.
        func submit<Batch>(encode: @escaping () -> Batch, append: @escaping (Batch) throws -> Void) throws {
            if inline {
                try rethrow()
                let t = Stopwatch()
                let batch = encode()
                let t1 = t.seconds
                do { try append(batch) } catch { fail(error); throw error }
                encodeSeconds += t1; appendSeconds += t.seconds - t1
                return
            }
            encoding.wait()
            try rethrow()
            backlog.wait()
            let job = UncheckedBox((encode, append))
            encoding.enter()
            appending.enter()
            encodeQueue.async {
                let t = Stopwatch()
                let batch = UncheckedBox(job.value.0())
                self.encodeSeconds += t.seconds
                self.encoding.leave()
                self.appendQueue.async {
                    defer { self.backlog.signal(); self.appending.leave() }
                    guard self.failed == nil else { return }
                    let t = Stopwatch()
                    do { try job.value.1(batch.value) } catch { self.fail(error) }
                    self.appendSeconds += t.seconds
                }
            }
        }

        /// Runs `work` on the append queue after every batch submitted so far.
        func afterLast(_ work: @escaping () throws -> Void) throws {
            try rethrow()
            if inline {
                do { return try work() } catch { fail(error); throw error }
            }
            let job = UncheckedBox(work)
            // Queued behind the encoding in flight, so it follows that batch's append.
            encoding.enter()
            appending.enter()
            encodeQueue.async {
                self.encoding.leave()
                self.appendQueue.async {
                    defer { self.appending.leave() }
                    guard self.failed == nil else { return }
                    do { try job.value() } catch { self.fail(error) }
                }
            }
        }

        /// Waits until every batch is appended; rethrows the first error of any.
        func drain() throws {
            encoding.wait()
            appending.wait()
            try rethrow()
        }

        private var failed: Error? { lock.with { failure } }
        private func fail(_ e: Error) { lock.with { if failure == nil { failure = e } } }
        /// A failed append leaves the segment unusable: the error stays, and every later
        /// call rethrows it.
        private func rethrow() throws {
            if let e = failed { throw e }
        }
    }
}
