import ArgumentParser
import FerryCore
import Foundation
import HTTPSupport
import OCI

/// The `ferry` command: moves OCI content between layouts, archives, buckets, cocoon roots and
/// registries.
@main
struct Ferry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "Copy OCI images, VM snapshots and cloud disks between every place they live.",
        discussion: """
            A reference names one artifact, a location a whole place:

              \(Reference.forms.joined(separator: "\n  "))

            Examples:
              ferry copy oci:./layout:v1 oci-archive:app.tar.gz
              ferry copy cocoon:/var/lib/cocoon#web cocoon-archive:web.tar
              ferry sync oci:./layout epoch:/srv/bucket
              ferry help copy
            """,
        version: "0.1.0",
        subcommands: [Copy.self, Sync.self, Inspect.self, List.self, Verify.self, GC.self, Serve.self])

    /// Runs the command line: help and version exit 0, usage errors 2, failures 1, each failure
    /// one line `ferry: <what>: <why>` on stderr (and an `error` event on stdout with `--json`).
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        // Buffers of 256 KiB and more are mapped for each use and given back at once (a low peak
        // RSS for a copy). A server sends file chunks over and over: it reads them in pieces
        // under that size, which the heap reuses (16 clients on one 128 MiB layer: 1.1 GB/s at 88 MiB peak RSS with 1 MiB chunks, 2.0 GB/s at 97 MiB with 192 KiB; nginx 3.1 GB/s).
        BlockingIO.returnLargeBuffersToTheSystem()
        if arguments.first == "serve" { ByteStream.fileChunkSize = 192 << 10 }
        let invocation = Invocation(arguments: arguments, subcommands: configuration.subcommands.map { $0._commandName })
        if let script = Completion.script(for: arguments) {
            Output.raw(Array(script.utf8))
            Foundation.exit(0)
        }
        let command: ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            invocation.finish(error)
        }
        let box = CommandBox(command)
        // A server handles SIGTERM and SIGINT itself: it stops accepting and drains.
        if command is Serve {
            do { try await box.run() } catch { invocation.finish(error) }
            Foundation.exit(0)
        }
        let interrupts = Interrupts()
        do {
            try await interrupts.run { try await box.run() }
        } catch {
            if let signal = interrupts.received { invocation.interrupted(by: signal) }
            invocation.finish(error)
        }
    }

    /// Prints one line on stderr and exits 1.
    static func fail(_ message: String) -> Never {
        Invocation(arguments: Array(CommandLine.arguments.dropFirst()), subcommands: []).fail(message, code: .unknown, status: 1)
    }
}

/// What the command line asked for, so that a failure can be reported the way it was asked.
struct Invocation {
    /// Whether `--json` was given (before any `--`).
    let json: Bool
    /// The subcommand named, for the usage hint.
    let subcommand: String?

    init(arguments: [String], subcommands: [String]) {
        let options = arguments.prefix { $0 != "--" }
        json = options.contains("--json")
        subcommand = options.first { subcommands.contains($0) }
    }

    /// Ends the process for an error thrown while parsing or running: help and completion answers
    /// go to stdout with status 0; an argument-parser usage error is one line with status 2.
    func finish(_ error: Error) -> Never {
        if let exit = error as? ExitCode { Foundation.exit(exit.rawValue) }
        let code = Ferry.exitCode(for: error)
        if code == .success {
            let text = Ferry.fullMessage(for: error)
            Output.raw(Array((text.hasSuffix("\n") || text.isEmpty ? text : text + "\n").utf8))
            Foundation.exit(0)
        }
        if code == .validationFailure {
            var message = Ferry.message(for: error).split(whereSeparator: \.isNewline).first.map(String.init) ?? "bad usage"
            if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
            message += " (see 'ferry\(subcommand.map { " " + $0 } ?? "") --help')"
            fail(message, code: .usage, status: 2)
        }
        if let storage = error as? StorageError { fail(storage.message, code: storage.code.rawValue, status: 1) }
        fail("\(error)", code: .unknown, status: 1)
    }

    /// Ends the process after SIGINT or SIGTERM stopped the command (and what it had begun was
    /// undone): one line, status 128 + the signal (130, 143).
    func interrupted(by signal: Int32) -> Never {
        fail("interrupted", code: .interrupted, status: 128 + signal)
    }

