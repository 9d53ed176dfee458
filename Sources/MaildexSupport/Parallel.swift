#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// Runs loop bodies on worker threads with `DispatchQueue.concurrentPerform`.
public enum Parallel {
    /// The cores online.
    public static let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))

    /// Calls `body(i)` for every `i` in `0..<count`, on at most `threads` threads
    /// (serially when `threads` is 1). Bodies must touch disjoint state.
    ///
    /// Each worker takes the next index when it is done with one, rather than every
    /// `threads`-th index from the start: the indexer runs the parser's and the encoder's
    /// loops at once beside the hashing thread, so a worker may get less of a core than
    /// another, and a fixed share would leave the faster one idle at the end of each loop.
    public static func forEach(_ count: Int, threads: Int, _ body: (Int) -> Void) {
        if count == 0 { return }
        if threads <= 1 || count == 1 {
            for i in 0..<count { body(i) }
            return
        }
        let workers = min(threads, count)
        let next = NextIndex()
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while true {
                    let i = next.take()
                    if i >= count { break }
                    box.value(i)
                }
            }
        }
    }

    /// The next index to hand out (a mutex: a loop body takes far longer than a lock).
    private final class NextIndex: @unchecked Sendable {
        private var value = 0
        private let lock = NSLockLite()
        func take() -> Int { lock.with { defer { value += 1 }; return value } }
    }

    /// `map` over `0..<count` in parallel, results in index order. Results are written
    /// in place (no optional wrapping and unwrapping of large values).
    public static func map<T>(_ count: Int, threads: Int, _ body: (Int) -> T) -> [T] {
        if count == 0 { return [] }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let slots = UncheckedBox(buffer.baseAddress!)
            forEach(count, threads: threads) { i in (slots.value + i).initialize(to: body(i)) }
            initialized = count
        }
    }
}

/// Carries a value into `concurrentPerform`; the caller guarantees disjoint use.
package struct UncheckedBox<T>: @unchecked Sendable {
    package let value: T
    package init(_ v: T) { value = v }
}

/// Keeps a computed value from being optimized away (with the loads that made it).
@inline(never) package func blackHole(_ x: Int) {
    if x == Int.min { print("", terminator: "") }
}
