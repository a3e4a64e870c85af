import FerryCore
import Foundation
import OCI

extension EpochStore: FormatChecking {
    /// Checks every key FORMATS.md §1 lists besides blobs (which the verifier re-hashes): the
    /// catalog parses and names only tag objects that exist; every tag object is a manifest with
    /// a by-digest copy beside it; every by-digest copy hashes to the digest its key names.
    public func formatFaults() async -> [Fault] {
        var faults: [Fault] = []
        let manifestObjects: [ObjectInfo]
        do {
            manifestObjects = try await objects.list(prefix: "\(prefix)manifests/")
        } catch {
            return [Fault(subject: "\(prefix)manifests/", problem: "cannot be listed: \(error)")]
        }
        let keys = Set(manifestObjects.map(\.key))
        for object in manifestObjects where object.key.hasSuffix(".json") {
            let bytes: [UInt8]
            do {
                guard object.size <= Int64(Manifest.maximumSize),
                    let read = try await objects.read(object.key, limit: Manifest.maximumSize)
                else {
                    faults.append(Fault(subject: object.key, problem: "is larger than a manifest may be"))
                    continue
                }
                bytes = read
            } catch {
                faults.append(Fault(subject: object.key, problem: "cannot be read: \(error)"))
                continue
            }
            if let named = digest(ofKey: object.key) {
                let actual = Digest.compute(bytes, algorithm: named.algorithm)
                if actual != named { faults.append(Fault(subject: object.key, problem: "holds bytes that hash to \(actual), not \(named)")) }
                continue
            }
            // A tag object: manifests/<name>/<tag>.json.
            let relative = object.key.dropFirst("\(prefix)manifests/".count).dropLast(5)
            guard let slash = relative.lastIndex(of: "/") else { continue }
            let repository = String(relative[..<slash])
            guard (try? Manifest(bytes: bytes)) != nil else {
                faults.append(Fault(subject: object.key, problem: "is not an OCI manifest or index"))
                continue
            }
            let copy = digestKey(Digest.compute(bytes), in: repository)
            if !keys.contains(copy) {
                faults.append(Fault(subject: object.key, problem: "has no by-digest copy \(copy)"))
            }
        }
        do {
            let catalog = try await readCatalog()
            for (repository, entry) in catalog.repositories.sorted(by: { $0.key < $1.key }) {
                for (tag, key) in entry.tags.sorted(by: { $0.key < $1.key }) where !keys.contains(prefix + key) {
                    faults.append(Fault(subject: catalogKey, problem: "\(repository):\(tag) names \(key), which is missing"))
                }
            }
        } catch {
            faults.append(Fault(subject: catalogKey, problem: "\(error)"))
        }
        return faults
    }
}
