// swift-tools-version:6.1
import PackageDescription

/// A stage of the engine. The hot path crosses stages (the parser's record scan inside the
/// sessionizer's loop, fragments read by the index writer), so release builds optimize
/// across modules, and dynamic exclusivity checks on class properties, which cost more
/// than they protect in this single-owner code, are off.
func stage(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .target(
        name: name,
        dependencies: dependencies,
        swiftSettings: [
            .unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"], .when(configuration: .release)),
        ]
    )
}

let package = Package(
    name: "maildex",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "maildex", targets: ["maildex"]),
        .library(name: "MaildexCore", targets: ["MaildexCore"]),
        .library(name: "MaildexGenerate", targets: ["MaildexGenerate"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Named by the HTTP front, which Hummingbird already brings in.
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // libzstd, from the system (Debian: libzstd-dev).
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]
        ),
        // SHA-256 from OpenSSL's libcrypto (Debian: libssl-dev); uses SHA-NI where the CPU has it.
        .systemLibrary(
            name: "CSHA",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"]), .brew(["openssl"])]
        ),
        // CRC-32C with the CPU's instruction (SSE4.2), where it has one.
        .target(name: "CCRC32C"),
        // Small wrappers for system calls the Swift Glibc module does not expose.
        .target(name: "CPlatform"),
        // The engine, one target per pipeline stage; each depends only on the stages before
        // it (ARCHITECTURE.md): support → parse → read → sessionize → index → query.
        stage("MaildexSupport", ["CCRC32C", "CSHA", "CPlatform"]),
        stage("MaildexParse", ["MaildexSupport"]),
        stage("MaildexRead", ["MaildexSupport", "MaildexParse", "CZstd"]),
        stage("MaildexSessionize", ["MaildexSupport", "MaildexParse", "MaildexRead"]),
        stage("MaildexIndex", ["MaildexSupport", "MaildexParse", "MaildexRead", "MaildexSessionize", "CPlatform"]),
        stage("MaildexQuery", ["MaildexSupport", "MaildexParse", "MaildexRead", "MaildexSessionize", "MaildexIndex"]),
        // Sessions out to ClickHouse: the Native and JSONEachRow export, the query language as SQL.
        stage("MaildexExport", ["MaildexSupport", "MaildexParse", "MaildexSessionize", "MaildexIndex", "MaildexQuery"]),
        // Every stage's public API as one module, for the fuzz and benchmark packages.
        .target(name: "MaildexCore", dependencies: ["MaildexSupport", "MaildexParse", "MaildexRead",
                                                    "MaildexSessionize", "MaildexIndex", "MaildexQuery", "MaildexExport"]),
        // The corpus generator: test data with its ground truth. Not part of the engine.
        stage("MaildexGenerate", ["MaildexSupport", "MaildexParse", "MaildexRead", "MaildexSessionize"]),
        // The HTTP front (`maildex serve`): the API and the web page, on Hummingbird. A
        // target of its own: the engine and its tests build without Hummingbird.
        .target(
            name: "MaildexServe",
            dependencies: [
                "MaildexCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "maildex",
            dependencies: [
                "MaildexCore", "MaildexGenerate", "MaildexServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // jemalloc (Debian: libjemalloc-dev) replaces glibc's malloc in the command:
            // the indexer allocates on one thread and frees on another, where glibc's
            // arenas contend (2 threads were 1.2x as fast as 1 with it, 1.5x with jemalloc).
            linkerSettings: [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]
        ),
        .testTarget(
            name: "MaildexCoreTests",
            dependencies: ["MaildexCore", "MaildexGenerate"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
