import ArgumentParser
import Dispatch
import Foundation

/// SIGINT and SIGTERM while a command runs: the command's task is cancelled, so a copy stops at
/// its next chunk and undoes what a failure undoes (`abort()`); ferry then says
/// `ferry: interrupted` and exits 130 (143 for SIGTERM). A second signal ends it at once.
final class Interrupts: @unchecked Sendable {
    private let lock = NSLock()
    private var sources: [DispatchSourceSignal] = []
    private var signal: Int32?

    /// The signal that interrupted the command, if one did.
    var received: Int32? { lock.withLock { signal } }

    /// Runs `body` in a task that the signals cancel.
    func run(_ body: @escaping @Sendable () async throws -> Void) async throws {
        let task = Task { try await body() }
        for number in [SIGINT, SIGTERM] {
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                let first = lock.withLock { () -> Bool in
                    guard signal == nil else { return false }
                    signal = number
                    return true
                }
                if first {
                    task.cancel()
                } else {
                    _exit(128 + number)
                }
            }
            source.resume()
            lock.withLock { sources.append(source) }
        }
        try await task.value
    }
}

/// A parsed command handed to the task that runs it (the task is its only user).
final class CommandBox: @unchecked Sendable {
    var command: ParsableCommand

    init(_ command: ParsableCommand) { self.command = command }

    func run() async throws {
        if var asyncCommand = command as? AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
    }
}
