import OCI
import Testing

@testable import FerryCore

@Suite("CopyEngine")
struct CopyEngineTests {
    let repo = "team/app"

    // MARK: a single image

    @Test func copyLandsEveryBlobAndTheTag() async throws {
        let source = MemoryStore(name: "src:")
        let destination = MemoryStore(name: "dst:")
        let build = Builder(store: source, repository: repo)
        let image = try await build.image(seed: "img", layerSizes: [100, 70_000, 3], as: .root(tag: "v1"))
        let log = EventLog()

        let result = try await CopyEngine(events: log.handler).copy(
            from: CopyEndpoint(source, repository: repo), .tag("v1"),
            to: CopyEndpoint(destination, repository: "mirror/app"), tag: "latest")

        for blob in image.blobs {
            #expect(await destination.blobExists(blob.digest, in: "mirror/app"))
            let copied = try await destination.fetch(blob, in: "mirror/app").collect(upTo: Int(blob.size), what: "blob")
            let original = try await source.fetch(blob, in: repo).collect(upTo: Int(blob.size), what: "blob")
            #expect(copied == original)
        }
        #expect(await destination.manifestExists(image.digest, in: "mirror/app"))
        #expect(await destination.tags(in: "mirror/app") == ["latest"])
        #expect(await destination.repositories() == ["mirror/app"])
        let resolved = try await destination.resolve(.tag("latest"), in: "mirror/app")
        #expect(resolved.digest == image.digest)
        #expect(resolved.mediaType == MediaType.imageManifest)
        // The manifest bytes are copied exactly.
        let fetched = try await destination.fetchManifest(resolved, in: "mirror/app")
        #expect(fetched.bytes == image.bytes)

        #expect(result.root.digest == image.digest)
        #expect(result.kind == .containerImage)
        #expect(result.tag == "latest")
        #expect(result.manifests == 1)
        #expect(result.blobsCopied == 4)
        #expect(result.blobsSkipped == 0)
        #expect(result.bytesCopied == image.blobs.reduce(0) { $0 + $1.size })
        #expect(result.bytesSkipped == 0)
        #expect(result.seconds >= 0)

        // Events: planned first, finished last, progress adds up to each blob's size.
        let events = log.all
        guard let first = events.first, case .planned(let root, let kind, let manifests, let blobs, let bytes) = first else {
            Issue.record("first event is not .planned: \(String(describing: events.first))")
            return
        }
        #expect(root.digest == image.digest)
        #expect(kind == .containerImage)
        #expect(manifests == 1)
        #expect(blobs == 4)
        #expect(bytes == result.bytesCopied)
        guard let last = events.last, case .finished(let finished) = last else {
            Issue.record("last event is not .finished")
            return
        }
        #expect(finished.blobsCopied == 4)
        #expect(Set(log.copied.map(\.digest)) == Set(image.blobs.map(\.digest)))
        #expect(log.copied.count == 4)
        for blob in image.blobs {
            let last = log.progress.filter { $0.0.digest == blob.digest }.map(\.1).max()
            #expect(last == blob.size, "progress of \(blob.digest)")
        }
        // The destination gets the descriptor from the manifest (title annotation included).
        #expect(log.copied.contains { $0.title == "img-1.tar.gz" })
    }

    @Test func copyByDigestWithoutTag() async throws {
        let source = MemoryStore()
        let destination = MemoryStore()
        let image = try await Builder(store: source, repository: repo).image(seed: "d", layerSizes: [10], as: .root(tag: nil))
        let result = try await CopyEngine().copy(
            from: CopyEndpoint(source, repository: repo), .digest(image.digest), to: CopyEndpoint(destination, repository: repo),
            tag: nil)
        #expect(result.tag == nil)
        #expect(await destination.manifestExists(image.digest, in: repo))
        #expect(await destination.tags(in: repo).isEmpty)
        #expect(try await destination.resolve(.digest(image.digest), in: repo).digest == image.digest)
    }

    @Test func copyWithoutSelectorUsesTheOnlyTag() async throws {
        let source = MemoryStore()
        let destination = MemoryStore()
        let image = try await Builder(store: source, repository: "").image(seed: "only", layerSizes: [5], as: .root(tag: "v9"))
        try await CopyEngine().copy(from: CopyEndpoint(source), nil, to: CopyEndpoint(destination), tag: "v9")
        #expect(try await destination.resolve(nil, in: "").digest == image.digest)
    }

