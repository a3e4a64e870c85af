import ArgumentParser
import FerryCore
import Layout
import OCI

extension RefNameStyle: ExpressibleByArgument {}
extension ProgressMode: ExpressibleByArgument {}

extension Ferry {
    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy one artifact (image, index, snapshot, cloud image) with everything it names.",
            discussion: "Blobs the destination already has are not read. Everything read is verified before it becomes visible; the tag is written last.")

        @Argument(help: "The source reference, e.g. oci:DIR:TAG.") var source: String
        @Argument(help: "The destination reference, e.g. oci:DIR[:TAG]. Without a tag, the source's tag is used.") var destination: String
        @OptionGroup var transfer: TransferOptions
        @Flag(name: .long, help: "Copy every child of an index, not only the host's platform.") var all = false
        @Option(name: .long, help: "The platform to pick from an index: os/arch[/variant] (default: the host's).") var platform: String?
        @Flag(name: .long, help: "Copy every tag of the source (a layout or archive location) to the destination location.") var allTags = false
        @OptionGroup var output: CopyOutputOptions
        @Flag(name: .long, help: "Write a disk: destination that is a block device in place (it is refused otherwise).") var overwriteDevice = false

        @OptionGroup var network: NetworkOptions
        @OptionGroup var snapshot: SnapshotOptions

        func run() async throws {
            var backends = network.backends
            backends.snapshot = try snapshot.artifactOptions()
            backends.overwriteDevice = overwriteDevice
            if allTags {
                for given in [source, destination] where try Reference(parsing: given).selector != nil {
                    throw StorageError(.nameInvalid, "\(given): --all-tags copies every tag; give a location without a tag or digest")
                }
                try await Ferry.copyEverything(
                    from: try Location(parsing: source), named: source, to: try Location(parsing: destination), named: destination,
                    options: CopyOptions(jobs: transfer.jobs, platform: try platform.map { try Platform(parsing: $0) }, allPlatforms: all),
                    output: output, backends: backends)
                return
            }
            let sourceRef = try Reference(parsing: source)
            let destinationRef = try Reference(parsing: destination)
            let wanted = try platform.map { try Platform(parsing: $0) }
            var tag = try destinationTag(source: sourceRef, destination: destinationRef)
            let destinationRepository = destinationRef.repository.isEmpty ? sourceRef.repository : destinationRef.repository
            let sourceStore = try backends.open(sourceRef)
            let destinationStore = try backends.open(destinationRef, refNameStyle: output.refName)
            var selector = sourceRef.selector
            if selector == nil, destinationRef.selector == nil {
                // The source's only manifest: its name travels with it.
                let only = try await sourceStore.resolve(nil, in: sourceRef.repository)
                selector = .digest(only.digest)
                tag = only.refName.map { Names.splitTag($0)?.tag ?? $0 }
            }
            if let tag, let naming = destinationStore as? any LayoutNaming {
                _ = try naming.refName(forTag: tag, repository: destinationRepository)
            }
            let reporter = ProgressReporter(mode: output.progress, json: output.json)
            let engine = CopyEngine(
                options: CopyOptions(jobs: transfer.jobs, platform: wanted, allPlatforms: all),
                events: { reporter.handle($0) })
            let result = try await engine.copy(
                from: CopyEndpoint(sourceStore, repository: sourceRef.repository), selector,
                to: CopyEndpoint(destinationStore, repository: destinationRepository), tag: tag)
            reporter.summarize(result, source: source, destination: destination)
        }

        /// The destination's tag: its own, else the source's (the tag part of a full reference
        /// unless the destination is a layout that keeps full names), else none.
        private func destinationTag(source: Reference, destination: Reference) throws -> String? {
            switch destination.selector {
            case .tag(let tag): return tag
            case .digest: throw StorageError(.nameInvalid, "\(self.destination): a destination takes a tag, not a digest")
            case nil:
                guard case .tag(let tag) = source.selector else { return nil }
                return Names.splitTag(tag)?.tag ?? tag
            }
        }
    }
}
