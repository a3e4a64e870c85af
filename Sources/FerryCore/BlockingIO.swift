import Dispatch

/// Runs blocking system calls (reads, writes, fsync, locks) on Dispatch's threads so they never
/// stall the few threads of the cooperative pool that the copy's tasks share.
public enum BlockingIO {
    /// Runs `body` on a thread that may block and returns its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
