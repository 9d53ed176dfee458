import Foundation

/// A fixed set of threads that run the engine's blocking work (queries, reading
/// sessions) for async request handlers, so that the cooperative pool of Swift
/// concurrency and NIO's event loops never wait on it. Jobs run in the order they came;
/// at most `threads` at once, however many requests are in flight.
final class WorkPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var head = 0
    private var stopping = false
    private var threads: [Thread] = []
    private let metrics: Metrics?

    init(threads count: Int, metrics: Metrics? = nil) {
        self.metrics = metrics
        for k in 0..<max(1, count) {
            let t = Thread { self.work() }  // the threads keep the pool until `stop`
            t.name = "maildex-query-\(k)"
            t.stackSize = 8 << 20
            threads.append(t)
            t.start()
        }
    }

    private func work() {
        while true {
            condition.lock()
            while head == jobs.count, !stopping { condition.wait() }
            if head == jobs.count { condition.unlock(); return }
            let job = jobs[head]
            head += 1
            if head > 1024, head * 2 > jobs.count { jobs.removeFirst(head); head = 0 }
            condition.unlock()
            job()
        }
    }

    /// Runs `body` on one of the pool's threads and returns what it returns or throws.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            condition.lock()
            let metrics = self.metrics
            jobs.append {
                let start = Metrics.now()
                let result = Result { try body() }
                metrics?.record(work: Metrics.now() - start)
                c.resume(with: result)
            }
            condition.signal()
            condition.unlock()
        }
    }

    /// Lets the threads end once the jobs queued so far are done.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }
}
