#if canImport(Glibc)
import Glibc
#endif
import MaildexCore

/// How long the server took over API requests, measured inside it (from the request
/// reaching the router to its response's head being ready; a streamed export's body
/// is not counted), as a histogram of ~9%-wide buckets. `GET /api/v1/metrics` shows it
/// with its percentiles and the block cache's hits; a benchmark takes it before and
/// after a run and subtracts.
final class Metrics: @unchecked Sendable {
    private let lock = NSLockLite()
    /// Bucket k holds durations in [2^(k/8), 2^((k+1)/8)) microseconds.
    private var buckets = [Int](repeating: 0, count: 8 * 32)
    private var requests = 0
    private var failures = 0

    static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    func record(nanoseconds: UInt64, status: Int) {
        let us = max(1.0, Double(nanoseconds) / 1000)
        let k = min(buckets.count - 1, Int(log2(us) * 8))
        lock.with {
            buckets[k] += 1
            requests += 1
            if status >= 500 { failures += 1 }
        }
    }

    /// The upper bound, in microseconds, of bucket `k`.
    static func upper(_ k: Int) -> Double { pow(2, Double(k + 1) / 8) }

    func json() -> String {
        let (b, n, f) = lock.with { (buckets, requests, failures) }
        func percentile(_ p: Double) -> Double {
            guard n > 0 else { return 0 }
            var seen = 0
            for (k, c) in b.enumerated() {
                seen += c
                if Double(seen) >= p * Double(n) { return Self.upper(k) / 1000 }
            }
            return Self.upper(b.count - 1) / 1000
        }
        var o = JSONObjectWriter()
        o.int("requests", n)
        o.int("serverErrors", f)
        o.double("p50Ms", percentile(0.5)); o.double("p90Ms", percentile(0.9)); o.double("p99Ms", percentile(0.99))
        o.raw("buckets", "[" + b.enumerated().filter { $0.element > 0 }.map { "[\(formatDouble(Self.upper($0.offset), digits: 1)),\($0.element)]" }.joined(separator: ",") + "]")
        let cache = BlockCache.shared
        var c = JSONObjectWriter()
        c.int("capacityBytes", cache.capacityBytes); c.int("bytesHeld", cache.bytesHeld); c.int("hits", cache.hits); c.int("misses", cache.misses)
        o.raw("blockCache", c.finish())
        return o.finish() + "\n"
    }
}
