import ArgumentParser
import Distribution
import FerryCore
import Layout
import OCI

extension Ferry {
    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy every repository and tag of a layout, archive, bucket, cocoon root or registry.",
            discussion: """
                Everything is planned at once: each blob moves once, a compressed archive is read in one \
                pass, and an archive destination is written in one pass. Whole indexes are copied unless \
                --platform picks one.

                Locations: \(Location.forms.joined(separator: ", ")).

                Examples:
                  ferry sync oci-archive:site.tar.gz oci:/srv/layout
                  ferry sync --json oci:/srv/layout epoch:/srv/bucket
                """)

        @Argument(help: "The source location, e.g. oci-archive:FILE or oci:DIR.", completion: Completion.reference) var source: String
        @Argument(help: "The destination location, e.g. oci:DIR or oci-archive:FILE.", completion: Completion.reference) var destination: String
        @OptionGroup var transfer: TransferOptions
        @OptionGroup var output: CopyOutputOptions
        @Option(name: .long, help: "Copy only this platform of each index: os/arch[/variant].") var platform: String?
        @Flag(name: .long, help: "Also copy the signatures, SBOMs and attestations that refer to what is copied (and what refers to those).") var referrers = false
        @Flag(name: .customLong("per-repository"), help: "An oci:DIR location (source or destination) holds one layout per repository: DIR/NAME/index.json.") var perRepository = false

        @OptionGroup var network: NetworkOptions
        @OptionGroup var snapshot: SnapshotOptions

        func validate() throws {
            _ = try Arguments.location(source)
            _ = try Arguments.location(destination)
            _ = try Arguments.platform(platform)
        }

        func run() async throws {
            var backends = network.backends
            backends.snapshot = try snapshot.artifactOptions()
            backends.perRepository = perRepository
            try await Ferry.copyEverything(
                from: try Arguments.location(source), named: source, to: try Arguments.location(destination), named: destination,
                options: CopyOptions(jobs: transfer.jobs, platform: try Arguments.platform(platform), allPlatforms: platform == nil, referrers: referrers),
                output: output, backends: backends)
        }
    }

    /// `sync` and `copy --all-tags`: every root of the source, one plan, one pass.
    static func copyEverything(
        from source: Location, named sourceName: String, to destination: Location, named destinationName: String,
        options: CopyOptions, output: CopyOutputOptions, backends: Backends
    ) async throws {
        let sourceStore = try backends.open(source)
        let destinationStore = try backends.open(destination, refNameStyle: output.refName, role: .destination)
        var requests = try await CopyRequest.everything(in: sourceStore)
        guard !requests.isEmpty else { throw StorageError(.nameUnknown, "\(sourceName): holds nothing to copy") }
        let intoLayout = destinationStore is any LayoutNaming
        // docker://HOST/PREFIX takes a layout's unnamed tags into the repository PREFIX.
        let takesUnnamed = (destinationStore as? RegistryStore).map { !$0.prefix.isEmpty } ?? false
        for index in requests.indices {
            let request = requests[index]
            if intoLayout {
                // A layout has one tag namespace: named repositories keep their names, so that
                // app:v1 and db:v1 do not collide.
                if !request.destinationRepository.isEmpty, let tag = request.tag, !tag.contains(":") {
                    requests[index].tag = "\(request.destinationRepository):\(tag)"
                }
            } else if request.destinationRepository.isEmpty, !takesUnnamed {
                let remedy = destinationStore is RegistryStore
                    ? "sync into \(destinationName)/NAME (the unnamed tags go to that repository)"
                    : "copy it alone (ferry copy SRC:TAG DST#NAME:TAG)"
                throw StorageError(.nameInvalid, "\(sourceName): '\(request.tag ?? "an untagged manifest")' has no repository name for \(destinationName); \(remedy) or name it in full (example.com/app:TAG)")
            } else if let tag = request.tag, let split = Names.splitTag(tag) {
                requests[index].tag = split.tag
            }
        }
        let reporter = ProgressReporter(mode: output.progress, json: output.json)
        let engine = CopyEngine(options: options, events: { reporter.handle($0) })
        let result = try await engine.copy(requests, from: sourceStore, to: destinationStore)
        reporter.summarize(result, source: sourceName, destination: destinationName)
    }
}

/// How copies report and name tags.
struct CopyOutputOptions: ParsableArguments {
    @Option(name: .long, help: "How a layout names new tags: bare (v1), full (example.com/app:v1), or named (bare in the layout's own repository, NAME:v1 in others).") var refName: RefNameStyle = .bare
    @Option(name: .long, help: "Progress: auto (bars on a terminal), plain (lines) or none.") var progress: ProgressMode = .auto
    @Flag(name: .long, help: "Print one JSON object per line for every event, and a summary last.") var json = false
}
