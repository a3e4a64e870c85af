// swift-tools-version:6.0
import Foundation
import PackageDescription

let package = Package(
    name: "Ferry",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ferry", targets: ["ferry"]),
        .library(name: "OCI", targets: ["OCI"]),
        .library(name: "FerryCore", targets: ["FerryCore"]),
        .library(name: "Layout", targets: ["Layout"]),
        .library(name: "TarIO", targets: ["TarIO"]),
        .library(name: "Epoch", targets: ["Epoch"]),
        .library(name: "Cocoon", targets: ["Cocoon"]),
        .library(name: "Distribution", targets: ["Distribution"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.27.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.70.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        // System libraries for the archive backends (oci-archive:, cocoon-archive:).
        .systemLibrary(
            name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"])]),
        // Intel's ISA-L: gzip at several times zlib's speed, for .tar.gz written and read.
        .systemLibrary(
            name: "CIsal", path: "Sources/CIsal", pkgConfig: "libisal",
            providers: [.apt(["libisal-dev"])]),

        // Linux calls that Swift's Glibc module does not export (they need _GNU_SOURCE).
        .target(name: "CFerrySystem"),

        // The model: digests, descriptors, manifests, references. No I/O.
        .target(
            name: "OCI",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // The storage protocol, the in-memory store, hashing streams and the copy engine.
        .target(
            name: "FerryCore",
            dependencies: [
                "OCI", "CFerrySystem",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // Tar archives through libarchive: sequential reading with entry offsets, reproducible writing.
        .target(name: "TarIO", dependencies: ["FerryCore", "CArchive", "CIsal"]),
        // oci: (OCI image-layout directories) and oci-archive: (the same layout as a tarball).
        .target(
            name: "Layout",
            dependencies: [
                "OCI", "FerryCore", "TarIO",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // HTTP pieces the S3 store and the registry client share: pooled clients per trust
        // setting, failure words, response bodies as byte streams.
        .target(
            name: "HTTPSupport",
            dependencies: [
                "FerryCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        // The S3 ListObjectsV2 page parser and ObjectInfo: Foundation only (Epoch re-exports it).
        .target(name: "S3Listing"),
        // epoch: the Epoch bucket layout on an object store (a directory or S3).
        .target(
            name: "Epoch",
            dependencies: [
                "OCI", "FerryCore", "HTTPSupport", "S3Listing",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        // cocoon: and cocoon-archive: (snapshots as OCI artifacts), disk: (cloud images), the Puller.
        .target(
            name: "Cocoon",
            dependencies: [
                "OCI", "FerryCore", "TarIO",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        // docker://: the OCI distribution client, one more backend; and `ferry serve`, the
        // distribution API over any backend (Server/), on Hummingbird.
        .target(
            name: "Distribution",
            dependencies: [
                "OCI", "FerryCore", "HTTPSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .executableTarget(
            name: "ferry",
            dependencies: [
                "OCI", "FerryCore", "Layout", "Epoch", "Cocoon", "Distribution", "HTTPSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),

        .testTarget(name: "OCITests", dependencies: ["OCI"]),
        .testTarget(
            name: "FerryCoreTests",
            dependencies: ["OCI", "FerryCore", .product(name: "SystemPackage", package: "swift-system")]),
        .testTarget(name: "LayoutTests", dependencies: ["OCI", "FerryCore", "Layout", "Epoch"]),
        .testTarget(name: "EpochTests", dependencies: ["OCI", "FerryCore", "Epoch", "Layout"]),
        .testTarget(name: "TarIOTests", dependencies: ["TarIO", "FerryCore", "OCI"]),
        .testTarget(name: "CocoonTests", dependencies: ["OCI", "FerryCore", "Cocoon", "Layout", "Epoch"]),
        .testTarget(name: "FerryCLITests", dependencies: ["ferry", "OCI", "FerryCore", "Layout"]),
        .testTarget(
            name: "DistributionTests",
            dependencies: ["Distribution", "HTTPSupport", "OCI", "FerryCore", "Layout", "Cocoon", .product(name: "SystemPackage", package: "swift-system")]),
    ]
)

// The fuzz harnesses (scripts/fuzz.sh, `make fuzz`): declared only when FERRY_FUZZ=1, so that
// normal builds never see them. The parser modules get libFuzzer's coverage instrumentation;
// FerryFuzz has its own main and links libFuzzer without one (FERRY_FUZZ_RUNTIME names
// libclang_rt.fuzzer_no_main), so one binary serves every harness.
let fuzzEnvironment = ProcessInfo.processInfo.environment
if fuzzEnvironment["FERRY_FUZZ"] == "1" {
    let sanitizers = fuzzEnvironment["FERRY_FUZZ_SANITIZERS"] ?? "fuzzer"
    let instrumented: Set = ["OCI", "FerryCore", "TarIO", "Layout", "Cocoon", "S3Listing"]
    for target in package.targets where instrumented.contains(target.name) {
        target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-sanitize=\(sanitizers)"])]
    }
    package.targets.append(.target(name: "CFuzzerDriver"))
    package.targets.append(
        .executableTarget(
            name: "FerryFuzz",
            dependencies: [
                "CFuzzerDriver", "OCI", "FerryCore", "TarIO", "Layout", "Cocoon", "S3Listing",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: [.unsafeFlags(["-sanitize=\(sanitizers)"]), .swiftLanguageMode(.v5)],
            linkerSettings: [
                .unsafeFlags(
                    (sanitizers.contains("address") ? ["-sanitize=address"] : [])
                        + ["-Xlinker", fuzzEnvironment["FERRY_FUZZ_RUNTIME"] ?? "libclang_rt.fuzzer_no_main.a", "-lstdc++", "-lm"])
            ]))
    package.products.append(.executable(name: "ferry-fuzz", targets: ["FerryFuzz"]))
}
