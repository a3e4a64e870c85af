import CFerrySystem
import FerryCore
import Foundation
import OCI
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The small blobs of a compressed archive, kept from the scan so that manifests and configs
/// need no second pass: in memory up to `memoryBudget` bytes in all, the rest in a file with no
/// name in the temporary directory, which vanishes with the process. Memory stays bounded by
/// configuration, whatever the archive holds (1,500 small blobs of 1 MiB each compress to a
/// 1.7 MB `.tar.gz`).
final class SmallBlobCache: Sendable {
    /// The most bytes kept in memory.
    static let memoryBudget = 32 << 20

    private struct State {
        var inMemory: [Digest: [UInt8]] = [:]
        var memoryBytes = 0
        var spilled: [Digest: (offset: Int64, size: Int)] = [:]
        var spillDescriptor: Int32 = -1
        var spillEnd: Int64 = 0
    }

    private let state = Mutex(State())
    private let displayName: String

    init(displayName: String) { self.displayName = displayName }

    deinit {
        let descriptor = state.withLock { $0.spillDescriptor }
        if descriptor >= 0 { close(descriptor) }
    }

    /// Keeps a blob's bytes.
    func store(_ digest: Digest, _ bytes: [UInt8]) throws {
        try state.withLock { state in
            guard state.inMemory[digest] == nil, state.spilled[digest] == nil else { return }
            if state.memoryBytes + bytes.count <= Self.memoryBudget {
                state.inMemory[digest] = bytes
                state.memoryBytes += bytes.count
                return
            }
            if state.spillDescriptor < 0 {
                let directory = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
                let descriptor = ferry_open_anonymous(directory)
                guard descriptor >= 0 else {
                    throw StorageError(.unknown, "\(displayName): cannot make a temporary file in \(directory) for the archive's small blobs: \(Errno(rawValue: errno))")
                }
                state.spillDescriptor = descriptor
            }
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeBytes { raw in
                    pwrite(state.spillDescriptor, raw.baseAddress! + written, bytes.count - written, off_t(state.spillEnd) + off_t(written))
                }
                guard n > 0 else {
                    if n < 0, errno == EINTR { continue }
                    throw StorageError(.unknown, "\(displayName): cannot keep a small blob in the temporary file: \(Errno(rawValue: errno))")
                }
                written += n
            }
            state.spilled[digest] = (state.spillEnd, bytes.count)
            state.spillEnd += Int64(bytes.count)
        }
    }

    /// A kept blob's bytes, or nil.
    subscript(digest: Digest) -> [UInt8]? {
        state.withLock { state -> [UInt8]? in
            if let bytes = state.inMemory[digest] { return bytes }
            guard let place = state.spilled[digest] else { return nil }
            let descriptor = state.spillDescriptor
            var bytes = [UInt8](repeating: 0, count: place.size)
            var read = 0
            while read < place.size {
                let n = bytes.withUnsafeMutableBytes { raw in
                    pread(descriptor, raw.baseAddress! + read, place.size - read, off_t(place.offset) + off_t(read))
                }
                guard n > 0 else {
                    if n < 0, errno == EINTR { continue }
                    return nil
                }
                read += n
            }
            return bytes
        }
    }
}
