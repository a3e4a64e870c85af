import ArgumentParser
import Cocoon
import Distribution
import FerryCore
import Foundation
import Layout
import Logging
import NIOCore
import Synchronization
import OCI
import SystemPackage

extension Ferry {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Serve locations as an OCI registry (distribution spec 1.1).",
            discussion: """
                Every client of a registry (docker, skopeo, oras, containerd, ferry itself) can then pull \
                from the location, and push into it where the location takes writes: oci:DIR, epoch:… \
                and cocoon:ROOT do; oci-archive: and cocoon-archive: are read-only. A layout's bare tags \
                are the repository --repository (default: the directory's name). Uploads are spooled \
                beside the location (in an S3 bucket: as multipart uploads, in parts as they arrive) \
                and stored only verified. SIGTERM or SIGINT stops accepting, lets \
                requests in flight finish for --grace, then exits 0. One access-log line per request \
                goes to stderr; GET /metrics gives Prometheus figures.

                Several locations are served as one registry: reads come from the first that has the \
                content, writes go to the first. docker://HOST makes ferry a proxy, and --cache a \
                pull-through cache that keeps what it serves for the next client and for offline use.

                Examples:
                  ferry serve oci:./layout --addr 127.0.0.1:5000
                  skopeo copy --src-tls-verify=false docker://127.0.0.1:5000/layout:v1 oci:copy:v1
                  ferry serve --cache oci:/srv/cache docker://registry.example.com
                  ferry serve epoch:/srv/bucket --auth epoch --tls-cert c.pem --tls-key k.pem
                """)

        @Argument(help: "Locations: oci:DIR, oci-archive:FILE, epoch:DIR, epoch:s3://BUCKET, cocoon:ROOT, cocoon-archive:FILE, docker://HOST.",
                  completion: Completion.reference) var locations: [String]
        @Option(name: .long, help: "HOST:PORT to listen on (port 0: any free port, printed at start).") var addr = "127.0.0.1:5000"
        @Option(name: .long, help: "The repository name of a layout's bare tags (default: the directory's or archive's name).") var repository: String?
        @Flag(name: .customLong("per-repository"), help: "An oci:DIR holds one layout per repository (DIR/NAME/index.json).") var perRepository = false
        @Option(name: .long, help: "Keep what is served from the locations in this location too (oci:DIR or epoch:…), and serve from it when they cannot be reached.") var cache: String?
        @Option(name: .long, help: "Serve only the repositories named PREFIX or PREFIX/….") var only: String?
        @Flag(name: .customLong("read-only"), help: "Refuse every write (UNSUPPORTED).") var readOnly = false
        @Option(name: .customLong("upload-expiry"), help: "Remove an upload session untouched for this long: 90s, 30m, 1h (default 1h).") var uploadExpiry = "1h"
        @Option(name: .long, help: "After SIGTERM or SIGINT, how long requests in flight may go on (default 10s).") var grace = "10s"
        @Flag(name: .long, help: "Write access-log lines as JSON objects.") var json = false
        @Option(name: .long, help: "Require Basic auth of a user in this htpasswd file (bcrypt entries: `htpasswd -B`).") var htpasswd: String?
        @Option(name: .long, help: "epoch: Epoch's rule, reads anonymous, writes need the bearer token EPOCH_REGISTRY_TOKEN (or --registry-token); GET /v2/token hands it out as Epoch does.") var auth: String?
        @Option(name: .customLong("tls-cert"), help: "Serve HTTPS with this certificate chain (PEM); needs --tls-key.") var tlsCert: String?
        @Option(name: .customLong("tls-key"), help: "The private key (PEM) of --tls-cert.") var tlsKey: String?

        @OptionGroup var network: NetworkOptions

        func validate() throws {
            guard !locations.isEmpty else { throw UsageError("give a location to serve") }
            for location in locations { _ = try Arguments.location(location) }
            if let cache {
                switch try Arguments.location(cache) {
                case .layout, .epoch: break
                default: throw UsageError("--cache \(cache): a cache is an oci:DIR or an epoch: bucket")
                }
            }
            if let only, !Names.isValidRepository(only.hasSuffix("/") ? String(only.dropLast()) : only) {
                throw UsageError("--only \(only): not a repository name prefix")
            }
            guard parsedAddress != nil else { throw UsageError("--addr \(addr): write HOST:PORT, such as 127.0.0.1:5000") }
            if let repository, !Names.isValidRepository(repository) {
                throw UsageError("--repository \(repository): not a valid repository name (lowercase, digits, . _ - and /)")
            }
            if let auth, auth != "epoch" { throw UsageError("--auth \(auth): the one scheme is `epoch`") }
            if auth != nil, htpasswd != nil { throw UsageError("--auth epoch and --htpasswd: choose one") }
            if auth != nil, token == nil { throw UsageError("--auth epoch needs the token: set EPOCH_REGISTRY_TOKEN or give --registry-token") }
            if (tlsCert == nil) != (tlsKey == nil) { throw UsageError("--tls-cert and --tls-key go together") }
            for (name, value) in [("--upload-expiry", uploadExpiry), ("--grace", grace)] {
                guard Arguments.duration(value) != nil else { throw UsageError("\(name) \(value): write a duration such as 90s, 30m or 1h") }
            }
        }

        func run() async throws {
            let locations = try self.locations.map(Arguments.location)
            let first = locations[0]
            let cacheLocation = try cache.map(Arguments.location)
            // Spools go beside what takes the writes: the first location, or the cache of a proxy.
            let spoolPlace = if case .registry = first, let cacheLocation { cacheLocation } else { first }
            var options = RegistryServer.Options(spoolDirectory: spool(for: spoolPlace))
            var scratch: [ScratchLayout] = []
            defer { scratch.forEach { $0.remove() } }
            var members: [any Storage] = []
            for (index, location) in locations.enumerated() {
                var store = try open(location)
                // A cocoon root takes a snapshot whole: pushes wait in a scratch layout beside it
                // until their manifest comes; the scratch goes when the server stops.
                if index == 0, case .cocoon = location, !readOnly {
                    let made = try ScratchLayout(in: options.spoolDirectory)
                    scratch.append(made)
                    store = StagedStore(store, staging: made.store)
                }
                members.append(store)
            }
            var store: any Storage = members.count == 1 ? members[0] : UnionStore(members)
            var caching: CachingStore?
            if let cacheLocation {
                let kept = CachingStore(upstream: store, cache: try open(cacheLocation)) { line in Output.error("ferry: --cache: \(line.printable)\n") }
                caching = kept
                store = kept
            }
            if let only { store = RepositoryFilter(store, prefix: only) }

            (options.host, options.port) = parsedAddress!
            options.readOnly = readOnly || first.isReadOnly
            if !perRepository { options.unnamedRepository = repository ?? defaultRepository(first) }
            options.uploadExpiry = .seconds(Arguments.duration(uploadExpiry) ?? 3600)
            options.shutdownGrace = .seconds(Arguments.duration(grace) ?? 10)
            options.jsonLog = json
            options.downloads = SnapshotDownloads(options: network.backends.snapshot)
            if case .epoch = first { options.epochExtensions = true }
            if let htpasswd { options.access = ServerAccess(.htpasswd(try ServerAccess.htpasswd(at: htpasswd))) }
            if auth != nil, let token { options.access = ServerAccess(.epoch(token: token)) }
            if let tlsCert, let tlsKey { options.tls = (tlsCert, tlsKey) }
            let server = try RegistryServer(store: store, options: options) { line in Output.error(line + "\n") }
            Self.stopAfterGrace(options.shutdownGrace)
            var logger = Logger(label: "ferry-serve")
            logger.logLevel = .critical
            let shown = (self.locations + (cache.map { ["cache " + $0] } ?? [])).joined(separator: " + ").printable
            let mode = options.readOnly ? "read-only" : "read-write"
            let scheme = options.tls == nil ? "http" : "https"
            let guarded = htpasswd != nil ? ", Basic auth" : auth != nil ? ", Epoch's token for writes" : ""
            let listening = Mutex(false)
            do {
                try await server.run(logger: logger) { address in
                    listening.withLock { $0 = true }
                    Output.error("ferry: serving \(shown) (\(mode)\(guarded)) on \(scheme)://\(address)\n")
                }
            } catch let error as IOError where !listening.withLock({ $0 }) {
                throw StorageError(.unknown, "--addr \(addr): cannot listen: \(String(cString: strerror(error.errnoCode)))")
            }
            await caching?.settle()
        }

        /// One location as a backend. Pushes into a layout keep their repository (`NAME:TAG`,
        /// bare only for its own tags); `--per-repository` makes a directory of layouts.
        private func open(_ location: Location) throws -> any Storage {
            var backends = network.backends
            backends.perRepository = perRepository
            return try backends.open(location, refNameStyle: .named, role: .destination)
        }

        /// After SIGTERM or SIGINT the server drains for the grace period and stops; a request
        /// stuck in a system call does not stop with it, so the process ends a little later
        /// whatever is left (every write is atomic: the location stays valid).
        private static func stopAfterGrace(_ grace: Duration) {
            for number in [SIGINT, SIGTERM] {
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(grace.components.seconds * 1000) + 3000)) {
                        Output.error("ferry: requests still running after the grace period were cut off\n")
                        _exit(0)
                    }
                }
                source.resume()
                watchdogs.append(source)
            }
        }

        /// Set once, before the server starts.
        nonisolated(unsafe) private static var watchdogs: [any DispatchSourceSignal] = []

        private var token: String? {
            (network.registryToken ?? ProcessInfo.processInfo.environment["EPOCH_REGISTRY_TOKEN"]).flatMap { $0.isEmpty ? nil : $0 }
        }

        private var parsedAddress: (host: String, port: Int)? {
            guard let colon = addr.lastIndex(of: ":"), let port = Int(addr[addr.index(after: colon)...]), (0...65535).contains(port) else { return nil }
            var host = String(addr[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            return host.isEmpty ? nil : (host, port)
        }

        /// Upload spools go on the location's own filesystem where it has one, so that storing a
        /// finished upload is a copy within one disk; elsewhere in TMPDIR (an S3 bucket keeps
        /// only the bytes short of a part there between requests; the parts go to the bucket).
        private func spool(for location: Location) -> FilePath {
            let temporary = FilePath(ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp")
            switch location {
            case .layout(let path): return FilePath(path)
            case .epoch(.directory(let path)): return FilePath(path)
            case .cocoon(let root): return root.map { FilePath($0) } ?? CocoonRoot.defaultPath()
            default: return temporary
            }
        }

        /// A layout's bare tags appear under the directory's (or the archive's) name; other places
        /// name all their repositories.
        private func defaultRepository(_ location: Location) -> String? {
            var base: String
            switch location {
            case .layout(let path): base = FilePath(path).lexicallyNormalized().lastComponent?.string ?? ""
            case .layoutArchive(let path):
                base = FilePath(path).lastComponent?.string ?? ""
                for ending in [".tar.gz", ".tgz", ".tar.zst", ".tar"] where base.hasSuffix(ending) { base.removeLast(ending.count); break }
            default: return nil
            }
            base = base.lowercased()
            let cleaned = String(base.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-" ? $0 : "-" })
            return Names.isValidRepository(cleaned) ? cleaned : "layout"
        }
    }
}

/// A scratch layout in a temporary workspace (swept if the server is killed).
struct ScratchLayout {
    let workspace: TemporaryWorkspace
    let store: LayoutStore

    init(in place: FilePath) throws {
        workspace = try TemporaryWorkspace(in: try ContainedDirectory(opening: place, create: true), label: "staging")
        store = LayoutStore(directory: workspace.inside.path.string)
    }

    func remove() { workspace.remove() }
}

extension Location {
    /// Places that are one file written whole: served read-only.
    var isReadOnly: Bool {
        switch self {
        case .layoutArchive, .cocoonArchive: true
        default: false
        }
    }
}
