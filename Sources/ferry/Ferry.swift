import ArgumentParser
import FerryCore
import Foundation
import OCI

/// The `ferry` command: moves OCI content between layouts, archives, buckets, cocoon roots and
/// registries.
@main
struct Ferry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "Copy OCI images, VM snapshots and cloud disks between every place they live.",
        discussion: "References: \(Reference.forms.joined(separator: "  ")).",
        version: "0.1.0",
        subcommands: [Copy.self, Sync.self, Inspect.self, List.self, Verify.self, GC.self])

    /// Runs the command line; usage errors exit 2, failures print `ferry: <what>: <why>` and exit 1.
    static func main() async {
        BlockingIO.returnLargeBuffersToTheSystem()
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            fail("\(error)")
        }
    }

    /// Prints one line on stderr and exits 1.
    static func fail(_ message: String) -> Never {
        let line = message.split(whereSeparator: \.isNewline).joined(separator: " ").printable
        FileHandle.standardError.write(Data("ferry: \(line)\n".utf8))
        Foundation.exit(1)
    }
}

/// Options that every command moving or reading content shares.
struct TransferOptions: ParsableArguments {
    @Option(name: .long, help: "Blobs in flight at once.")
    var jobs: Int = 4

    func validate() throws {
        guard jobs >= 1, jobs <= 64 else { throw ArgumentParser.ValidationError("--jobs must be between 1 and 64") }
    }
}

/// Options for the commands that may reach a server.
struct NetworkOptions: ParsableArguments {
    @Option(name: .customLong("tls-verify"), help: "Check TLS certificates (`--tls-verify=false` turns the check off). A custom CA comes from EPOCH_CA_CERT.")
    var tlsVerify = true

    /// The backends, set up with these options.
    var backends: Backends { Backends(tlsVerify: tlsVerify) }
}
