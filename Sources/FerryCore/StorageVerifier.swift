import OCI

/// One problem `ferry verify` found.
public struct Fault: Sendable, CustomStringConvertible, Codable {
    /// The content at fault: a tag, a manifest or a blob.
    public let subject: String
    public let problem: String

    /// A fault; a problem that starts by naming the subject (an error that names its location)
    /// does not name it twice.
    public init(subject: String, problem: String) {
        self.subject = subject
        self.problem = problem.hasPrefix(subject + ": ") ? String(problem.dropFirst(subject.count + 2)) : problem
    }

    public var description: String { "\(subject): \(problem)" }
}

/// A place with files of its own besides content (an Epoch bucket's by-digest copies and
/// catalog): `ferry verify` of the whole place checks them too.
public protocol FormatChecking: Storage {
    /// Every fault in the place's own files.
    func formatFaults() async -> [Fault]
}

/// What a verification checked and what it found.
public struct VerificationReport: Sendable {
    public var manifests = 0
    public var blobs = 0
    public var bytes: Int64 = 0
    public var faults: [Fault] = []
}

/// Re-hashes content and checks that every manifest names only content that is present.
public struct StorageVerifier: Sendable {
    public let jobs: Int

    public init(jobs: Int = 4) {
        self.jobs = max(1, jobs)
    }

    /// Verifies everything a place holds: every root's graph, every stored blob, and the place's
    /// own files where it has some.
    public func verifyEverything(in inventory: any Inventory) async -> VerificationReport {
        let roots: [(name: String, repository: String, descriptor: Descriptor)]
        let stored: [(digest: Digest, size: Int64)]
        do {
            roots = try await inventory.roots()
            stored = try await inventory.storedBlobs()
        } catch {
            var report = VerificationReport()
            report.faults = [Fault(subject: inventory.displayName, problem: "\(error)")]
            return report
        }
        var report = await verify(roots: roots, in: inventory, stored: stored)
        if let checking = inventory as? any FormatChecking {
            report.faults += await checking.formatFaults()
            report.faults.sort { $0.subject < $1.subject }
        }
        return report
    }

    /// Verifies what every tag of every repository reaches, for a place that lists its tags but
    /// not its blobs (a registry).
    public func verifyTagged(in storage: any Storage) async -> VerificationReport {
        var roots: [(name: String, repository: String, descriptor: Descriptor)] = []
        do {
            for repository in try await storage.repositories() {
                for tag in try await storage.tags(in: repository) {
                    let name = repository.isEmpty ? tag : "\(repository):\(tag)"
                    roots.append((name, repository, try await storage.resolve(.tag(tag), in: repository)))
                }
            }
        } catch {
            var report = VerificationReport()
            report.faults = [Fault(subject: storage.displayName, problem: "\(error)")]
            return report
        }
        return await verify(roots: roots, in: storage)
    }

    /// Verifies the graphs under `roots`, and every blob in `stored` (blobs no manifest names
    /// are re-hashed too: a blob must match its name).
    public func verify(
        roots: [(name: String, repository: String, descriptor: Descriptor)], in storage: any Storage,
        stored: [(digest: Digest, size: Int64)] = []
    ) async -> VerificationReport {
        var report = VerificationReport()
        var blobs: [Digest: (descriptor: Descriptor, repository: String, namedBy: String)] = [:]
        var seen = Set<Digest>()
        var pending = roots.map { (descriptor: $0.descriptor, repository: $0.repository, namedBy: $0.name) }
        while let (descriptor, repository, namedBy) = pending.popLast() {
            guard seen.insert(descriptor.digest).inserted else { continue }
            let manifest: Manifest
            do {
                manifest = try await storage.fetchManifest(descriptor, in: repository)
            } catch {
                report.faults.append(Fault(subject: "manifest \(descriptor.digest) (named by \(namedBy))", problem: "\(error)"))
                continue
            }
            report.manifests += 1
            pending += manifest.manifests.map { ($0, repository, "index \(manifest.digest)") }
            for blob in manifest.blobs where blobs[blob.digest] == nil {
                blobs[blob.digest] = (blob, repository, "manifest \(manifest.digest)")
            }
        }
        let named = blobs.values.map { $0 }
        let unnamed = stored.filter { blobs[$0.digest] == nil && !seen.contains($0.digest) }.map {
            (descriptor: Descriptor(mediaType: MediaType.octetStream, digest: $0.digest, size: $0.size), repository: "", namedBy: "no manifest")
        }
        if let ordered = storage as? any SequentialSource, (try? await ordered.prefersOnePass()) == true {
            await rehashInOnePass(named + unnamed, from: ordered, into: &report)
            report.faults.sort { $0.subject < $1.subject }
            return report
        }
        await withTaskGroup(of: (Int64, Fault?).self) { group in
            var queue = (named + unnamed).sorted { $0.descriptor.size > $1.descriptor.size }[...]
            func startNext() {
                guard let (descriptor, repository, namedBy) = queue.popFirst() else { return }
                group.addTask {
                    do {
                        try await self.rehash(descriptor, in: storage, repository: repository)
                        return (descriptor.size, nil)
                    } catch {
                        // BlobVerifier's messages start with the digest, which the subject already names.
                        let problem = "\(error)".replacingPrefix("\(descriptor.digest): ", with: "")
                        return (0, Fault(subject: "blob \(descriptor.digest) (named by \(namedBy))", problem: problem))
                    }
                }
            }
            for _ in 0..<jobs { startNext() }
            while let (bytes, fault) = await group.next() {
                report.blobs += 1
                report.bytes += bytes
                if let fault { report.faults.append(fault) }
                startNext()
            }
        }
        report.faults.sort { $0.subject < $1.subject }
        return report
    }

    /// Re-hashes blobs of a source that is read in one pass (a compressed archive).
    private func rehashInOnePass(
        _ blobs: [(descriptor: Descriptor, repository: String, namedBy: String)], from source: any SequentialSource,
        into report: inout VerificationReport
    ) async {
        let namedBy = Dictionary(blobs.map { ($0.descriptor.digest, $0.namedBy) }, uniquingKeysWith: { first, _ in first })
        let outcomes = Outcomes()
        do {
            try await source.streamBlobs(blobs.map(\.descriptor), in: "") { descriptor, stream in
                do {
                    for try await _ in stream.verifying(descriptor) {}
                    outcomes.add(descriptor.size, nil)
                } catch let error as StorageError where error.code == .digestInvalid || error.code == .sizeInvalid {
                    let problem = error.message.replacingPrefix("\(descriptor.digest): ", with: "")
                    outcomes.add(0, Fault(subject: "blob \(descriptor.digest) (named by \(namedBy[descriptor.digest] ?? "?"))", problem: problem))
                }
            }
        } catch {
            report.faults.append(Fault(subject: source.displayName, problem: "\(error)"))
        }
        for (bytes, fault) in outcomes.all {
            report.blobs += 1
            report.bytes += bytes
            if let fault { report.faults.append(fault) }
        }
    }

    private func rehash(_ descriptor: Descriptor, in storage: any Storage, repository: String) async throws {
        guard try await storage.blobExists(descriptor.digest, in: repository) else {
            throw StorageError(.blobUnknown, "missing")
        }
        for try await _ in try await storage.fetch(descriptor, in: repository).verifying(descriptor) {}
    }
}

extension String {
    fileprivate func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}

/// Results gathered from a one-pass stream's callbacks, one at a time.
private final class Outcomes: @unchecked Sendable {
    private(set) var all: [(Int64, Fault?)] = []
    func add(_ bytes: Int64, _ fault: Fault?) { all.append((bytes, fault)) }
}
