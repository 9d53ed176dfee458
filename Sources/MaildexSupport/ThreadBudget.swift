/// The worker threads that the queries of one searcher share. Each query runs on its
/// caller's thread and may borrow up to `perQuery - 1` more while it runs, as many as are
/// free: one query alone uses every core, and queries that arrive together share them
/// instead of each starting a worker per core (eight queries on two cores would
/// otherwise run sixteen workers).
public final class ThreadBudget: @unchecked Sendable {
    /// Threads in all: callers' own threads are not counted, so workers borrowed never
    /// exceed `total - 1`.
    public let total: Int
    /// The most one query uses, its caller's thread included.
    public let perQuery: Int
    private var free: Int
    private let lock = NSLockLite()

    public init(total: Int = Parallel.cores, perQuery: Int? = nil) {
        self.total = max(1, total)
        self.perQuery = max(1, min(perQuery ?? self.total, self.total))
        free = self.total - 1
    }

    /// Calls `body` with the number of threads it may use (at least 1, the caller's),
    /// and gives the borrowed ones back when it returns.
    public func withThreads<T>(_ body: (Int) throws -> T) rethrows -> T {
        let borrowed = lock.with { () -> Int in
            let n = min(perQuery - 1, free)
            free -= n
            return n
        }
        defer { lock.with { free += borrowed } }
        return try body(1 + borrowed)
    }

    /// Workers not lent out now.
    public var available: Int { lock.with { free } }
}
