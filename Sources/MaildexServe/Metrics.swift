#if canImport(Glibc)
import Glibc
#endif
import MaildexCore

/// Times measured inside the server, as histograms of ~9%-wide buckets:
/// - `requests`: each API request, from reaching the router to its response's head
///   being ready (a streamed export's body is not counted), waiting for a worker
///   included;
/// - `work`: each piece of the engine's work on a `WorkPool` thread (a query, the
///   sessions of a page and their JSON), without the wait for a free thread: the
///   server's own time for a lookup, whatever the queue in front of it.
/// `GET /api/v1/metrics` shows both with their percentiles and the block cache's hits;
/// a benchmark takes it before and after a run and subtracts.
final class Metrics: @unchecked Sendable {
    private let lock = NSLockLite()
    private var requests = LatencyHistogram()
    private var work = LatencyHistogram()
    private var serverErrors = 0

    static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    func record(request nanoseconds: UInt64, status: Int) {
        lock.with {
            requests.add(nanoseconds)
            if status >= 500 { serverErrors += 1 }
        }
    }

    func record(work nanoseconds: UInt64) { lock.with { work.add(nanoseconds) } }

    func json() -> String {
        let (r, w, e) = lock.with { (requests, work, serverErrors) }
        var o = JSONObjectWriter()
        o.raw("requests", r.json())
        o.raw("work", w.json())
        o.int("serverErrors", e)
        let cache = BlockCache.shared
        var c = JSONObjectWriter()
        c.int("capacityBytes", cache.capacityBytes); c.int("bytesHeld", cache.bytesHeld); c.int("hits", cache.hits); c.int("misses", cache.misses)
        o.raw("blockCache", c.finish())
        return o.finish() + "\n"
    }
}

/// Counts of durations: bucket k holds [2^(k/8), 2^((k+1)/8)) microseconds.
struct LatencyHistogram {
    var buckets = [Int](repeating: 0, count: 8 * 32)
    var count = 0

    mutating func add(_ nanoseconds: UInt64) {
        let us = max(1.0, Double(nanoseconds) / 1000)
        buckets[min(buckets.count - 1, Int(log2(us) * 8))] += 1
        count += 1
    }

    /// The upper bound, in microseconds, of bucket `k`.
    static func upper(_ k: Int) -> Double { pow(2, Double(k + 1) / 8) }

    func percentile(_ p: Double) -> Double {
        guard count > 0 else { return 0 }
        var seen = 0
        for (k, c) in buckets.enumerated() {
            seen += c
            if Double(seen) >= p * Double(count) { return Self.upper(k) / 1000 }
        }
        return Self.upper(buckets.count - 1) / 1000
    }

    /// `{"count":N,"p50Ms":..,"p90Ms":..,"p99Ms":..,"buckets":[[upperMicroseconds,count],...]}`
    func json() -> String {
        var o = JSONObjectWriter()
        o.int("count", count)
        o.double("p50Ms", percentile(0.5)); o.double("p90Ms", percentile(0.9)); o.double("p99Ms", percentile(0.99))
        o.raw("buckets", "[" + buckets.enumerated().filter { $0.element > 0 }
            .map { "[\(formatDouble(Self.upper($0.offset), digits: 1)),\($0.element)]" }.joined(separator: ",") + "]")
        return o.finish()
    }
}
