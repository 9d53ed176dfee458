// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "maildex",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "maildex", targets: ["maildex"]),
        .library(name: "MaildexCore", targets: ["MaildexCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
        // The engine: reading, parsing, sessions, index, queries. No heavy dependencies.
        .target(
            name: "MaildexCore",
            dependencies: ["CZstd", "CSHA", "CCRC32C", "CPlatform"],
            swiftSettings: [
                // The hot path is single-owner code; dynamic exclusivity checks on class
                // properties cost more than they protect here.
                .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
            ]
        ),
        .executableTarget(
            name: "maildex",
            dependencies: [
                "MaildexCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // jemalloc (Debian: libjemalloc-dev) replaces glibc's malloc in the command:
            // the indexer allocates on one thread and frees on another, where glibc's
            // arenas contend (2 threads were 1.2x as fast as 1 with it, 1.5x with jemalloc).
            linkerSettings: [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]
        ),
        .testTarget(
            name: "MaildexCoreTests",
            dependencies: ["MaildexCore"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
