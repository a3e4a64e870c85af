import FerryCore
import OCI
import Layout

/// `LayoutArchiveStore` reading an `oci-archive:` tarball (the archive scanner, `index.json`,
/// manifests by offset or kept from a compressed scan): every blob the scan lists fetches as
/// exactly the bytes its entry holds; resolving tags and digests never crashes.
enum LayoutArchiveHarness {
    static func run(_ bytes: [UInt8]) {
        let path = ScratchFile.write(bytes, name: "archive.tar")
        _ = try? blocking {
            let store = LayoutArchiveStore(file: path)
            let roots = try await store.roots()
            let blobs = try await store.storedBlobs()
            for (digest, size) in blobs { require(size >= 0, "blob \(digest) has size \(size)") }
            for repository in try await store.repositories() {
                for tag in try await store.tags(in: repository) {
                    // What index.json says; a missing or different blob fails later, at fetch and verification.
                    _ = try? await store.resolve(.tag(tag), in: repository)
                }
            }
            for root in roots { _ = try? await store.resolve(.digest(root.descriptor.digest), in: root.repository) }
            for (digest, size) in blobs.prefix(64) where size <= 1 << 20 {
                let descriptor = Descriptor(mediaType: MediaType.octetStream, digest: digest, size: size)
                guard let stream = try? await store.fetch(descriptor, in: "") else { continue }
                var count: Int64 = 0
                do {
                    for try await chunk in stream { count += Int64(chunk.count) }
                } catch { continue }
                require(count == size, "blob \(digest) of \(size) bytes fetched as \(count)")
            }
        }
    }
}
