import Foundation
import FuzzSupport
import MaildexCore

/// Any bytes as an index's MANIFEST (given a valid checksum line one time in two, so the
/// fuzzer gets past it): loading it gives a manifest or an error naming the file, never a
/// crash; a manifest loaded names only files of the index's own kinds (no path leads out
/// of the directory); stored and loaded again it is the same manifest; and opening the
/// index it describes (whose files are not there) is an error, not a crash.
func fuzzManifest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var bytes = Fuzz.bytes(data, size)
    var knobs = Fuzz.Knobs(bytes)
    if knobs.next(0...1) == 0 {
        if bytes.last != 10 && !bytes.isEmpty { bytes.append(10) }
        bytes += Array("checksum \(String(CRC32C.checksum(bytes), radix: 16))\n".utf8)
    }
    let dir = Fuzz.write(bytes, as: "MANIFEST", in: "manifest")
    let manifest: Manifest
    do {
        guard let m = try Manifest.load(directory: dir) else {
            Fuzz.require(false, "a MANIFEST that is there loaded as none")
            return 0
        }
        manifest = m
    } catch let e as MaildexError {
        Fuzz.require([.corrupt, .unsupportedFormat].contains(e.kind), "a \(e.kind) error: \(e)")
        Fuzz.require(e.path == dir + "/MANIFEST", "the error names \(e.path ?? "no file"): \(e)")
        return 0
    } catch {
        Fuzz.require(false, "\(error)")
        return 0
    }
    for name in manifest.segments + manifest.carryFiles {
        Fuzz.require(!name.contains("/") && (name.hasPrefix("seg-") || name.hasPrefix("carry-")), "the manifest names \(name)")
    }
    let again = Fuzz.scratch + "/manifest-again"
    try? FileManager.default.removeItem(atPath: again)
    try! FileManager.default.createDirectory(atPath: again, withIntermediateDirectories: true)
    do {
        try manifest.store(directory: again)
        let reloaded = try Manifest.load(directory: again)
        Fuzz.require(reloaded == manifest, "stored and loaded again, another manifest")
    } catch {
        Fuzz.require(false, "storing the manifest loaded: \(error)")
    }
    do {
        let reader = try IndexReader(directory: dir)
        Fuzz.require(manifest.segments.isEmpty, "an index of \(manifest.segments.count) missing segments opened")
        _ = try reader.sessions([0, 1])
    } catch is MaildexError {
    } catch {
        Fuzz.require(false, "opening the index: \(error)")
    }
    return 0
}

Fuzz.run { fuzzManifest($0, $1) }
