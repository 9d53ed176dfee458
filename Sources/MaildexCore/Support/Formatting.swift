#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time for reports.
public struct Stopwatch {
    let start: timespec
    public init() { var t = timespec(); clock_gettime(CLOCK_MONOTONIC, &t); start = t }
    public var seconds: Double {
        var t = timespec(); clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec - start.tv_sec) + Double(t.tv_nsec - start.tv_nsec) / 1e9
    }
}

/// `1.5K`, `2G`, `300M`, or a plain number of bytes.
public func parseSize(_ text: String) -> UInt64? {
    let t = text.uppercased()
    var mult: Double = 1
    var num = Substring(t)
    if let last = t.last, "KMGT".contains(last) {
        mult = ["K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12][String(last)]!
        num = t.dropLast()
    }
    if num.hasSuffix("I") { num = num.dropLast() }
    guard let v = Double(num), v >= 0 else { return nil }
    return UInt64(v * mult)
}

public func formatBytes(_ n: UInt64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"]
    var v = Double(n), u = 0
    while v >= 1000 && u < units.count - 1 { v /= 1000; u += 1 }
    return u == 0 ? "\(n) B" : "\(formatDouble(v, digits: v < 10 ? 2 : 1)) \(units[u])"
}

public func formatDouble(_ v: Double, digits: Int = 3) -> String {
    guard v.isFinite else { return "0" }
    var buf = [CChar](repeating: 0, count: 64)
    _ = buf.withUnsafeMutableBufferPointer { b in
        withVaList([digits, v]) { vsnprintf(b.baseAddress, 64, "%.*f", $0) }
    }
    return String(cString: buf)
}

/// Writes one JSON object, keys in the order added. Strings are escaped; bytes
/// that are not UTF-8 become U+FFFD.
public struct JSONObjectWriter {
    private var out = "{"
    private var first = true
    public init() {}

    private mutating func key(_ k: String) {
        if !first { out += "," }
        first = false
        out += "\"" + k + "\":"
    }

    public static func quote(_ s: String) -> String {
        var o = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            case "\r": o += "\\r"
            case "\t": o += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    o += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    o.unicodeScalars.append(u)
                }
            }
        }
        return o + "\""
    }

    public static func quote(bytes: some Collection<UInt8>) -> String { quote(String(decoding: bytes, as: UTF8.self)) }

    public mutating func string(_ k: String, _ v: String) { key(k); out += Self.quote(v) }
    public mutating func optionalString(_ k: String, _ v: String?) { key(k); out += v.map(Self.quote) ?? "null" }
    public mutating func int(_ k: String, _ v: Int) { key(k); out += String(v) }
    public mutating func uint(_ k: String, _ v: UInt64) { key(k); out += String(v) }
    public mutating func double(_ k: String, _ v: Double) { key(k); out += formatDouble(v) }
    public mutating func optionalInt(_ k: String, _ v: Int?) { key(k); out += v.map { String($0) } ?? "null" }
    public mutating func bool(_ k: String, _ v: Bool) { key(k); out += v ? "true" : "false" }
    public mutating func strings(_ k: String, _ v: [String]) { key(k); out += "[" + v.map(Self.quote).joined(separator: ",") + "]" }
    /// A value already written as JSON.
    public mutating func raw(_ k: String, _ json: String) { key(k); out += json }
    public mutating func finish() -> String { out + "}" }
}
