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
    public static func forEach(_ count: Int, threads: Int, _ body: (Int) -> Void) {
        if count == 0 { return }
        if threads <= 1 || count == 1 {
            for i in 0..<count { body(i) }
            return
        }
        let workers = min(threads, count)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var i = w
                while i < count { box.value(i); i += workers }
            }
        }
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
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}

/// Keeps a computed value from being optimized away (with the loads that made it).
@inline(never) func blackHole(_ x: Int) {
    if x == Int.min { print("", terminator: "") }
}
