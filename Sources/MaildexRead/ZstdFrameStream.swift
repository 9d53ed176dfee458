#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import MaildexSupport
import MaildexParse

/// Streaming one zstd frame: a producer thread decompresses pieces into a bounded queue for the parser.
extension SourceReader {
    /// Streams one frame: a producer thread decompresses pieces into a small queue.
    static func streamFrame(_ file: MappedFile, _ range: Range<Int>, _ options: ReadOptions,
                            _ assembler: WindowAssembler, _ plainBytes: inout UInt64) throws -> IOError? {
        let queue = PieceQueue(capacity: 2)
        let pieceSize = max(1 << 20, options.windowSize / 2)
        let headroom = max(0, options.streamHeadroom)
        let input = UncheckedBox(UnsafeRawBufferPointer(rebasing: file.bytes[range]))
        let path = file.path, base = range.lowerBound
        let producer = DispatchGroup()
        DispatchQueue.global().async(group: producer) {
            let stream = Zstd.StreamDecompressor()
            var inPos = 0
            var error: IOError? = nil
            while true {
                // Decompressed into memory the windows are parsed from (not zeroed first).
                let piece = OwnedBytes(count: headroom + pieceSize)
                var filled = 0
                do {
                    filled = try stream.fill(UnsafeMutableRawBufferPointer(start: piece.pointer + headroom, count: pieceSize),
                                             from: input.value, inputPosition: &inPos)
                } catch {
                    queue.put(.failure(IOError(path: path, offset: UInt64(base + inPos), message: "corrupt zstd data: \(error)")))
                    break
                }
                if filled == 0 {
                    if !stream.atFrameEnd {
                        error = IOError(path: path, offset: UInt64(base + inPos), message: "zstd frame is truncated")
                    }
                    break
                }
                if queue.put(.success(StreamPiece(buffer: piece, start: headroom, count: filled))) == false { return }
            }
            if let error { queue.put(.failure(error)) }
            queue.put(nil)
        }
        defer { queue.cancel(); producer.wait() }
        while let next = queue.take() {
            switch next {
            case .success(let piece):
                try assembler.add(piece.buffer, start: piece.start, count: piece.count)
                plainBytes += UInt64(piece.count)
            case .failure(let e):
                return e
            }
        }
        return nil
    }
}

/// Decompressed bytes: `count` of them in `buffer` from `start` on.
struct StreamPiece {
    package let buffer: OwnedBytes
    let start: Int
    package let count: Int
}

/// A bounded hand-off between the decompressing thread and the parsing one.
final class PieceQueue: @unchecked Sendable {
    private var items: [Result<StreamPiece, IOError>?] = []
    private let lock = NSLockLite()
    private let slots: DispatchSemaphore
    private let filled = DispatchSemaphore(value: 0)
    private var cancelled = false

    package init(capacity: Int) { slots = DispatchSemaphore(value: capacity) }

    /// Adds an item (nil marks the end); false once the consumer has gone.
    @discardableResult
    func put(_ item: Result<StreamPiece, IOError>?) -> Bool {
        slots.wait()
        lock.lock(); defer { lock.unlock() }
        if cancelled { slots.signal(); return false }
        items.append(item)
        filled.signal()
        return true
    }

    /// The next item; nil at the end.
    func take() -> Result<StreamPiece, IOError>? {
        filled.wait()
        lock.lock()
        let item = items.removeFirst()
        lock.unlock()
        slots.signal()
        return item
    }

    /// The consumer stops: wake the producer if it waits for room.
    func cancel() {
        lock.lock(); cancelled = true; items.removeAll(); lock.unlock()
        slots.signal(); slots.signal()
    }
}
