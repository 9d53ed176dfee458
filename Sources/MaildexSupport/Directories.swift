#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Creates `path` and any missing parents, as `mkdir -p` does (an index or corpus
/// directory named under folders that do not exist yet). Failures are left to the first
/// file created inside, whose error names the path.
public func makeDirectories(_ path: String, mode: mode_t = 0o755) {
    if mkdir(path, mode) == 0 || errno == EEXIST { return }
    guard errno == ENOENT else { return }
    var parent = path
    while parent.count > 1, parent.last == "/" { parent.removeLast() }
    guard let slash = parent.lastIndex(of: "/"), slash != parent.startIndex else { return }
    makeDirectories(String(parent[..<slash]), mode: mode)
    mkdir(path, mode)
}
