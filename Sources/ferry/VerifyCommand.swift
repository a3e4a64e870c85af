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
            guard let reference = try? Reference(parsing: target), reference.selector != nil || reference.repository.isEmpty == false
            else {
                let store = try network.backends.open(try Location(parsing: target))
                guard let inventory = store as? any Inventory else {
                    throw StorageError(.unsupported, "\(target): cannot list everything it holds; name an artifact")
                }
                report = await verifier.verify(roots: try await inventory.roots(), in: store, stored: try await inventory.storedBlobs())
                try finish(report)
                return
            }
            let store = try network.backends.open(reference)
            if reference.selector == nil, reference.repository.isEmpty, let inventory = store as? any Inventory {
                report = await verifier.verify(roots: try await inventory.roots(), in: store, stored: try await inventory.storedBlobs())
            } else {
                let root = try await store.resolve(reference.selector, in: reference.repository)
                report = await verifier.verify(roots: [(target, reference.repository, root)], in: store)
            }
            try finish(report)
        }

        private func finish(_ report: VerificationReport) throws {
            if json {
                Output.json([
                    "target": target, "manifests": report.manifests, "blobs": report.blobs, "bytes": report.bytes,
                    "faults": report.faults.map { ["subject": $0.subject, "problem": $0.problem] },
                ])
            } else {
                for fault in report.faults { Output.error("ferry: \(target): \(fault)\n") }
                let verdict = report.faults.isEmpty ? "ok" : "\(report.faults.count) fault(s)"
                Output.line("\(target): \(verdict): \(report.manifests) manifest(s), \(report.blobs) blob(s), \(Output.bytes(report.bytes)) verified")
            }
            if !report.faults.isEmpty { throw ExitCode(1) }
        }
    }
}
