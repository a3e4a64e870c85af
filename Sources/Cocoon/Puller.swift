import FerryCore
import Foundation
import OCI
import SystemPackage

/// The Epoch snapshot registry's Puller, on the storage protocol: it makes sure snapshots are
/// present in a cocoon root, pulling them from any source (a bucket, a layout, an archive, later
/// a registry) when they are not. Pulls are idempotent; concurrent calls for one snapshot share
/// one pull; a failed pull leaves no record and no directory behind.
public actor Puller {
    private let root: CocoonRoot
    private let source: any Storage
    private let options: CopyOptions
    private let events: @Sendable (CopyEvent) -> Void
    private var inFlight: [String: Task<String, Error>] = [:]

    /// A puller into the cocoon root at `root` from `source`. `events` sees every copy's progress.
    public init(root: FilePath, source: any Storage, options: CopyOptions = CopyOptions(), events: @escaping @Sendable (CopyEvent) -> Void = { _ in }) {
        self.root = CocoonRoot(path: FileSystem.absolute(root.string))
        self.source = source
        self.options = options
        self.events = events
    }

    /// Ensures the snapshot `name:tag` of the source is in the root as `localName` (default:
    /// `name`), pulling it if absent. Returns the cocoon id of the local snapshot.
    @discardableResult
    public func ensure(_ name: String, tag: String = "latest", as localName: String? = nil) async throws -> String {
        let local = localName ?? name
        if let running = inFlight[local] { return try await running.value }
        if let id = try present(local) { return id }
        let (root, source, options, events) = (self.root, self.source, self.options, self.events)
        let pull = Task { () throws -> String in
            let destination = CocoonStore(root: root.path)
            do {
                try await CopyEngine(options: options, events: events).copy(
                    from: CopyEndpoint(source, repository: name), .tag(tag), to: CopyEndpoint(destination, repository: local), tag: nil)
            } catch let error as StorageError where error.code == .nameInvalid {
                // Another process has pulled it, or is pulling it: wait for its record to complete.
                if let id = try await Self.awaitOther(local, in: root) { return id }
                throw error
            }
            guard let id = try Self.present(local, in: root) else {
                throw StorageError(.nameUnknown, "cocoon:\(root.path)#\(local): missing after the pull")
            }
            return id
        }
        inFlight[local] = pull
        defer { inFlight[local] = nil }
        return try await pull.value
    }

    /// Starts pulling each snapshot in the background, one after another; the task's value says
    /// how each went.
    public nonisolated func prewarm(_ snapshots: [(name: String, tag: String)]) -> Task<[(name: String, outcome: Result<String, any Error>)], Never> {
        let list = snapshots.map { ($0.name, $0.tag) }
        return Task {
            var outcomes: [(name: String, outcome: Result<String, any Error>)] = []
            for (name, tag) in list {
                do {
                    outcomes.append((name, .success(try await self.ensure(name, tag: tag))))
                } catch {
                    outcomes.append((name, .failure(error)))
                }
            }
            return outcomes
        }
    }

    /// The snapshots the source holds: each repository with the tags that name snapshots.
    public func remoteSnapshots() async throws -> [(name: String, tags: [String])] {
        var found: [(name: String, tags: [String])] = []
        for repository in try await source.repositories().sorted() {
            var tags: [String] = []
            for tag in try await source.tags(in: repository).sorted() {
                let descriptor = try await source.resolve(.tag(tag), in: repository)
                if try await source.fetchManifest(descriptor, in: repository).kind == .snapshot { tags.append(tag) }
            }
            if !tags.isEmpty { found.append((repository, tags)) }
        }
        return found
    }

    private func present(_ local: String) throws -> String? { try Self.present(local, in: root) }

    /// Waits while another process's record for `local` is pending (up to `patience`); the id
    /// once it is complete, nil if it is gone or never was. A record whose writer was killed is
    /// reclaimed (`CocoonRoot.updateReclaiming`), so it ends the wait at once.
    private static func awaitOther(_ local: String, in root: CocoonRoot, patience: Duration = .seconds(3600)) async throws -> String? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: patience)
        while clock.now < deadline {
            let index = try await BlockingIO.run { try root.updateReclaiming { $0 } }
            guard let id = index.names[local], let record = index.snapshots[id] else { return nil }
            if !record.pending { return id }
            try await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    /// The id of a complete local snapshot with that name.
    private static func present(_ local: String, in root: CocoonRoot) throws -> String? {
        let index: SnapshotIndex
        do {
            index = try root.index()
        } catch let error as StorageError where error.code == .nameUnknown {
            return nil  // no root yet: the first pull makes it
        }
        guard let id = index.names[local], let record = index.snapshots[id], !record.pending else { return nil }
        return id
    }
}
