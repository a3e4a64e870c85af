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

    /// Makes buffers of 2 MiB and more (S3 parts) go back to the system when freed, while the
    /// 1 MiB chunks every copy moves are reused from the heap. glibc raises its mmap threshold
    /// after the first large free and then keeps every freed buffer in the heap: an S3 upload
    /// of 1 GiB peaked at 95 MiB that way, 65–70 MiB with the threshold fixed. Fixed at 256 KiB,
    /// each 1 MiB chunk was a fresh mapping, faulted in and zeroed page by page: `ferry copy
    /// oci: oci:` of the 1 GiB bench layout took 1.3–2.0 s (2.1 s of it in the kernel) against
    /// 0.8–1.3 s at 2 MiB, peak RSS 39 vs 43 MiB (release build, alternating runs). Call once,
    /// at start.
    public static func returnLargeBuffersToTheSystem() {
        _ = ferry_set_mmap_threshold(2 << 20)
    }
}
