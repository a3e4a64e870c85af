import ArgumentParser
import Cocoon
import FerryCore
import Foundation

/// How a snapshot read from a cocoon root or an export tarball becomes an artifact: the
/// annotations epoch's push sets, and a fixed time that makes the artifact reproducible.
struct SnapshotOptions: ParsableArguments {
    @Option(name: .long, help: "The base image a snapshot was made from (annotation cocoonstack.snapshot.baseimage).")
    var baseImage: String?
    @Option(name: .long, help: "The source repository URL (annotation org.opencontainers.image.source).")
    var source: String?
    @Option(name: .long, help: "The source revision (annotation org.opencontainers.image.revision).")
    var revision: String?
    @Option(name: .long, help: "The creation time of a snapshot artifact, RFC 3339 or Unix seconds (default: SOURCE_DATE_EPOCH, else now). A fixed time makes the same snapshot give the same digest.")
    var created: String?

    /// The options, with `SOURCE_DATE_EPOCH` when `--created` is not given.
    func artifactOptions(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SnapshotArtifactOptions {
        var date: Date?
        if let created {
            guard let parsed = Self.parseTime(created) else {
                throw StorageError(.nameInvalid, "--created \(created): not an RFC 3339 time (2026-04-24T00:00:00Z) or Unix seconds")
            }
            date = parsed
        } else if let epoch = environment["SOURCE_DATE_EPOCH"], !epoch.isEmpty {
            guard let seconds = Int64(epoch), seconds >= 0 else {
                throw StorageError(.nameInvalid, "SOURCE_DATE_EPOCH=\(epoch): not a number of seconds")
            }
            date = Date(timeIntervalSince1970: TimeInterval(seconds))
        }
        return SnapshotArtifactOptions(baseImage: baseImage, source: source, revision: revision, created: date)
    }

    static func parseTime(_ text: String) -> Date? {
        if let seconds = Int64(text.hasPrefix("@") ? String(text.dropFirst()) : text), seconds >= 0 {
            return Date(timeIntervalSince1970: TimeInterval(seconds))
        }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}
