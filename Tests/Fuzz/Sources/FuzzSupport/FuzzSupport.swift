import Foundation
import MaildexCore

/// What the fuzz targets share. Each input is taken as one day's log file; the ways it is
/// cut and read (chunk and window sizes, frame cuts, headroom) are drawn from a hash of the
/// input, so an input always runs the same way and a crash reproduces from its file.
public enum Fuzz {
    /// Runs libFuzzer's driver with `test` as the target and exits with its status.
    /// (SwiftPM gives an executable the `main` of its own module, so libFuzzer's `main`
    /// is not the entry point; each target's `main.swift` calls this instead.)
    public static func run(_ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, test))
    }

    public static let date = CivilDate(iso: "2020-01-01")!
    public static let fileName = "2020-01-01.log"

    /// A directory of this process's own, in memory when `/dev/shm` exists.
    public static let scratch: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let dir = "\(base)/maildex-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Fuzz.scratch) }
        return dir
    }()

    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// The sessions of one sequential read: one chunk, one window, one thread.
    public static func reference(_ bytes: [UInt8]) -> (sessions: [Session], counts: ParseCounts) {
        sessions(bytes, threads: 1, chunkSize: max(bytes.count, 1) + 1)
    }

    /// The sessions of `bytes` read in memory, by number (`Sessionizer` hands them over as
    /// they end).
    public static func sessions(_ bytes: [UInt8], threads: Int, chunkSize: Int) -> (sessions: [Session], counts: ParseCounts) {
        var r = Sessionizer.sessions(of: bytes, date: date, threads: threads, chunkSize: chunkSize)
        r.sessions.sort { $0.number < $1.number }
        return r
    }

    /// Writes `bytes` as `name` in a fresh directory of the scratch area and returns that
    /// directory.
    public static func write(_ bytes: [UInt8], as name: String, in sub: String) -> String {
        let dir = scratch + "/" + sub
        try? FileManager.default.removeItem(atPath: dir)
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        require(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(bytes)), "cannot write \(dir)/\(name)")
        return dir
    }

    /// Writes `bytes` as the file `name` and reads it as `maildex sessions` would.
    public static func readFile(_ bytes: [UInt8], as name: String, threads: Int, chunkSize: Int,
                                options: ReadOptions) -> FileSetReader.Result {
        let dir = write(bytes, as: name, in: "read")
        let found = InputFiles.discover([dir])
        require(found.files.count == 1 && found.errors.isEmpty, "\(name): \(found.errors)")
        return FileSetReader.sessions(of: found.files, threads: threads, chunkSize: chunkSize, read: options)
    }

    /// Stops the run (libFuzzer keeps the input) when `condition` is false.
    public static func require(_ condition: @autoclosure () -> Bool, _ what: @autoclosure () -> String,
                               file: StaticString = #fileID, line: UInt = #line) {
        if condition() { return }
        FileHandle.standardError.write(Data("FUZZ FAILURE at \(file):\(line): \(what())\n".utf8))
        abort()
    }

    /// The longest stretch of `bytes` in which no record begins.
    public static func longestStretchWithoutARecord(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { p in
            guard p.count > 0 else { return 0 }
            var last = 0, longest = 0
            while let start = RecordBoundaries.nextRecordStart(p, from: last) {
                longest = max(longest, start - last)
                last = start
            }
            return max(longest, p.count - last)
        }
    }

    /// Whether windows of at most `maxWindow` bytes may have to be cut where no record
    /// begins: only where none begins for half a window. There a read in windows differs
    /// from a read in one piece, as the README says: lines that continue a record whose
    /// session has ended start a new, incomplete session, and a line cut in two is read
    /// as a record from its first piece. In use a window is 1 GiB, so that takes half a
    /// gigabyte without a record; the fuzzer's windows are a few bytes to a few KB, so
    /// there only the counts must agree.
    public static func mayCutOutsideARecord(_ bytes: [UInt8], maxWindow: Int) -> Bool {
        longestStretchWithoutARecord(bytes) >= maxWindow / 2
    }

    /// Requires two reads to give the same sessions, naming the first that differs.
    public static func same(_ got: [Session], _ expected: [Session], _ how: String,
                            file: StaticString = #fileID, line: UInt = #line) {
        if got == expected { return }
        var message = "\(how): \(got.count) sessions, expected \(expected.count)"
        let common = min(got.count, expected.count)
        if let i = (0..<common).first(where: { got[$0] != expected[$0] }) ?? (got.count != expected.count ? common : nil) {
            func show(_ s: [Session]) -> String {
                guard i < s.count else { return "(none)" }
                let view = SessionView(session: s[i], sourceName: { "source-\($0)" })
                return view.json() + "\n" + view.transcript(provenance: true)
            }
            var fields = [String]()
            if i < common {
                let a = got[i], b = expected[i]
                if a.number != b.number { fields.append("number") }
                if a.date != b.date { fields.append("date") }
                if a.channel != b.channel { fields.append("channel") }
                if a.start != b.start || a.end != b.end || a.complete != b.complete { fields.append("times") }
                if a.facts != b.facts { fields.append("facts") }
                if a.text != b.text { fields.append("text") }
                if a.lines != b.lines { fields.append("lines \(a.lines.count)/\(b.lines.count)") }
            }
            message += "; first difference at #\(i) (\(fields.joined(separator: ", ")))\n--- got\n\(show(got))\n--- expected\n\(show(expected))"
            if ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] != nil {
                func all(_ s: [Session]) -> String {
                    s.map { SessionView(session: $0, sourceName: { "source-\($0)" }).transcript(provenance: true) }.joined(separator: "\n")
                }
                message += "\n=== all got\n\(all(got))\n=== all expected\n\(all(expected))"
            }
        }
        require(false, message, file: file, line: line)
    }

    /// Numbers drawn from the input's hash.
    public struct Knobs {
        var state: UInt64
        public init(_ bytes: [UInt8]) {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
            state = h
        }
        /// Mostly a size in `usual`, one time in `rarely` in `small`.
        public mutating func size(_ usual: ClosedRange<Int>, small: ClosedRange<Int>, rarely: Int = 8) -> Int {
            next(1...rarely) == 1 ? next(small) : next(usual)
        }

        /// The next number in `range` (splitmix64).
        public mutating func next(_ range: ClosedRange<Int>) -> Int {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            z ^= z >> 31
            return range.lowerBound + Int(z % UInt64(range.count))
        }
    }
}

/// libFuzzer's entry for a program with a `main` of its own (FuzzerDriver.cpp).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
