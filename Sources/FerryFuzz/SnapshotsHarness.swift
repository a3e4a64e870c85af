import FerryCore
import SystemPackage
@testable import Cocoon

/// `SnapshotIndex(bytes:)`, cocoon's `snapshots.json`: an index that parses writes back (as
/// cocoon writes it) to bytes that parse to the same index and write back the same; resolving
/// its ids and names never crashes.
enum SnapshotsHarness {
    static let root = CocoonRoot(path: FilePath("/nonexistent/cocoon-root"))

    static func run(_ bytes: [UInt8]) {
        guard let index = try? SnapshotIndex(bytes: bytes, what: "snapshots.json") else { return }
        let encoded = index.encoded()
        guard let again = try? SnapshotIndex(bytes: encoded, what: "written snapshots.json") else {
            return require(false, "written index \(String(decoding: encoded, as: UTF8.self).debugDescription) does not parse")
        }
        require(again == index, "written index \(String(decoding: encoded, as: UTF8.self).debugDescription) parses to another index")
        require(again.encoded() == encoded, "written index is not stable")
        for reference in Array(index.snapshots.keys.prefix(8)) + Array(index.names.keys.prefix(8)) + ["", "abc"] {
            _ = try? CocoonRoot.resolve(reference, in: index, root: root)
            _ = try? CocoonRoot.resolve(String(reference.prefix(3)), in: index, root: root)
        }
    }
}
