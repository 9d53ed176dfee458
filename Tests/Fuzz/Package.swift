// swift-tools-version:6.1
import PackageDescription

// Coverage-guided fuzz targets for maildex (libFuzzer), kept in their own package so the
// main build never sees the fuzzer's flags. Build and run them with `scripts/fuzz.sh`,
// which passes `-sanitize=fuzzer,address` to every Swift module, MaildexCore included.
let package = Package(
    name: "MaildexFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "maildex", path: "../.."),
    ],
    targets: [
        // What every target shares: the reference read, the checks, a scratch directory.
        .target(
            name: "FuzzSupport",
            dependencies: [.product(name: "MaildexCore", package: "maildex")]
        ),
        // Any bytes as a log: sessions are the same whatever the chunks, windows, threads,
        // reading (mapped, read, one zstd frame, many frames with and without sizes).
        .executableTarget(
            name: "FuzzSessions",
            dependencies: ["FuzzSupport", .product(name: "MaildexCore", package: "maildex")]
        ),
        // Any bytes as a log, indexed: the index gives back the reference sessions, each
        // found by its own terms, and verifies.
        .executableTarget(
            name: "FuzzIndex",
            dependencies: ["FuzzSupport", .product(name: "MaildexCore", package: "maildex")]
        ),
        // Any bytes as a `.zst` archive: sound ones read as a plain stream of them would be;
        // damaged ones give one error with the file and a byte offset, and no crash.
        .executableTarget(
            name: "FuzzArchive",
            dependencies: ["FuzzSupport", .product(name: "MaildexCore", package: "maildex")]
        ),
        // Any bytes as an index's MANIFEST: a manifest naming only the index's own files,
        // the same when stored and loaded again, or an error naming the file.
        .executableTarget(
            name: "FuzzManifest",
            dependencies: ["FuzzSupport", .product(name: "MaildexCore", package: "maildex")]
        ),
        // Any bytes as a carry file: sessions that round-trip and that a run resumes
        // without a crash, or an error naming the file.
        .executableTarget(
            name: "FuzzCarry",
            dependencies: ["FuzzSupport", .product(name: "MaildexCore", package: "maildex")]
        ),
        // Any bytes as query text: a query or a syntax error; a query runs, and its
        // ClickHouse SQL quotes every literal.
        .executableTarget(
            name: "FuzzQuery",
            dependencies: ["FuzzSupport", .product(name: "MaildexCore", package: "maildex")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
