import OCI
import Testing

@testable import FerryCore

@Suite("MemoryStore")
struct MemoryStoreTests {
    let repo = "team/app"

    @Test func blobRoundTrip() async throws {
        let store = MemoryStore(name: "mem:")
        #expect(store.displayName == "mem:")
        let bytes = Builder.content("blob", size: 200_000)
        let descriptor = try await Builder(store: store, repository: repo).blob(bytes)
        #expect(await store.blobExists(descriptor.digest, in: repo))
        #expect(await !store.manifestExists(descriptor.digest, in: repo))
        var chunks = [Int]()
        var all = [UInt8]()
        for try await chunk in try await store.fetch(descriptor, in: repo) {
            chunks.append(chunk.count)
            all += chunk
        }
        #expect(all == bytes)
        #expect(chunks.allSatisfy { $0 <= 64 << 10 })
        #expect(chunks.count == 4)
        let stored = await store.storedBlobs()
        #expect(stored.count == 1)
        #expect(stored.first?.digest == descriptor.digest)
        #expect(stored.first?.size == 200_000)
    }

    @Test func pushWithWrongDigestStoresNothing() async throws {
        let store = MemoryStore()
        let bytes = Array("payload".utf8)
        let wrong = Descriptor(mediaType: MediaType.octetStream, digest: Digest.compute(Array("other!!".utf8)), size: Int64(bytes.count))
        let error = await #expect(throws: StorageError.self) {
            try await store.pushBlob(wrong, from: .bytes(bytes), in: repo)
        }
        #expect(error?.code == .digestInvalid)
        #expect(await !store.blobExists(wrong.digest, in: repo))
        #expect(await store.storedBlobs().isEmpty)
    }

    @Test func pushWithWrongSizeStoresNothing() async throws {
        let store = MemoryStore()
        let bytes = Array("payload".utf8)
        for size in [Int64(bytes.count - 1), Int64(bytes.count + 1)] {
            let d = Descriptor(mediaType: MediaType.octetStream, digest: Digest.compute(bytes), size: size)
            let error = await #expect(throws: StorageError.self) {
                try await store.pushBlob(d, from: .bytes(bytes, chunkSize: 2), in: repo)
            }
            #expect(error?.code == .sizeInvalid)
        }
        #expect(await store.storedBlobs().isEmpty)
    }

    @Test func fetchingMissingContent() async throws {
        let store = MemoryStore()
        let digest = Digest.compute(Array("nothing".utf8))
        let blobError = await #expect(throws: StorageError.self) {
            _ = try await store.fetch(Descriptor(mediaType: MediaType.imageLayerGzip, digest: digest, size: 7), in: repo)
        }
        #expect(blobError?.code == .blobUnknown)
        let manifestError = await #expect(throws: StorageError.self) {
            _ = try await store.fetch(Descriptor(mediaType: MediaType.imageManifest, digest: digest, size: 7), in: repo)
        }
        #expect(manifestError?.code == .manifestUnknown)
    }

    @Test func resolveByTagDigestAndOnlyTag() async throws {
        let store = MemoryStore()
        let build = Builder(store: store, repository: repo)
        let a = try await build.image(seed: "a", layerSizes: [3], as: .root(tag: "v1"))
        #expect(try await store.resolve(.tag("v1"), in: repo).digest == a.digest)
        #expect(try await store.resolve(nil, in: repo).digest == a.digest)
        let byDigest = try await store.resolve(.digest(a.digest), in: repo)
        #expect(byDigest == a.descriptor)

        let b = try await build.image(seed: "b", layerSizes: [3], as: .root(tag: "v2"))
        #expect(try await store.resolve(.tag("v2"), in: repo).digest == b.digest)
        let ambiguous = await #expect(throws: StorageError.self) { try await store.resolve(nil, in: repo) }
        #expect(ambiguous?.code == .manifestUnknown)
        #expect(ambiguous?.message.contains("v1, v2") == true)

        let missing = await #expect(throws: StorageError.self) { try await store.resolve(.tag("v3"), in: repo) }
        #expect(missing?.code == .manifestUnknown)
        let otherRepo = await #expect(throws: StorageError.self) { try await store.resolve(.tag("v1"), in: "other") }
        #expect(otherRepo?.code == .manifestUnknown)
        // A blob is not a manifest.
        await #expect(throws: StorageError.self) { try await store.resolve(.digest(a.blobs[0].digest), in: repo) }
    }

    @Test func retagMovesTheTag() async throws {
        let store = MemoryStore()
        let build = Builder(store: store, repository: repo)
        try await build.image(seed: "a", layerSizes: [3], as: .root(tag: "v1"))
        let b = try await build.image(seed: "b", layerSizes: [3], as: .root(tag: "v1"))
        #expect(try await store.resolve(.tag("v1"), in: repo).digest == b.digest)
        #expect(await store.tags(in: repo) == ["v1"])
    }

    @Test func listingAndDeleting() async throws {
        let store = MemoryStore()
        let one = try await Builder(store: store, repository: "b/one").image(seed: "1", layerSizes: [3], as: .root(tag: "v1"))
        try await store.pushManifest(one, as: .root(tag: "latest"), in: "b/one")
        let two = try await Builder(store: store, repository: "a/two").image(seed: "2", layerSizes: [3], as: .root(tag: "x"))
        #expect(await store.repositories() == ["a/two", "b/one"])
        #expect(await store.tags(in: "b/one") == ["latest", "v1"])
        #expect(await store.tags(in: "nope").isEmpty)

        let roots = await store.roots()
        #expect(roots.count == 3)
        #expect(Set(roots.map { "\($0.repository):\($0.name)" }) == ["b/one:v1", "b/one:latest", "a/two:x"])
        #expect(roots.first { $0.name == "x" }?.descriptor.digest == two.digest)

        await store.deleteTag("v1", in: "b/one")
        #expect(await store.tags(in: "b/one") == ["latest"])
        #expect(await store.manifestExists(one.digest, in: "b/one"))

        await store.deleteManifest(one.digest, in: "b/one")
        #expect(await store.tags(in: "b/one").isEmpty)
        #expect(await !store.manifestExists(one.digest, in: "b/one"))
        #expect(await !store.blobExists(one.digest, in: "b/one"))
        // Its blobs stay.
        for blob in one.blobs { #expect(await store.blobExists(blob.digest, in: "b/one")) }

        await store.deleteBlob(two.blobs[0].digest, in: "a/two")
        #expect(await !store.blobExists(two.blobs[0].digest, in: "a/two"))
    }

    @Test func fetchManifestVerifiesAndParses() async throws {
        let store = MemoryStore()
        let image = try await Builder(store: store, repository: repo).image(seed: "m", layerSizes: [3], as: .root(tag: "v1"))
        let descriptor = try await store.resolve(.tag("v1"), in: repo)
        let fetched = try await store.fetchManifest(descriptor, in: repo)
        #expect(fetched.bytes == image.bytes)
        #expect(fetched.digest == image.digest)

        // A descriptor that claims fewer bytes than stored.
        var short = descriptor
        short.size -= 1
        let shortError = await #expect(throws: StorageError.self) { try await store.fetchManifest(short, in: repo) }
        #expect(shortError?.code == .sizeInvalid)

        // A descriptor that claims more bytes than stored.
        var long = descriptor
        long.size += 1
        let longError = await #expect(throws: StorageError.self) { try await store.fetchManifest(long, in: repo) }
        #expect(longError?.code == .sizeInvalid)

        // Corrupted bytes of the same length.
        var tampered = image.bytes
        tampered[tampered.count - 1] = UInt8(ascii: " ")
        await store.corrupt(image.digest, with: tampered)
        let digestError = await #expect(throws: StorageError.self) { try await store.fetchManifest(descriptor, in: repo) }
        #expect(digestError?.code == .digestInvalid)

        // Over the manifest size limit.
        var huge = descriptor
        huge.size = Int64(Manifest.maximumSize) + 1
        let hugeError = await #expect(throws: StorageError.self) { try await store.fetchManifest(huge, in: repo) }
        #expect(hugeError?.code == .manifestInvalid)
    }

    @Test func fetchManifestRejectsNonManifests() async throws {
        let store = MemoryStore()
        let blob = try await Builder(store: store, repository: repo).blob(Array("not json at all".utf8))
        let error = await #expect(throws: StorageError.self) {
            try await store.fetchManifest(Descriptor(mediaType: MediaType.imageManifest, digest: blob.digest, size: blob.size), in: repo)
        }
        #expect(error?.code == .manifestInvalid)
    }
}
