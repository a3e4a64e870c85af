import CFerrySystem
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

    /// Makes buffers of 256 KiB and more (chunks, S3 parts) go back to the system when freed.
    /// glibc raises its mmap threshold after the first such free and then keeps freed buffers
    /// in the heap: an S3 upload of 1 GiB peaked at 95 MiB that way, 71 MiB with the threshold
    /// fixed (measured with /usr/bin/time against SeaweedFS). Call once, at start.
    public static func returnLargeBuffersToTheSystem() {
        _ = ferry_set_mmap_threshold(256 << 10)
    }
}
