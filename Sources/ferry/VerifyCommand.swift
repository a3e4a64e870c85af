import ArgumentParser
import FerryCore
import OCI

extension Ferry {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-hash every blob and check that every manifest names only present content; exit 1 on any fault.")

        @Argument(help: "A reference (oci:DIR:TAG) or a whole location (oci:DIR).") var target: String
        @OptionGroup var transfer: TransferOptions
        @Flag(name: .long, help: "Print one JSON object.") var json = false

        @OptionGroup var network: NetworkOptions

        func run() async throws {
            let verifier = StorageVerifier(jobs: transfer.jobs)
            let report: VerificationReport
            // A reference verifies one artifact; a location (oci:DIR, epoch:DIR) everything in it.
            let parsed = try? Reference(parsing: target)
            if Self.isLocation(target, parsed: parsed), let location = try? Location(parsing: target),
               let inventory = try network.backends.open(location) as? any Inventory {
                report = await verifier.verifyEverything(in: inventory)
                try finish(report)
                return
            }
            guard let reference = parsed else { _ = try Location(parsing: target); throw StorageError(.unsupported, "\(target): cannot list everything it holds; name an artifact") }
            let store = try network.backends.open(reference)
            if reference.selector == nil, reference.repository.isEmpty, let inventory = store as? any Inventory {
                report = await verifier.verifyEverything(in: inventory)
            } else {
                let root = try await store.resolve(reference.selector, in: reference.repository)
                report = await verifier.verify(roots: [(target, reference.repository, root)], in: store)
            }
            try finish(report)
        }

        /// Whether the target is a whole location: `epoch:PATH` (no `#`, no tag) is the bucket
        /// directory PATH, as `ls`, `sync` and `gc` read it; otherwise a reference that names no
        /// artifact (`oci:DIR`).
        static func isLocation(_ target: String, parsed: Reference?) -> Bool {
            guard let parsed else { return true }
            if case .epoch = parsed { return parsed.selector == nil && !target.contains("#") }
            return parsed.selector == nil && parsed.repository.isEmpty
        }

        private func finish(_ report: VerificationReport) throws {
            if json {
                Output.json([
                    "target": target, "manifests": report.manifests, "blobs": report.blobs, "bytes": report.bytes,
                    "faults": report.faults.map { ["subject": $0.subject, "problem": $0.problem] },
                ])
            } else {
                for fault in report.faults { Output.error("ferry: \(target): \(fault.description.printable)\n") }
                let verdict = report.faults.isEmpty ? "ok" : "\(report.faults.count) fault(s)"
                Output.line("\(target): \(verdict): \(report.manifests) manifest(s), \(report.blobs) blob(s), \(Output.bytes(report.bytes)) verified")
            }
            if !report.faults.isEmpty { throw ExitCode(1) }
        }
    }
}
