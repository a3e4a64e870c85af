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
    @Option(name: .long, help: "Read from disk:FILE, a disk larger than this becomes .part layers of this size (bytes, or with K, M, G, T).")
    var partSize: String?

    func validate() throws {
        _ = try artifactOptions()
    }

    /// The options, with `SOURCE_DATE_EPOCH` when `--created` is not given.
    func artifactOptions(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SnapshotArtifactOptions {
        var date: Date?
        if let created {
            guard let parsed = Self.parseTime(created) else {
                throw UsageError("--created \(created): not an RFC 3339 time (2026-04-24T00:00:00Z) or Unix seconds, from 1970 to the year 9999")
            }
            date = parsed
        } else if let epoch = environment["SOURCE_DATE_EPOCH"], !epoch.isEmpty {
            guard let seconds = Int64(epoch), (0...Self.latestTime).contains(seconds) else {
                throw UsageError("SOURCE_DATE_EPOCH=\(epoch): not a number of seconds up to \(Self.latestTime) (the year 9999)")
            }
            date = Date(timeIntervalSince1970: TimeInterval(seconds))
        }
        var parts: Int64?
        if let partSize {
            guard let bytes = Self.parseSize(partSize), bytes >= 1 << 20 else {
                throw UsageError("--part-size \(partSize): not a size of at least 1M (e.g. 4G, 512M, 1073741824)")
            }
            parts = bytes
        }
        return SnapshotArtifactOptions(baseImage: baseImage, source: source, revision: revision, created: date, partSize: parts)
    }

    /// `1073741824`, `512M`, `4G`, `4GiB`: powers of 1024.
    static func parseSize(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = text.uppercased()
        if digits.hasSuffix("IB") { digits.removeLast(2) } else if digits.hasSuffix("B") { digits.removeLast() }
        var scale: Int64 = 1
        if let last = digits.last, let unit = units[last] {
            scale = unit
            digits.removeLast()
        }
        guard let value = Int64(digits), value > 0, value <= Int64.max / scale else { return nil }
        return value * scale
    }

    /// The last second of the year 9999: times past it have no RFC 3339 form.
    static let latestTime: Int64 = 253_402_300_799

    /// Unix seconds or RFC 3339, between 1970 and the year 9999; nil for anything else.
    static func parseTime(_ text: String) -> Date? {
        if let seconds = Int64(text.hasPrefix("@") ? String(text.dropFirst()) : text) {
            return (0...latestTime).contains(seconds) ? Date(timeIntervalSince1970: TimeInterval(seconds)) : nil
        }
        let formatter = ISO8601DateFormatter()
        var date = formatter.date(from: text)
        if date == nil {
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            date = formatter.date(from: text)
        }
        guard let date, (0...Double(latestTime)).contains(date.timeIntervalSince1970) else { return nil }
        return date
    }
}