    @Test func unknownSourceTagFails() async throws {
        let source = MemoryStore()
        let destination = MemoryStore()
        try await Builder(store: source, repository: repo).image(seed: "x", layerSizes: [5], as: .root(tag: "v1"))
        let error = await #expect(throws: StorageError.self) {
            try await CopyEngine().copy(
                from: CopyEndpoint(source, repository: repo), .tag("nope"), to: CopyEndpoint(destination, repository: repo), tag: "nope")
        }
        #expect(error?.code == .manifestUnknown)
        #expect(await destination.storedBlobs().isEmpty)
    }

    // MARK: ordering

    @Test func childrenBeforeParentsAndTheTagLast() async throws {
        let source = MemoryStore()
        let destination = MemoryStore()
        let build = Builder(store: source, repository: repo)
        let amd = try await build.image(seed: "amd", layerSizes: [300, 20])
        let arm = try await build.image(seed: "arm", layerSizes: [10, 4000, 1])
        let index = try await build.index([
            (amd, Platform(os: "linux", architecture: "amd64")),
            (arm, Platform(os: "linux", architecture: "arm64", variant: "v8")),
        ])
        // One blob is already there, so a skip is ordered too.
        try await Builder(store: destination, repository: repo).blob(Array("{\"seed\":\"arm\"}".utf8), type: MediaType.imageConfig)

        let log = EventLog()
        let result = try await CopyEngine(options: CopyOptions(jobs: 3, allPlatforms: true), events: log.handler).copy(
            from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(destination, repository: repo), tag: "v1")
        #expect(result.blobsSkipped == 1)
        #expect(result.blobsCopied == 6)
        #expect(result.manifests == 3)
        #expect(result.kind == .imageIndex)

        for manifest in [amd, arm] {
            let pushedAt = try #require(log.manifestPushed(manifest.digest))
            for blob in manifest.blobs {
                let doneAt = try #require(log.blobDone(blob.digest), "no event for \(blob.digest)")
                #expect(doneAt < pushedAt, "blob \(blob.digest) after its manifest")
            }
        }
        let indexAt = try #require(log.manifestPushed(index.digest))
        #expect(try #require(log.manifestPushed(amd.digest)) < indexAt)
        #expect(try #require(log.manifestPushed(arm.digest)) < indexAt)

        let events = log.all
        #expect(indexAt == events.count - 2)
        guard case .manifestPushed(let root, let tag) = events[events.count - 2] else {
            Issue.record("the event before .finished is not the root's push")
            return
        }
        #expect(root.digest == index.digest)
        #expect(tag == "v1")
        guard let last = events.last, case .finished = last else {
            Issue.record("last event is not .finished")
            return
        }
        // Children are pushed untagged.
        #expect(log.pushed.filter { $0.1 != nil }.map(\.0.digest) == [index.digest])
        // Every blob started before it was copied.
        for blob in log.copied {
            let startedAt = try #require(events.firstIndex { if case .blobStarted(let d) = $0 { d.digest == blob.digest } else { false } })
            #expect(startedAt < log.blobDone(blob.digest)!)
        }
    }

    @Test func largestBlobsStartFirst() async throws {
        let source = MemoryStore()
        let destination = MemoryStore()
        let image = try await Builder(store: source, repository: repo).image(
            seed: "sizes", layerSizes: [10, 300, 50, 7000, 2, 1024], as: .root(tag: "v1"))
        let log = EventLog()
        try await CopyEngine(options: CopyOptions(jobs: 1), events: log.handler).copy(
            from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(destination, repository: repo), tag: "v1")

        let sizes = log.started.map(\.size)
        #expect(sizes.count == image.blobs.count)
        #expect(sizes == image.blobs.map(\.size).sorted(by: >))
        // With one job, a blob finishes before the next starts.
        let order = log.all.compactMap { event -> String? in
            switch event {
            case .blobStarted(let d): "start \(d.digest)"
            case .blobCopied(let d): "done \(d.digest)"
            default: nil
            }
        }
        let expected = image.blobs.sorted { $0.size > $1.size }.flatMap { ["start \($0.digest)", "done \($0.digest)"] }
        #expect(order == expected)
    }

    // MARK: dedupe

    @Test func secondCopySkipsEveryBlobAndReadsNothing() async throws {
        let backing = MemoryStore()
        let source = RecordingStore(backing)
        let destination = MemoryStore()
        let image = try await Builder(store: backing, repository: repo).image(seed: "again", layerSizes: [500, 60, 7], as: .root(tag: "v1"))
        let blobDigests = Set(image.blobs.map(\.digest))

        let first = try await CopyEngine().copy(
            from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(destination, repository: repo), tag: "v1")
        #expect(first.blobsCopied == 4)
        #expect(blobDigests.isSubset(of: Set(source.fetched)))

        source.resetLog()
        let log = EventLog()
        let second = try await CopyEngine(events: log.handler).copy(
            from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(destination, repository: repo), tag: "v1")
        #expect(second.blobsCopied == 0)
        #expect(second.blobsSkipped == 4)
        #expect(second.bytesCopied == 0)
        #expect(second.bytesSkipped == image.blobs.reduce(0) { $0 + $1.size })
        // No blob was read from the source; only the manifest was.
        #expect(Set(source.fetched).isDisjoint(with: blobDigests))
        #expect(source.fetched == [image.digest])
        #expect(log.started.isEmpty)
        #expect(log.progress.isEmpty)
        #expect(log.copied.isEmpty)
        #expect(Set(log.skipped.map(\.digest)) == blobDigests)
        #expect(await destination.tags(in: repo) == ["v1"])
    }

    @Test func blobSharedByTwoChildrenIsCopiedOnce() async throws {
        let source = MemoryStore()
        let destination = MemoryStore()
        let build = Builder(store: source, repository: repo)
        let config = try await build.blob(Array("{}".utf8), type: MediaType.imageConfig)
        let shared = try await build.blob(Builder.content("shared", size: 2000))
        let onlyA = try await build.blob(Builder.content("a", size: 100))
        let onlyB = try await build.blob(Builder.content("b", size: 100))
        let a = try await build.image(config: config, layers: [shared, onlyA])
        let b = try await build.image(config: config, layers: [shared, onlyB])
        try await build.index([(a, nil), (b, nil)])
        let log = EventLog()
        let result = try await CopyEngine(events: log.handler).copy(
            from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(destination, repository: repo), tag: "v1")
        // An index whose children have no platforms is copied whole.
        #expect(result.manifests == 3)
        #expect(result.blobsCopied == 4)
        #expect(log.copied.filter { $0.digest == shared.digest }.count == 1)
        #expect(log.started.filter { $0.digest == config.digest }.count == 1)
        for blob in [config, shared, onlyA, onlyB] {
            #expect(await destination.blobExists(blob.digest, in: repo))
        }
    }

    @Test func existingChildManifestIsSkipped() async throws {
        let source = MemoryStore()
        let destination = MemoryStore()
        let build = Builder(store: source, repository: repo)
        let a = try await build.image(seed: "a", layerSizes: [10])
        let b = try await build.image(seed: "b", layerSizes: [10])
        let index = try await build.index([(a, nil), (b, nil)])
        try await CopyEngine().copy(
            from: CopyEndpoint(source, repository: repo), .digest(a.digest), to: CopyEndpoint(destination, repository: repo), tag: nil)

        let log = EventLog()
        try await CopyEngine(events: log.handler).copy(
            from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(destination, repository: repo), tag: "v1")
        let skipped = log.all.compactMap { if case .manifestSkipped(let d) = $0 { d.digest } else { nil } }
        #expect(skipped == [a.digest])
        #expect(log.pushed.map(\.0.digest) == [b.digest, index.digest])
        #expect(try await destination.resolve(.tag("v1"), in: repo).digest == index.digest)
    }

    // MARK: verification failures

    @Test func corruptedSourceBlobFailsWithDigestInvalid() async throws {
        let source = MemoryStore(name: "src:")
        let tracked = RecordingStore(MemoryStore(name: "dst:"))
        let image = try await Builder(store: source, repository: repo).image(seed: "bad", layerSizes: [64, 128], as: .root(tag: "v1"))
        let victim = image.blobs[2]
        var tampered = try await source.fetch(victim, in: repo).collect(upTo: Int(victim.size), what: "blob")
        tampered[0] ^= 0xff
        await source.corrupt(victim.digest, with: tampered)

        let error = await #expect(throws: StorageError.self) {
            try await CopyEngine().copy(
                from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(tracked, repository: repo), tag: "v1")
        }
        #expect(error?.code == .digestInvalid)
        #expect(error?.message.contains("src:") == true)
        #expect(error?.message.contains(victim.digest.description) == true)
        #expect(await tracked.inner.tags(in: repo).isEmpty)
        #expect(await !tracked.inner.blobExists(victim.digest, in: repo))
        #expect(await !tracked.inner.manifestExists(image.digest, in: repo))
        #expect(tracked.aborts.current == 1)
        #expect(tracked.commits.current == 0)
    }

    @Test(arguments: [Int64(1), Int64(-1), Int64(1000)])
    func wrongDescriptorSizeFailsWithSizeInvalid(delta: Int64) async throws {
        let source = MemoryStore()
        let destination = MemoryStore()
        let build = Builder(store: source, repository: repo)
        let config = try await build.blob(Array("{}".utf8), type: MediaType.imageConfig)
        var layer = try await build.blob(Builder.content("layer", size: 100))
        layer.size += delta
        let image = try await build.image(config: config, layers: [layer], as: .root(tag: "v1"))

        let error = await #expect(throws: StorageError.self) {
            try await CopyEngine().copy(
                from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(destination, repository: repo), tag: "v1")
        }
        #expect(error?.code == .sizeInvalid)
        #expect(await destination.tags(in: repo).isEmpty)
        #expect(await !destination.blobExists(layer.digest, in: repo))
        #expect(await !destination.manifestExists(image.digest, in: repo))
    }

    @Test func missingSourceBlobFails() async throws {
        let source = MemoryStore()
        let destination = MemoryStore()
        let image = try await Builder(store: source, repository: repo).image(seed: "gone", layerSizes: [10], as: .root(tag: "v1"))
        await source.deleteBlob(image.blobs[1].digest, in: repo)
        let error = await #expect(throws: StorageError.self) {
            try await CopyEngine().copy(
                from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(destination, repository: repo), tag: "v1")
        }
        #expect(error?.code == .blobUnknown)
        #expect(await destination.tags(in: repo).isEmpty)
    }

    @Test func successfulCopyCommitsOnce() async throws {
        let source = MemoryStore()
        let tracked = RecordingStore(MemoryStore())
        try await Builder(store: source, repository: repo).image(seed: "ok", layerSizes: [10], as: .root(tag: "v1"))
        try await CopyEngine().copy(
            from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(tracked, repository: repo), tag: "v1")
        #expect(tracked.commits.current == 1)
        #expect(tracked.aborts.current == 0)
    }

    // MARK: platforms

    private func multiPlatformSource() async throws -> (MemoryStore, amd: Manifest, arm: Manifest, index: Manifest) {
        let source = MemoryStore()
        let build = Builder(store: source, repository: repo)
        let amd = try await build.image(seed: "amd64", layerSizes: [40, 50])
        let arm = try await build.image(seed: "arm64", layerSizes: [60, 70])
        let index = try await build.index([
            (amd, Platform(os: "linux", architecture: "amd64")),
            (arm, Platform(os: "linux", architecture: "arm64", variant: "v8")),
        ])
        return (source, amd, arm, index)
    }

    @Test(arguments: ["linux/arm64", "linux/arm64/v8"])
    func platformSelectsOneChild(platform: String) async throws {
        let (source, amd, arm, index) = try await multiPlatformSource()
        let destination = MemoryStore()
        let options = CopyOptions(platform: try Platform(parsing: platform))
        let result = try await CopyEngine(options: options).copy(
            from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(destination, repository: repo), tag: "v1")

        #expect(result.root.digest == arm.digest)
        #expect(result.kind == .containerImage)
        #expect(result.manifests == 1)
        #expect(try await destination.resolve(.tag("v1"), in: repo).digest == arm.digest)
        #expect(await destination.manifestExists(arm.digest, in: repo))
        #expect(await !destination.manifestExists(amd.digest, in: repo))
        #expect(await !destination.manifestExists(index.digest, in: repo))
        for blob in arm.blobs { #expect(await destination.blobExists(blob.digest, in: repo)) }
        for blob in amd.blobs { #expect(await !destination.blobExists(blob.digest, in: repo)) }
    }

    @Test func allPlatformsCopiesTheIndex() async throws {
        let (source, amd, arm, index) = try await multiPlatformSource()
        let destination = MemoryStore()
        let options = CopyOptions(platform: Platform(os: "linux", architecture: "arm64"), allPlatforms: true)
        let result = try await CopyEngine(options: options).copy(
            from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(destination, repository: repo), tag: "v1")
        #expect(result.root.digest == index.digest)
        #expect(result.kind == .imageIndex)
        #expect(result.manifests == 3)
        #expect(result.blobsCopied == 6)
        #expect(try await destination.resolve(.tag("v1"), in: repo).digest == index.digest)
        for manifest in [amd, arm, index] { #expect(await destination.manifestExists(manifest.digest, in: repo)) }
        for blob in amd.blobs + arm.blobs { #expect(await destination.blobExists(blob.digest, in: repo)) }
    }

    @Test func platformNotOfferedListsTheChoices() async throws {
        let (source, _, _, index) = try await multiPlatformSource()
        let destination = MemoryStore()
        let options = CopyOptions(platform: Platform(os: "linux", architecture: "s390x"))
        let error = await #expect(throws: StorageError.self) {
            try await CopyEngine(options: options).copy(
                from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(destination, repository: repo), tag: "v1")
        }
        #expect(error?.code == .manifestUnknown)
        let message = try #require(error?.message)
        #expect(message.contains("linux/s390x"))
        #expect(message.contains("linux/amd64"))
        #expect(message.contains("linux/arm64/v8"))
        #expect(message.contains(index.digest.description))
        #expect(await destination.storedBlobs().isEmpty)
    }

    @Test func armVariantMismatchIsNotOffered() async throws {
        let (source, _, _, _) = try await multiPlatformSource()
        let options = CopyOptions(platform: Platform(os: "linux", architecture: "arm64", variant: "v9"))
        await #expect(throws: StorageError.self) {
            try await CopyEngine(options: options).copy(
                from: CopyEndpoint(source, repository: repo), .tag("v1"), to: CopyEndpoint(MemoryStore(), repository: repo), tag: "v1")
        }
    }

    @Test func nestedIndexesSelectThrough() async throws {
        let source = MemoryStore()
        let build = Builder(store: source, repository: repo)
        let amd = try await build.image(seed: "n-amd", layerSizes: [5])
        let arm = try await build.image(seed: "n-arm", layerSizes: [6])
        let inner = try await build.index(
            [(arm, Platform(os: "linux", architecture: "arm64")), (amd, Platform(os: "linux", architecture: "amd64"))], as: .child)
        let innerDescriptor = Descriptor(
            mediaType: inner.mediaType, digest: inner.digest, size: Int64(inner.bytes.count),
            platform: Platform(os: "linux", architecture: "amd64"))
        let outer = try Manifest(bytes: try build.manifestBytes(ImageIndex(manifests: [innerDescriptor])))
        try await source.pushManifest(outer, as: .root(tag: "nested"), in: repo)

        let destination = MemoryStore()
        let result = try await CopyEngine(options: CopyOptions(platform: Platform(os: "linux", architecture: "amd64"))).copy(
            from: CopyEndpoint(source, repository: repo), .tag("nested"), to: CopyEndpoint(destination, repository: repo), tag: "nested")
        #expect(result.root.digest == amd.digest)
        #expect(try await destination.resolve(.tag("nested"), in: repo).digest == amd.digest)
    }

    @Test func optionsClampJobs() {
        #expect(CopyOptions(jobs: 0).jobs == 1)
        #expect(CopyOptions(jobs: -3).jobs == 1)
        #expect(CopyOptions(jobs: 8).jobs == 8)
        #expect(CopyOptions().jobs == 4)
        #expect(CopyOptions().allPlatforms == false)
        #expect(CopyOptions().platform == nil)
    }
}
