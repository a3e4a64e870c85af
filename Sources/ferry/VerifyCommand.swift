import ArgumentParser
import FerryCore
import OCI

extension Ferry {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-hash every blob and check that every manifest names only present content; exit 1 on any fault.",
            discussion: """
                A reference verifies one artifact and everything it names; a location (oci:DIR, \
                oci-archive:FILE, epoch:DIR) verifies everything it holds, and for a bucket also its \
                format: every object hashes to its name and the catalog names only present tags. A \
                registry (docker://HOST) is verified by what its tags reach, pulled and hashed, \
                nothing stored.

                Examples:
                  ferry verify oci:./layout
                  ferry verify --json epoch:/srv/bucket
                  ferry verify oci-archive:app.tar.gz:v1
                """)

        @Argument(help: "A reference (oci:DIR:TAG) or a whole location (oci:DIR).", completion: Completion.reference) var target: String
        @OptionGroup var transfer: TransferOptions
        @Flag(name: .long, help: "Print one JSON object per line: a fault event per fault, a summary last.") var json = false

        @OptionGroup var network: NetworkOptions

        func validate() throws {
            _ = try Arguments.target(target)
        }

        func run() async throws {
            let verifier = StorageVerifier(jobs: transfer.jobs)
            let report: VerificationReport
            // A reference verifies one artifact; a location (oci:DIR, epoch:DIR) everything in it.
            let parsed = try Arguments.target(target)
            if Self.isLocation(target, parsed: parsed), let location = try? Location(parsing: target) {
                let store = try network.backends.open(location)
                // A place that lists its blobs is checked whole; one that lists only its tags
                // (a registry) by what they reach.
                report = if let inventory = store as? any Inventory {
                    await verifier.verifyEverything(in: inventory)
                } else {
                    await verifier.verifyTagged(in: store)
                }
                try finish(report)
                return
            }
            guard let reference = parsed else { throw StorageError(.unsupported, "\(target): cannot list everything it holds; name an artifact") }
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
                report.faults.forEach { Output.event("fault", ["subject": $0.subject, "problem": $0.problem]) }
                Output.event("summary", [
                    "target": target, "manifests": report.manifests, "blobs": report.blobs, "bytes": report.bytes,
                    "faults": report.faults.count, "ok": report.faults.isEmpty,
                ])
            } else {
                for fault in report.faults {
                    // A fault about the whole location is already named by it.
                    let text = fault.subject == target ? fault.description : "\(target): \(fault.description)"
                    Output.error("ferry: \(text.printable)\n")
                }
                let verdict = report.faults.isEmpty ? "ok" : "\(report.faults.count) fault(s)"
                Output.line("\(target): \(verdict): \(report.manifests) manifest(s), \(report.blobs) blob(s), \(Output.bytes(report.bytes)) verified")
            }
            if !report.faults.isEmpty { throw ExitCode(1) }
        }
    }
}
