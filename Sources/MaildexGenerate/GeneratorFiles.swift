#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexSupport
import MaildexParse
import MaildexRead
import MaildexSessionize

/// The generator's output files: opening, flushing (plain, zstd or zstd frames) and closing them.
extension CorpusGenerator {
    // MARK: - Files

    func openFile(_ name: String, _ date: CivilDate) throws {
        try closeFile()
        fileIndex += 1
        fileLine = 0
        filePlain = 0
        let path = directory + "/" + name
        guard let f = fopen(path, "wb") else { throw GeneratorError(message: "cannot write \(path)") }
        fileHandle = f
        corpus.files.append(GeneratedFile(path: path, name: name, date: date, plainBytes: 0, bytesOnDisk: 0))
        switch options.compression {
        case .none: compressor = nil
        case .zstd: compressor = Zstd.StreamCompressor(level: 3, workers: 2)
        case .zstdFrames: compressor = Zstd.StreamCompressor(level: 3)
        }
        frameFill = 0
        frameCount = 0
    }

    func flush(final: Bool) throws {
        guard fileIndex >= 0, let f = fileHandle else { out.removeAll(keepingCapacity: true); return }
        filePlain += UInt64(out.count)
        corpus.lines += 0
        let write: (UnsafeRawBufferPointer) throws -> Void = { b in
            if b.count > 0, fwrite(b.baseAddress, 1, b.count, f) != b.count {
                throw GeneratorError(message: "write failed: \(self.corpus.files.last!.path)")
            }
        }
        switch options.compression {
        case .none:
            try out.withUnsafeBytes(write)
        case .zstd:
            try out.withUnsafeBytes { try compressor!.write($0, sink: write) }
            if final { try compressor!.endFrame(sink: write) }
        case .zstdFrames:
            // Cut frames every `frameSize` plain bytes; alternate frames with and
            // without a recorded content size.
            try out.withUnsafeBytes { all in
                var at = 0
                while at < all.count {
                    let n = min(options.frameSize - frameFill, all.count - at)
                    let piece = UnsafeRawBufferPointer(rebasing: all[at..<(at + n)])
                    if frameCount % 2 == 0 {
                        pendingFrame.append(contentsOf: piece)
                    } else {
                        try compressor!.write(piece, sink: write)
                    }
                    frameFill += n
                    at += n
                    if frameFill == options.frameSize { try endFrame(write) }
                }
            }
            if final && frameFill > 0 { try endFrame(write) }
        }
        out.removeAll(keepingCapacity: true)
    }

    func endFrame(_ write: (UnsafeRawBufferPointer) throws -> Void) throws {
        if frameCount % 2 == 0 {
            let frame = pendingFrame.withUnsafeBytes { Zstd.compress($0, level: 3) }
            try frame.withUnsafeBytes(write)
            pendingFrame.removeAll(keepingCapacity: true)
        } else {
            try compressor!.endFrame(sink: write)
        }
        frameCount += 1
        frameFill = 0
    }

    func closeFile() throws {
        guard fileIndex >= 0, let f = fileHandle else { return }
        try flush(final: true)
        let size = UInt64(max(0, ftell(f)))
        fclose(f)
        fileHandle = nil
        corpus.files[fileIndex].plainBytes = filePlain
        corpus.files[fileIndex].bytesOnDisk = size
        corpus.lines += fileLine
    }
}

public struct GeneratorError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension Array {
    /// Removes and returns element `i` in O(1), moving the last element into its place.
    mutating func swapAt(_ i: Int) -> Element {
        let v = self[i]
        self[i] = self[count - 1]
        removeLast()
        return v
    }
}
