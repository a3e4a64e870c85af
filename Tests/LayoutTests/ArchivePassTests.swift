import FerryCore
import Foundation
import OCI
import Testing

@testable import Layout

/// A compressed archive is read once per copy: the plan comes from its head, and the same pass
/// streams the blobs to the destination.
@Suite struct ArchivePassTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures")

    private func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-pass-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A layout with layers larger than the in-memory limit, so the scan must stop at them.
    private func bigLayout(in directory: URL) throws -> URL {
        let layout = directory.appendingPathComponent("big")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/gen-layout.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, layout.path, "--size-mib", "12", "--layers", "3", "--tag", "big", "--seed", "7"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return layout
    }

    @Test(arguments: ["a.tar.gz", "a.tar.zst"])
    func aCopyFromACompressedArchiveReadsItOnce(_ name: String) async throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let layout = LayoutStore(directory: try bigLayout(in: directory).path)
        let archivePath = directory.appendingPathComponent(name).path
        let engine = CopyEngine()
        try await engine.copy(from: CopyEndpoint(layout), .tag("big"), to: CopyEndpoint(LayoutArchiveStore(file: archivePath)), tag: "big")

        let archive = LayoutArchiveStore(file: archivePath)
        #expect(try await archive.prefersOnePass())
        let destination = MemoryStore()
        let result = try await engine.copy(from: CopyEndpoint(archive), .tag("big"), to: CopyEndpoint(destination), tag: "big")
        #expect(result.blobsCopied == 4)
        #expect(archive.passes.withLock { $0 } == 1)
        #expect(try await destination.resolve(.tag("big"), in: "").digest == result.root.digest)

        // Verifying it is one pass too.
        let again = LayoutArchiveStore(file: archivePath)
        let report = await StorageVerifier().verify(roots: try await again.roots(), in: again, stored: [])
        #expect(report.faults.isEmpty)
        #expect(report.blobs == 4)
        #expect(again.passes.withLock { $0 } == 1)
    }

    @Test func anArchiveWithItsIndexLastIsReadTwiceNotSpooled() async throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let layout = try bigLayout(in: directory)
        // GNU tar puts the blobs before index.json (sorted names); compress it.
        let archivePath = directory.appendingPathComponent("gnu.tar.gz").path
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tar.arguments = ["tar", "--sort=name", "-C", layout.path, "-czf", archivePath, "blobs", "index.json", "oci-layout"]
        try tar.run()
        tar.waitUntilExit()
        #expect(tar.terminationStatus == 0)

        let archive = LayoutArchiveStore(file: archivePath)
        let destination = MemoryStore()
        let result = try await CopyEngine().copy(from: CopyEndpoint(archive), .tag("big"), to: CopyEndpoint(destination), tag: "big")
        #expect(result.blobsCopied == 4)
        #expect(archive.passes.withLock { $0 } == 2)
    }

    @Test func aPlainTarIsReadInPlace() async throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let layout = LayoutStore(directory: try bigLayout(in: directory).path)
        let archivePath = directory.appendingPathComponent("a.tar").path
        try await CopyEngine().copy(from: CopyEndpoint(layout), .tag("big"), to: CopyEndpoint(LayoutArchiveStore(file: archivePath)), tag: "big")
        let archive = LayoutArchiveStore(file: archivePath)
        #expect(try await !archive.prefersOnePass())
        let destination = MemoryStore()
        try await CopyEngine(options: CopyOptions(jobs: 4)).copy(from: CopyEndpoint(archive), .tag("big"), to: CopyEndpoint(destination), tag: "big")
        #expect(archive.passes.withLock { $0 } == 1)  // the index scan; blobs are read by offset
    }
}
