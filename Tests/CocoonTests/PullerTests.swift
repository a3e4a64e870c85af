import FerryCore
import Foundation
import Layout
import OCI
import Synchronization
import SystemPackage
import Testing

@testable import Cocoon

/// The Puller against a real layout of snapshots (made from exports written by gen-cocoon.py).
@Suite final class PullerTests {
    let directory: String
    let layout: String
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-puller-\(UUID().uuidString.prefix(8))").path
        layout = "\(directory)/layout"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Puts the export of `seed` into the layout as `name:latest`.
    func publish(_ name: String, seed: Int) async throws {
        let export = "\(directory)/\(name).tar"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", packageRoot.appendingPathComponent("scripts/gen-cocoon.py").path, "export", export, "--name", name, "--seed", "\(seed)"]
        try process.run()
        process.waitUntilExit()
        try await CopyEngine().copy(
            from: CopyEndpoint(CocoonArchiveStore(file: export)), nil,
            to: CopyEndpoint(LayoutStore(directory: layout, refNameStyle: .full), repository: name), tag: "latest")
    }

    @Test func concurrentCallsForOneSnapshotPullOnce() async throws {
        try await publish("web", seed: 1)
        let pulls = Mutex(0)
        let puller = Puller(root: FilePath("\(directory)/root"), source: LayoutStore(directory: layout, refNameStyle: .full)) { event in
            if case .planned = event { pulls.withLock { $0 += 1 } }
        }
        async let first = puller.ensure("web")
        async let second = puller.ensure("web")
        let ids = try await [first, second]
        #expect(ids[0] == ids[1])
        #expect(pulls.withLock { $0 } == 1)
        // Present: a third call pulls nothing.
        #expect(try await puller.ensure("web") == ids[0])
        #expect(pulls.withLock { $0 } == 1)
        let index = try CocoonRoot(path: FilePath("\(directory)/root")).index()
        #expect(index.names == ["web": ids[0]] && index.snapshots[ids[0]]?.pending == false)
        #expect(FileManager.default.fileExists(atPath: "\(directory)/root/snapshot/localfile/\(ids[0])/overlay.qcow2"))
    }

    @Test func aFailedPullLeavesNoRecord() async throws {
        try await publish("db", seed: 2)
        // Damage the largest blob of the layout.
        let blobs = "\(layout)/blobs/sha256"
        let names = try FileManager.default.contentsOfDirectory(atPath: blobs)
        let sizes = try names.map { try FileManager.default.attributesOfItem(atPath: "\(blobs)/\($0)")[.size] as! Int }
        let largest = names[sizes.firstIndex(of: sizes.max()!)!]
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(blobs)/\(largest)"))
        try handle.seek(toOffset: 10)
        handle.write(Data([1, 2, 3]))
        try handle.close()
        let puller = Puller(root: FilePath("\(directory)/root"), source: LayoutStore(directory: layout, refNameStyle: .full))
        await #expect(throws: StorageError.self) { try await puller.ensure("db") }
        let index = try CocoonRoot(path: FilePath("\(directory)/root")).index()
        #expect(index.snapshots.isEmpty && index.names.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory)/root/snapshot/localfile").isEmpty)
    }

    @Test func prewarmPullsAListAndRemoteSnapshotsListsOnlySnapshots() async throws {
        try await publish("a", seed: 3)
        try await publish("b", seed: 4)
        let source = LayoutStore(directory: layout, refNameStyle: .full)
        try await CopyEngine().copy(
            from: CopyEndpoint(LayoutStore(directory: packageRoot.appendingPathComponent("fixtures/umoci-layout").path)), .tag("v1"),
            to: CopyEndpoint(source, repository: "image"), tag: "v1")
        let puller = Puller(root: FilePath("\(directory)/root"), source: source)
        let remote = try await puller.remoteSnapshots()
        #expect(remote.map(\.name) == ["a", "b"] && remote.allSatisfy { $0.tags == ["latest"] })
        let outcomes = await puller.prewarm([("a", "latest"), ("b", "latest"), ("missing", "latest")]).value
        #expect(outcomes.map(\.name) == ["a", "b", "missing"])
        let ids = outcomes.compactMap { try? $0.outcome.get() }
        #expect(ids.count == 2)
        #expect(try CocoonRoot(path: FilePath("\(directory)/root")).index().names == ["a": ids[0], "b": ids[1]])
    }
}

extension PullerTests {
    @Test func aPullWaitsForAnotherProcessWritingTheSameName() async throws {
        try await publish("shared", seed: 7)
        let root = CocoonRoot(path: FilePath("\(directory)/root"))
        // Another process (as cocoon's save would) holds a pending record for the name.
        var config = SnapshotConfig()
        config.id = "OTHERPROCESSOTHERPROCESSAA"
        config.name = "shared"
        try root.update {
            $0.snapshots[config.id] = SnapshotRecord(config: config, createdAt: GoJSON.timestamp(Date()), pending: true, dataDir: "/elsewhere")
            $0.names["shared"] = config.id
        }
        let puller = Puller(root: FilePath("\(directory)/root"), source: LayoutStore(directory: layout, refNameStyle: .full))
        async let pulled = puller.ensure("shared")
        try await Task.sleep(for: .milliseconds(600))
        try root.update { $0.snapshots[config.id]?.pending = false }
        #expect(try await pulled == config.id)
        #expect(try root.index().snapshots.count == 1)
    }

    /// A Ferry writer that was killed leaves its pending record and an unheld lock file: the pull
    /// reclaims the name at once instead of waiting for the record (issue 14, point 2).
    @Test func aPullDoesNotWaitForAWriterThatWasKilled() async throws {
        try await publish("shared", seed: 7)
        let root = CocoonRoot(path: FilePath("\(directory)/root"))
        var config = SnapshotConfig()
        config.id = "KILLEDKILLEDKILLEDKILLEDKI"
        config.name = "shared"
        try root.update {
            $0.snapshots[config.id] = SnapshotRecord(config: config, createdAt: GoJSON.timestamp(Date()), pending: true, dataDir: "\(self.directory)/root/snapshot/localfile/\(config.id)")
            $0.names["shared"] = config.id
        }
        try FileManager.default.createDirectory(atPath: "\(directory)/root/snapshot/localfile/\(config.id)", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: "\(directory)/root/snapshot/db/.ferry-writer-\(config.id).lock", contents: nil))
        let puller = Puller(root: FilePath("\(directory)/root"), source: LayoutStore(directory: layout, refNameStyle: .full))
        let started = ContinuousClock.now
        let pulled = try await puller.ensure("shared")
        #expect(pulled != config.id)
        #expect(ContinuousClock.now - started < .seconds(60), "no hour-long wait")
        let index = try root.index()
        #expect(index.names["shared"] == pulled && index.snapshots.keys.sorted() == [pulled])
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/root/snapshot/localfile/\(config.id)"))
    }
}
