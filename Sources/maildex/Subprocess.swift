#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaildexCore

/// Runs a command and measures it: wall time, peak resident memory, exit status.
/// Standard output is discarded unless captured.
struct Subprocess {
    struct Result {
        var status: Int32
        var seconds: Double
        var maxResidentBytes: UInt64
        var output: [UInt8]
    }

    /// Runs `argv` (looked up on PATH); `capture` keeps its standard output.
    static func run(_ argv: [String], capture: Bool = false) -> Result {
        var pipeFDs: [Int32] = [-1, -1]
        if capture { _ = pipe(&pipeFDs) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if capture {
            posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
            posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        let clock = Stopwatch()
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &actions, nil, &cArgs, environ)
        if capture { close(pipeFDs[1]) }
        guard rc == 0 else {
            if capture { close(pipeFDs[0]) }
            return Result(status: 127, seconds: 0, maxResidentBytes: 0, output: [])
        }
        var output = [UInt8]()
        if capture {
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buf.withUnsafeMutableBytes { Glibc.read(pipeFDs[0], $0.baseAddress, $0.count) }
                if n <= 0 { break }
                output += buf[0..<n]
            }
            close(pipeFDs[0])
        }
        var status: Int32 = 0
        var usage = rusage()
        wait4(pid, &status, 0, &usage)
        let seconds = clock.seconds
        let exit = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return Result(status: exit, seconds: seconds, maxResidentBytes: UInt64(usage.ru_maxrss) * 1024, output: output)
    }

    /// Runs a shell pipeline with `/bin/sh -c`.
    static func shell(_ command: String) -> Result { run(["/bin/sh", "-c", command]) }

    static func available(_ tool: String) -> Bool {
        run(["/bin/sh", "-c", "command -v \(tool)"]).status == 0
    }

    /// The path of the running maildex binary.
    static var selfPath: String {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { readlink("/proc/self/exe", $0, b.count - 1) }
        }
        return n > 0 ? String(decoding: buf[..<n], as: UTF8.self) : CommandLine.arguments[0]
    }

    /// Single-quotes a word for `/bin/sh`.
    static func quote(_ s: String) -> String { shellQuoted(s, always: true) }
}
