import Foundation
import HTTPSupport

/// The S3 bucket epoch is configured with, read exactly as epoch reads it (FORMATS.md §1.1):
/// `EPOCH_S3_ENDPOINT`, `_ACCESS_KEY`, `_SECRET_KEY`, `_BUCKET`, `_REGION`, `_SECURE`, `_PREFIX`,
/// and the env file `EPOCH_S3_ENV_FILE` (default `~/.config/epoch/s3.env`), which is read only
/// when the endpoint, the access key or the bucket is missing from the environment.
public struct EpochS3Config: Sendable, CustomStringConvertible {
    /// `host[:port]`, without a scheme.
    public var host: String
    public var secure: Bool
    public var credentials: S3Credentials
    public var bucket: String
    public var region: String
    /// Prepended raw to every key; `epoch/` unless `EPOCH_S3_PREFIX` is set and not empty.
    public var prefix: String
    /// How the bucket is named in a request: `EPOCH_S3_ADDRESSING` (`path`, `virtual` or `auto`,
    /// a Ferry extension); `auto` picks virtual-host for AWS endpoints, as minio-go does.
    public var addressing: S3Addressing = .path
    /// A PEM file of CA certificates trusted besides the system's (`EPOCH_CA_CERT`).
    public var caCertificatePath: String?
    /// False only when the user opts out of certificate checks (`--tls-verify=false`).
    public var verifiesCertificates = true

    /// What connections to the endpoint trust.
    public var trust: Trust {
        Trust(caFiles: caCertificatePath.map { [Trust.CAFile(path: $0, source: "EPOCH_CA_CERT=\($0)")] } ?? [], verifies: verifiesCertificates)
    }

    /// The configuration, or nil when no endpoint is configured at all.
    public static func load(environment: [String: String], readFile: (String) -> String? = { try? String(contentsOfFile: $0, encoding: .utf8) }) throws -> EpochS3Config? {
        var values = environment.filter { $0.key.hasPrefix("EPOCH_S3_") && !$0.value.isEmpty }
        // The default prefix is filled in before the file is read, so a prefix set only in the
        // file is ignored (epoch's behaviour, kept for interoperability).
        let prefix = values["EPOCH_S3_PREFIX"] ?? "epoch/"
        if values["EPOCH_S3_ENDPOINT"] == nil || values["EPOCH_S3_ACCESS_KEY"] == nil || values["EPOCH_S3_BUCKET"] == nil {
            let home = environment["HOME"] ?? NSHomeDirectory()
            let path = values["EPOCH_S3_ENV_FILE"] ?? "\(home)/.config/epoch/s3.env"
            for (key, value) in parseEnvFile(readFile(path) ?? "") where values[key] == nil && !value.isEmpty {
                values[key] = value
            }
        }
        guard var endpoint = values["EPOCH_S3_ENDPOINT"] else { return nil }
        var secure = true
        if endpoint.hasPrefix("http://") {
            secure = false
            endpoint.removeFirst(7)
        } else if endpoint.hasPrefix("https://") {
            endpoint.removeFirst(8)
        } else if let flag = values["EPOCH_S3_SECURE"] {
            guard let parsed = parseBool(flag) else {
                throw ConfigError("EPOCH_S3_SECURE=\(flag) is not a boolean (true, false, 1, 0, t, f)")
            }
            secure = parsed
        }
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        guard let bucket = values["EPOCH_S3_BUCKET"] else { throw ConfigError("EPOCH_S3_ENDPOINT is set but EPOCH_S3_BUCKET is not") }
        guard let access = values["EPOCH_S3_ACCESS_KEY"], let secret = values["EPOCH_S3_SECRET_KEY"] else {
            throw ConfigError("EPOCH_S3_ENDPOINT is set but EPOCH_S3_ACCESS_KEY or EPOCH_S3_SECRET_KEY is not")
        }
        var config = EpochS3Config(
            host: endpoint, secure: secure, credentials: S3Credentials(accessKey: access, secretKey: secret), bucket: bucket,
            region: values["EPOCH_S3_REGION"] ?? "us-east-1", prefix: prefix)
        config.addressing = try S3Addressing(setting: values["EPOCH_S3_ADDRESSING"] ?? "auto", host: endpoint, bucket: bucket)
        config.caCertificatePath = environment["EPOCH_CA_CERT"].flatMap { $0.isEmpty ? nil : $0 }
        return config
    }

    /// `KEY=VALUE` lines; blank lines and `#` comments are skipped; surrounding quotes removed.
    static func parseEnvFile(_ text: String) -> [(String, String)] {
        text.split(whereSeparator: \.isNewline).compactMap { raw in
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { return nil }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
                .replacingOccurrences(of: "export ", with: "")
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" {
                value = String(value.dropFirst().dropLast())
            }
            return (key, value)
        }
    }

    /// Go's `strconv.ParseBool`.
    static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": true
        case "0", "f", "F", "FALSE", "false", "False": false
        default: nil
        }
    }

    /// Never shows the secret.
    public var description: String {
        "s3://\(bucket)/\(prefix) at \(secure ? "https" : "http")://\(host) (region \(region), \(credentials))"
    }

    /// A configuration problem, one line.
    public struct ConfigError: Error, CustomStringConvertible {
        public let description: String
        init(_ text: String) { description = "epoch: \(text)" }
    }
}

/// Where the bucket goes in a request URL.
public enum S3Addressing: Sendable, Equatable {
    /// `http(s)://HOST/BUCKET/KEY`: what SeaweedFS, MinIO and most S3-compatible stores expect.
    case path
    /// `http(s)://BUCKET.HOST/KEY`: what AWS prefers (and requires for buckets made since 2020
    /// in some regions).
    case virtualHost

    /// `path`, `virtual`, or `auto`: virtual-host for `*.amazonaws.com` when the bucket name is
    /// a DNS label without dots (a dotted name would not match the wildcard certificate).
    init(setting: String, host: String, bucket: String) throws {
        switch setting.lowercased() {
        case "path": self = .path
        case "virtual", "virtual-host", "vhost": self = .virtualHost
        case "auto":
            let hostname = host.split(separator: ":").first.map(String.init) ?? host
            let dnsSafe = !bucket.contains(".") && bucket == bucket.lowercased()
            self = hostname.hasSuffix(".amazonaws.com") && dnsSafe ? .virtualHost : .path
        default:
            throw EpochS3Config.ConfigError("EPOCH_S3_ADDRESSING=\(setting) is not path, virtual or auto")
        }
    }
}
