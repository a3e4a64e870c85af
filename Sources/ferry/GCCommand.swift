import ArgumentParser
import FerryCore
import Foundation
import OCI

extension Ferry {
    struct GC: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Remove blobs and by-digest manifests that no tag reaches.",
            discussion: """
                What a tag reaches is never removed; if any manifest under a tag cannot be read, nothing \
                is. Content younger than the grace period stays, so a copy running at the same time keeps \
                what it wrote and what it relies on.

                Examples:
                  ferry gc --dry-run oci:./layout
                  ferry gc --grace 0 --json epoch:/srv/bucket
                """)

        @Argument(help: "A location: oci:DIR or epoch:DIR.", completion: Completion.reference) var location: String
        @Flag(name: .long, help: "List what would go and the bytes it would free; remove nothing.") var dryRun = false
        @Option(name: .long, help: "Spare content younger than this: 90s, 30m, 1h, 2d (default 1h).") var grace: String = "1h"
        @Flag(name: .long, help: "Print one JSON object per line: a garbage or spared event per item, a summary last.") var json = false

        @OptionGroup var network: NetworkOptions

        func validate() throws {
            _ = try Arguments.location(location)
            guard Arguments.duration(grace) != nil else {
                throw UsageError("--grace \(grace): write a duration such as 90s, 30m, 1h or 2d")
            }
        }

        func run() async throws {
            let seconds = Arguments.duration(grace) ?? 3600
            let store = try network.backends.open(try Arguments.location(location))
            guard let collectable = store as? any Collectable else {
                throw StorageError(.unsupported, "\(location): garbage collection works on oci: layouts and epoch: buckets")
            }
            let report = try await GarbageCollector(grace: seconds).collect(collectable, dryRun: dryRun)
            let verb = dryRun ? "would remove" : "removed"
            if json {
                report.garbage.forEach { Output.event("garbage", describe($0, action: dryRun ? "would-remove" : "removed")) }
                report.spared.forEach { Output.event("spared", describe($0, action: "spared")) }
                Output.event("summary", [
                    "location": location, "dryRun": dryRun, "items": report.garbage.count, "bytes": report.bytes,
                    "spared": report.spared.count, "temporaryFiles": report.temporaryFiles,
                ])
                return
            }
            for item in report.garbage {
                Output.line("\(verb) \(label(item)) \(item.digest) (\(Output.bytes(item.size)))")
            }
            let spared = report.spared.isEmpty ? "" : "; \(report.spared.count) younger than \(grace) spared"
            let swept = report.temporaryFiles == 0 ? "" : "; \(report.temporaryFiles) temporary file(s) of killed writers removed"
            Output.line("\(location): \(verb) \(report.garbage.count) item(s), \(Output.bytes(report.bytes))\(spared)\(swept)")
        }

        private func label(_ item: StoredItem) -> String {
            switch item.kind {
            case .blob: "blob"
            case .manifest(let repository): "manifest of \(repository)"
            }
        }

        private func describe(_ item: StoredItem, action: String) -> [String: Any] {
            var object: [String: Any] = ["action": action, "kind": item.kind == .blob ? "blob" : "manifest", "digest": item.digest.description, "size": item.size]
            if case .manifest(let repository) = item.kind { object["repository"] = repository }
            return object
        }
    }
}
