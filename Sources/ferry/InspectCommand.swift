import ArgumentParser
import FerryCore
import Foundation
import OCI

extension Ferry {
    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a manifest: its kind (container-image, image-index, snapshot, cloud-image), digest and sizes.",
            discussion: """
                A snapshot read from a cocoon root or export is shown as the artifact a copy would write \
                (its digest depends on --created or SOURCE_DATE_EPOCH).

                References: \(Reference.forms.joined(separator: ", ")).

                Examples:
                  ferry inspect oci:./layout:v1
                  ferry inspect --raw oci-archive:app.tar@sha256:0123…
                  ferry inspect --json cocoon:/var/lib/cocoon#web
                """)

        @Argument(help: "The reference to inspect, e.g. oci:DIR:TAG.", completion: Completion.reference) var reference: String
        @Flag(name: .long, help: "Print the manifest's bytes exactly as stored.") var raw = false
        @Flag(name: .long, help: "Print one JSON object: a summary event with the manifest's fields.") var json = false

        func validate() throws {
            _ = try Arguments.reference(reference)
        }

        @OptionGroup var network: NetworkOptions
        @OptionGroup var snapshot: SnapshotOptions

        func run() async throws {
            let ref = try Arguments.reference(reference)
            var backends = network.backends
            backends.snapshot = try snapshot.artifactOptions()
            let store = try backends.open(ref)
            let manifest = try await store.resolveManifest(ref.selector, in: ref.repository)
            if raw {
                Output.raw(manifest.bytes)
            } else if json {
                try Output.json(encoding: Summary(reference: reference, manifest: manifest))
            } else {
                try printHuman(manifest)
            }
        }

        private func printHuman(_ manifest: Manifest) throws {
            Output.line("Reference:  \(reference)")
            Output.line("Digest:     \(manifest.digest)")
            Output.line("MediaType:  \(manifest.mediaType)")
            if let artifactType = manifest.artifactType { Output.line("Artifact:   \(artifactType)") }
            Output.line("Kind:       \(manifest.kind.rawValue)")
            Output.line("Size:       \(manifest.bytes.count) B")
            switch manifest.content {
            case .image(let image):
                let total = try Arithmetic.sum([image.config.size] + image.layers.map(\.size), what: "\(reference): manifest \(manifest.digest)")
                Output.line("Content:    \(Output.bytes(total)) in config and \(image.layers.count) layer(s)")
                Output.line("Config:     \(image.config.digest)  \(Output.bytes(image.config.size))  \(image.config.mediaType)")
                for layer in image.layers {
                    let title = layer.title.map { "  \($0)" } ?? ""
                    Output.line("Layer:      \(layer.digest)  \(Output.bytes(layer.size))  \(layer.mediaType)\(title)")
                }
            case .index(let index):
                for child in index.manifests {
                    let platform = child.platform.map { "  \($0)" } ?? ""
                    Output.line("Manifest:   \(child.digest)  \(Output.bytes(child.size))  \(child.mediaType)\(platform)")
                }
            }
            for (key, value) in (annotations(manifest) ?? [:]).sorted(by: { $0.key < $1.key }) {
                Output.line("Annotation: \(key)=\(value)")
            }
        }

        private func annotations(_ manifest: Manifest) -> [String: String]? {
            switch manifest.content {
            case .image(let image): image.annotations
            case .index(let index): index.annotations
            }
        }

        /// The `--json` shape: DESIGN.md's fields, plus the artifact type and annotations.
        struct Summary: Encodable {
            var event = "summary"
            var reference: String
            var digest: String
            var mediaType: String
            var size: Int
            var kind: String
            var artifactType: String?
            var config: Descriptor?
            var layers: [Descriptor]?
            var manifests: [Descriptor]?
            var annotations: [String: String]?

            init(reference: String, manifest: Manifest) {
                self.reference = reference
                digest = manifest.digest.description
                mediaType = manifest.mediaType
                size = manifest.bytes.count
                kind = manifest.kind.rawValue
                artifactType = manifest.artifactType
                switch manifest.content {
                case .image(let image):
                    config = image.config
                    layers = image.layers
                    annotations = image.annotations
                case .index(let index):
                    manifests = index.manifests
                    annotations = index.annotations
                }
            }
        }
    }
}
