// swift-tools-version:6.1
import PackageDescription

// Benchmarks for maildex's hot paths, kept in their own package so the main
// package does not depend on package-benchmark. Run from this folder:
//
//     swift package benchmark
//
let package = Package(
    name: "MaildexBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "maildex", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "MaildexBenchmarks",
            dependencies: [
                .product(name: "MaildexCore", package: "maildex"),
                .product(name: "MaildexGenerate", package: "maildex"),
                .product(name: "Benchmark", package: "package-benchmark"),
            ],
            path: "Benchmarks/MaildexBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "package-benchmark"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
