#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Merges an index's segments into as few as memory allows (one, unless the index
/// is very large), dropping session copies that later segments replaced.
/// Readers that opened the old segments keep reading them (the files stay mapped
/// after they are unlinked); new readers see the new manifest.
public enum Compactor {
    public struct Report: Sendable {
        public var segmentsBefore = 0
        public var segmentsAfter = 0
        public var bytesBefore: UInt64 = 0
        public var bytesAfter: UInt64 = 0
        public var sessions = 0
        public var seconds = 0.0
    }

    public static func run(directory: String, threads: Int = 2, segmentPostingsLimit: Int = 24_000_000) throws -> Report {
        let clock = Stopwatch()
        let lock = try IndexLock(directory: directory)
        defer { withExtendedLifetime(lock) {} }
        let reader = try IndexReader(directory: directory)
        var manifest = reader.manifest
        var report = Report()
        report.segmentsBefore = manifest.segments.count
        report.bytesBefore = Indexer.indexSize(directory, manifest)
        guard manifest.segments.count > 1 else {
            report.segmentsAfter = manifest.segments.count
            report.bytesAfter = report.bytesBefore
            report.seconds = clock.seconds
            return report
        }
        var generation = manifest.generation
        var written = [String]()
        func newWriter() throws -> SegmentWriter {
            generation += 1
            return try SegmentWriter(directory: directory, name: Indexer.segmentName(generation), threads: threads)
        }
        var writer = try newWriter()
        for (i, seg) in reader.segments.enumerated() {
            let sources = try seg.sources()
            for src in sources { writer.add(source: src, lines: 0) }
            for source in try seg.lineTableSources().keys.sorted() {
                if let t = try seg.encodedLineTable(source) { writer.add(encodedLineTable: t, source: source) }
            }
            for b in 0..<seg.blockCount {
                // The old segments are read once, front to back: keep only a few MB of them resident.
                if b % 256 == 255 { seg.releasePages() }
                let sessions = try reader.sessions(inBlock: b, ofSegment: i, resolvingOffsets: false)
                try writer.add(sessions)
                report.sessions += sessions.count
                if writer.postingsCount > segmentPostingsLimit {
                    _ = try writer.finish()
                    written.append(writer.name)
                    writer = try newWriter()
                }
            }
            writer.stats.lines += try seg.stats().lines
            seg.releasePages()
        }
        _ = try writer.finish()
        written.append(writer.name)
        let old = manifest.segments
        manifest.generation = generation
        manifest.segments = written
        try manifest.store(directory: directory)
        for f in old { unlink(directory + "/" + f) }
        report.segmentsAfter = written.count
        report.bytesAfter = Indexer.indexSize(directory, manifest)
        report.seconds = clock.seconds
        return report
    }
}
