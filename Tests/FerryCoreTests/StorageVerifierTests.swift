import OCI
import Testing

@testable import FerryCore

@Suite("StorageVerifier")
struct StorageVerifierTests {
    let repo = "team/app"

    /// A store holding an index of two images (one shared config) and a separate tagged image.
    private func populatedStore() async throws -> (MemoryStore, images: [Manifest], index: Manifest) {
        let store = MemoryStore()
        let build = Builder(store: store, repository: repo)
        let a = try await build.image(seed: "a", layerSizes: [100, 2000])
        let b = try await build.image(seed: "b", layerSizes: [30])
        let index = try await build.index([
            (a, Platform(os: "linux", architecture: "amd64")), (b, Platform(os: "linux", architecture: "arm64")),
        ])
        let c = try await build.image(seed: "c", layerSizes: [5, 6, 7], as: .root(tag: "solo"))
        return (store, [a, b, c], index)
    }

    private func verify(_ store: MemoryStore, jobs: Int = 4) async -> VerificationReport {
        await StorageVerifier(jobs: jobs).verify(roots: await store.roots(), in: store, stored: await store.storedBlobs())
    }

    @Test(arguments: [1, 4])
    func cleanStoreHasNoFaults(jobs: Int) async throws {
        let (store, images, _) = try await populatedStore()
        let report = await verify(store, jobs: jobs)
        #expect(report.faults.isEmpty, "\(report.faults)")
        #expect(report.manifests == 4)
        let blobs = images.flatMap(\.blobs)
        #expect(report.blobs == blobs.count)
        #expect(report.bytes == blobs.reduce(0) { $0 + $1.size })
    }

    @Test func emptyStoreIsClean() async {
        let report = await verify(MemoryStore())
        #expect(report.faults.isEmpty)
        #expect(report.manifests == 0)
        #expect(report.blobs == 0)
    }

    @Test func corruptedBlobIsOneFault() async throws {
        let (store, images, _) = try await populatedStore()
        let victim = images[0].blobs[2]
        await store.corrupt(victim.digest, with: Builder.content("evil", size: Int(victim.size)))
        let report = await verify(store)
        #expect(report.faults.count == 1)
        let fault = try #require(report.faults.first)
        #expect(fault.subject.contains(victim.digest.description))
        #expect(fault.subject.contains(images[0].digest.description), "names the manifest that names it")
        #expect(fault.problem.contains("hashes to"))
        #expect(fault.description.hasPrefix(fault.subject))
        // Everything else was still checked.
        #expect(report.manifests == 4)
        #expect(report.blobs == images.flatMap(\.blobs).count)
    }

    @Test func truncatedBlobIsOneFault() async throws {
        let (store, images, _) = try await populatedStore()
        let victim = images[2].blobs[1]
        await store.corrupt(victim.digest, with: [1, 2])
        let report = await verify(store)
        #expect(report.faults.map(\.subject).count == 1)
        #expect(report.faults.first?.subject.contains(victim.digest.description) == true)
    }

    @Test func missingBlobIsAFault() async throws {
        let (store, images, _) = try await populatedStore()
        let victim = images[1].blobs[1]
        await store.deleteBlob(victim.digest, in: repo)
        let report = await verify(store)
        #expect(report.faults.count == 1)
        let fault = try #require(report.faults.first)
        #expect(fault.subject.contains(victim.digest.description))
        #expect(fault.problem.contains("missing"))
    }

    @Test func missingChildManifestIsAFault() async throws {
        let (store, images, index) = try await populatedStore()
        await store.deleteBlob(images[1].digest, in: repo)
        let report = await verify(store)
        #expect(report.faults.count == 1)
        let fault = try #require(report.faults.first)
        #expect(fault.subject.contains(images[1].digest.description))
        #expect(fault.subject.contains(index.digest.description))
        #expect(report.manifests == 3)
    }

    @Test func corruptedManifestIsAFault() async throws {
        let (store, images, _) = try await populatedStore()
        var bytes = images[2].bytes
        bytes[bytes.count - 1] = UInt8(ascii: " ")
        await store.corrupt(images[2].digest, with: bytes)
        let report = await verify(store)
        let subjects = report.faults.map(\.subject)
        #expect(subjects.count == 1)
        #expect(subjects.first?.contains("manifest \(images[2].digest)") == true)
        #expect(subjects.first?.contains("solo") == true)
    }

    @Test func unnamedBlobsAreRehashedToo() async throws {
        let (store, _, _) = try await populatedStore()
        let loose = try await Builder(store: store, repository: repo).blob(Builder.content("loose", size: 50))
        let clean = await verify(store)
        #expect(clean.faults.isEmpty)
        await store.corrupt(loose.digest, with: Builder.content("other", size: 50))
        let report = await verify(store)
        #expect(report.faults.count == 1)
        #expect(report.faults.first?.subject.contains(loose.digest.description) == true)
        #expect(report.faults.first?.subject.contains("no manifest") == true)
    }

    @Test func faultsAreSortedBySubject() async throws {
        let (store, images, _) = try await populatedStore()
        for blob in images.flatMap(\.blobs).prefix(4) {
            await store.deleteBlob(blob.digest, in: repo)
        }
        let report = await verify(store)
        #expect(report.faults.count == 4)
        #expect(report.faults.map(\.subject) == report.faults.map(\.subject).sorted())
    }

    @Test func jobsAreClamped() {
        #expect(StorageVerifier(jobs: 0).jobs == 1)
        #expect(StorageVerifier().jobs == 4)
    }
}