    /// The error codes of `--json` error events that are not OCI codes.
    enum LocalCode: String {
        case usage = "USAGE"
        case interrupted = "INTERRUPTED"
        case unknown = "UNKNOWN"
    }

    func fail(_ message: String, code: LocalCode, status: Int32) -> Never {
        fail(message, code: code.rawValue, status: status)
    }

    /// One line on stderr, an `error` event on stdout with `--json`, and the exit status.
    func fail(_ message: String, code: String, status: Int32) -> Never {
        let line = message.split(whereSeparator: \.isNewline).joined(separator: " ").printable
        if json { Output.event("error", ["code": code, "message": line, "status": Int(status)]) }
        Output.error("ferry: \(line)\n")
        Foundation.exit(status)
    }
}

/// A command-line mistake found while checking the arguments: status 2, like argument-parser's own.
typealias UsageError = ArgumentParser.ValidationError

/// Options that every command moving or reading content shares.
struct TransferOptions: ParsableArguments {
    @Option(name: .long, help: "Blobs in flight at once (1 to 64).")
    var jobs: Int = 4

    func validate() throws {
        guard jobs >= 1, jobs <= 64 else { throw UsageError("--jobs \(jobs): give a number from 1 to 64") }
    }
}

/// Options for the commands that may reach a server.
struct NetworkOptions: ParsableArguments {
    @Option(name: .customLong("tls-verify"), help: "Check TLS certificates (`--tls-verify=false` turns the check off and lets a registry speak plain HTTP). A custom CA comes from EPOCH_CA_CERT or /etc/containers/certs.d/HOST/.")
    var tlsVerify = true
    @Option(name: .long, help: "USER[:PASS] for a registry (both sides of a copy).")
    var creds: String?
    @Option(name: .customLong("src-creds"), help: "USER[:PASS] for the source registry.")
    var sourceCreds: String?
    @Option(name: .customLong("dest-creds"), help: "USER[:PASS] for the destination registry.")
    var destinationCreds: String?
    @Option(name: .customLong("registry-token"), help: "A bearer token sent as it is (default: EPOCH_REGISTRY_TOKEN).")
    var registryToken: String?
    @Option(name: .customLong("retry-times"), help: "Retries of a registry request that failed on the way (a dropped connection, 5xx, 429).")
    var retryTimes: Int = 3
    @Option(name: .customLong("max-chunk"), help: "The largest request body a push sends (e.g. 64M, for a proxy that caps bodies; default: one request per blob).")
    var maxChunk: String?
    @Option(name: .long, help: "How long an S3 endpoint or a registry may stay silent (not connecting, not answering, not taking data) before the request fails, e.g. 30s, 2m; a request's retries stop after twice that.")
    var timeout: String = "60s"

    func validate() throws {
        guard (0...20).contains(retryTimes) else { throw UsageError("--retry-times \(retryTimes): give a number from 0 to 20") }
        guard let seconds = Arguments.duration(timeout), seconds >= 0.1, seconds <= 86400 else {
            throw UsageError("--timeout \(timeout): write a duration from 100ms to 1d, such as 30s or 2m")
        }
        if let maxChunk {
            guard let bytes = SnapshotOptions.parseSize(maxChunk), bytes >= 1 << 20 else {
                throw UsageError("--max-chunk \(maxChunk): not a size of at least 1M (e.g. 64M, 1G)")
            }
        }
    }

    /// The backends, set up with these options (the network's idle timeout is process-wide:
    /// it is set here, before any request).
    var backends: Backends {
        if let seconds = Arguments.duration(timeout) { NetworkDeadlines.setIdleTimeout(.milliseconds(Int64(seconds * 1000))) }
        var backends = Backends(tlsVerify: tlsVerify)
        backends.registry = RegistryOptions(
            sourceCreds: sourceCreds ?? creds, destinationCreds: destinationCreds ?? creds, registryToken: registryToken,
            retryTimes: retryTimes, maxChunk: maxChunk.flatMap(SnapshotOptions.parseSize))
        return backends
    }
}
