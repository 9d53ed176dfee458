#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered raw-byte output to a file descriptor (stdout for results, stderr for
/// notes): transcripts are written as the bytes they are, never re-encoded.
public final class ByteOutput: @unchecked Sendable {
    public let fd: Int32
    private var buffer = [UInt8]()

    public init(fd: Int32) { self.fd = fd; buffer.reserveCapacity(1 << 16) }
    deinit { flush() }

    public static let standardOutput = ByteOutput(fd: 1)
    public static let standardError = ByteOutput(fd: 2)

    public func write(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    public func write(_ s: String) { write(s.utf8) }

    public func line(_ s: String) { write(s.utf8); buffer.append(10); if fd == 2 { flush() } }

    /// The `errno` of the first write that failed (a full disk, a closed reader); what
    /// is written after it is dropped. `finish()` reports it.
    public private(set) var failure: Int32? = nil

    public func flush() {
        var at = 0
        if failure == nil {
            buffer.withUnsafeBytes { b in
                while at < b.count {
                    let n = Glibc.write(fd, b.baseAddress! + at, b.count - at)
                    if n < 0, errno == EINTR { continue }
                    if n <= 0 { failure = n < 0 ? errno : EIO; break }
                    at += n
                }
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, and throws if any of the output could not be written: a command must
    /// not exit 0 with its answer cut short.
    public func finish() throws {
        flush()
        if let failure { throw OutputError(fd: fd, errno: failure) }
    }
}

/// Output that could not be written.
public struct OutputError: Error, CustomStringConvertible {
    public var fd: Int32
    public var errno: Int32
    public var description: String {
        "cannot write to standard \(fd == 2 ? "error" : "output"): \(String(cString: strerror(errno)))"
    }
}
