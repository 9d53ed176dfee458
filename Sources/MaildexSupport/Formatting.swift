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

/// `s` as one word for `/bin/sh`: as it is when it needs no quoting, else single-quoted.
public func shellQuoted(_ s: String, always: Bool = false) -> String {
    let plain = !s.isEmpty && s.utf8.allSatisfy { $0 == 47 || $0 == 46 || $0 == 45 || $0 == 95 || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }
    if plain && !always { return s }
    return "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
}

public func formatDouble(_ v: Double, digits: Int = 3) -> String {
    guard v.isFinite else { return "0" }
    var buf = [CChar](repeating: 0, count: 64)
    _ = buf.withUnsafeMutableBufferPointer { b in
        withVaList([digits, v]) { vsnprintf(b.baseAddress, 64, "%.*f", $0) }
    }
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
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

    /// A JSON string of `bytes` read as UTF-8 (invalid bytes become U+FFFD, as with
    /// `String(decoding:as:)`). All-ASCII bytes, the usual log line, are escaped byte by
    /// byte without going through `String`'s scalars, with the same result.
    public static func quote(bytes: some Collection<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + 8)
        guard appendQuotedASCII(bytes, to: &out) else { return quote(String(decoding: bytes, as: UTF8.self)) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `bytes` as a JSON string if they are all ASCII; false (and `out` as it
    /// was) if one is not.
    package static func appendQuotedASCII(_ bytes: some Collection<UInt8>, to out: inout [UInt8]) -> Bool {
        if let done = bytes.withContiguousStorageIfAvailable({ appendQuotedASCII(UnsafeRawBufferPointer($0), to: &out) }) {
            return done
        }
        return Array(bytes).withUnsafeBytes { appendQuotedASCII($0, to: &out) }
    }

    /// As above, over raw bytes: runs of bytes that need no escape are copied whole (a
    /// session's lines are mostly such runs; appending byte by byte was a quarter of
    /// an HTTP answer's time).
    package static func appendQuotedASCII(_ p: UnsafeRawBufferPointer, to out: inout [UInt8]) -> Bool {
        let start = out.count
        out.reserveCapacity(start + p.count + 2)
        out.append(34)
        var run = 0
        for i in 0..<p.count {
            let c = p[i]
            if c >= 0x20, c < 0x80, c != 34, c != 92 { continue }
            if c >= 0x80 { out.removeSubrange(start...); return false }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[run..<i]))
            switch c {
            case 34: out.append(92); out.append(34)
            case 92: out.append(92); out.append(92)
            case 10: out.append(92); out.append(110)
            case 13: out.append(92); out.append(114)
            case 9: out.append(92); out.append(116)
            default:
                // \u00XX, lowercase hex as `quote(_:)` writes it.
                let hex = { (d: UInt8) -> UInt8 in d < 10 ? 48 + d : 87 + d }
                out.append(contentsOf: [92, 117, 48, 48, hex(c >> 4), hex(c & 15)])
            }
            run = i + 1
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[run..<p.count]))
        out.append(34)
        return true
    }

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

/// A JSON object written straight into bytes: `JSONObjectWriter`'s output, for the
/// hot path (a session object per answer line), without a `String` per value.
public struct JSONBytesWriter {
    public private(set) var bytes: [UInt8]
    private var first = true

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(123)
    }

    private mutating func key(_ k: String) {
        if !first { bytes.append(44) }
        first = false
        bytes.append(34)
        bytes += k.utf8
        bytes.append(34); bytes.append(58)
    }

    /// `value` as a JSON string: UTF-8, invalid bytes as U+FFFD (as `JSONObjectWriter.quote(bytes:)`).
    public static func appendQuoted(_ value: some Collection<UInt8>, to out: inout [UInt8]) {
        if !JSONObjectWriter.appendQuotedASCII(value, to: &out) {
            out += JSONObjectWriter.quote(String(decoding: value, as: UTF8.self)).utf8
        }
    }

    public mutating func string(_ k: String, _ v: String) { key(k); Self.appendQuoted(v.utf8, to: &bytes) }
    public mutating func string(_ k: String, bytes v: some Collection<UInt8>) { key(k); Self.appendQuoted(v, to: &bytes) }
    public mutating func optionalString(_ k: String, bytes v: [UInt8]?) {
        key(k)
        if let v { Self.appendQuoted(v, to: &bytes) } else { bytes += "null".utf8 }
    }
    public mutating func optionalString(_ k: String, _ v: String?) {
        key(k)
        if let v { Self.appendQuoted(v.utf8, to: &bytes) } else { bytes += "null".utf8 }
    }
    public mutating func int(_ k: String, _ v: Int) { key(k); bytes += String(v).utf8 }
    public mutating func uint(_ k: String, _ v: UInt64) { key(k); bytes += String(v).utf8 }
    public mutating func optionalInt(_ k: String, _ v: Int?) { key(k); bytes += (v.map { String($0) } ?? "null").utf8 }
    public mutating func bool(_ k: String, _ v: Bool) { key(k); bytes += (v ? "true" : "false").utf8 }
    public mutating func strings(_ k: String, bytes list: [[UInt8]]) {
        key(k)
        bytes.append(91)
        for (i, v) in list.enumerated() {
            if i > 0 { bytes.append(44) }
            Self.appendQuoted(v, to: &bytes)
        }
        bytes.append(93)
    }
    /// A value already written as JSON.
    public mutating func raw(_ k: String, _ json: [UInt8]) { key(k); bytes += json }
    public mutating func finish() -> [UInt8] { bytes.append(125); return bytes }
}
