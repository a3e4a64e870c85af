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
            discussion: """
                Blobs the destination already has are not read. Everything read is verified before it \
                becomes visible; the tag is written last. A copy that fails or is interrupted leaves the \
                destination as it was.

                References: \(Reference.forms.joined(separator: ", ")).

                Examples:
                  ferry copy oci:./layout:v1 oci-archive:app.tar.gz
                  ferry copy --platform linux/arm64 oci-archive:multi.tar:latest epoch:/srv/bucket#app:v1
                  ferry copy cocoon:/var/lib/cocoon#web cocoon-archive:web.tar.gz
                """)

        @Argument(help: "The source reference, e.g. oci:DIR:TAG.", completion: Completion.reference) var source: String
        @Argument(help: "The destination reference, e.g. oci:DIR[:TAG]. Without a tag, the source's tag is used.", completion: Completion.reference) var destination: String
        @OptionGroup var transfer: TransferOptions
        @Flag(name: .long, help: "Copy every child of an index, not only the host's platform.") var all = false
        @Option(name: .long, help: "The platform to pick from an index: os/arch[/variant] (default: the host's).") var platform: String?
        @Flag(name: .long, help: "Copy every tag of the source (a layout or archive location) to the destination location.") var allTags = false
        @Flag(name: .long, help: "Also copy the signatures, SBOMs and attestations that refer to what is copied (and what refers to those).") var referrers = false
        @OptionGroup var output: CopyOutputOptions
        @Flag(name: .long, help: "Write a disk: destination that is a block device in place (it is refused otherwise).") var overwriteDevice = false

        @OptionGroup var network: NetworkOptions
        @OptionGroup var snapshot: SnapshotOptions

        func validate() throws {
            _ = try Arguments.platform(platform)
            let sourceRef = try Arguments.reference(source)
            let destinationRef = try Arguments.reference(destination)
            if allTags {
                for (given, parsed) in [(source, sourceRef), (destination, destinationRef)] where parsed.selector != nil {
                    throw UsageError("\(given): --all-tags copies every tag; give a location without a tag or digest")
                }
                _ = try Arguments.location(source)
                _ = try Arguments.location(destination)
            } else if case .digest = destinationRef.selector {
                throw UsageError("\(destination): a destination takes a tag, not a digest")
            }
        }

        func run() async throws {
            var backends = network.backends
            backends.snapshot = try snapshot.artifactOptions()
            backends.overwriteDevice = overwriteDevice
            if allTags {
                try await Ferry.copyEverything(
                    from: try Arguments.location(source), named: source, to: try Arguments.location(destination), named: destination,
                    options: CopyOptions(jobs: transfer.jobs, platform: try Arguments.platform(platform), allPlatforms: all, referrers: referrers),
                    output: output, backends: backends)
                return
            }
            let sourceRef = try Arguments.reference(source)
            let destinationRef = try Arguments.reference(destination)
            let wanted = try Arguments.platform(platform)
            var tag = destinationTag(source: sourceRef, destination: destinationRef)
            let destinationRepository = destinationRef.repository.isEmpty ? sourceRef.repository : destinationRef.repository
            let sourceStore = try backends.open(sourceRef)
            let destinationStore = try backends.open(destinationRef, refNameStyle: output.refName, role: .destination)
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
                options: CopyOptions(jobs: transfer.jobs, platform: wanted, allPlatforms: all, referrers: referrers),
                events: { reporter.handle($0) })
            let result = try await engine.copy(
                from: CopyEndpoint(sourceStore, repository: sourceRef.repository), selector,
                to: CopyEndpoint(destinationStore, repository: destinationRepository), tag: tag)
            reporter.summarize(result, source: source, destination: destination)
        }

        /// The destination's tag: its own, else the source's (the tag part of a full reference
        /// unless the destination is a layout that keeps full names), else none.
        private func destinationTag(source: Reference, destination: Reference) -> String? {
            switch destination.selector {
            case .tag(let tag): return tag
            case .digest: return nil
            case nil:
                guard case .tag(let tag) = source.selector else { return nil }
                return Names.splitTag(tag)?.tag ?? tag
            }
        }
    }
}
