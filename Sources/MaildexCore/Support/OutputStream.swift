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

    public func flush() {
        var at = 0
        buffer.withUnsafeBytes { b in
            while at < b.count {
                let n = Glibc.write(fd, b.baseAddress! + at, b.count - at)
                if n <= 0 { if errno == EINTR { continue }; break }
                at += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
