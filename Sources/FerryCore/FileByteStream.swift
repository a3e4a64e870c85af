import OCI
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

extension ByteStream {
    /// A stream of a file's bytes from `offset`, `length` bytes long (to the end when nil). It
    /// reads with `pread` in chunks of `ByteStream.chunkSize` and closes the file at the end.
    public static func file(at path: FilePath, offset: Int64 = 0, length: Int64? = nil) throws -> ByteStream {
        let fd = try FileDescriptor.open(path, .readOnly, options: [.closeOnExec])
        let total: Int64
        if let length {
            total = length
        } else {
            var info = stat()
            guard fstat(fd.rawValue, &info) == 0 else {
                try? fd.close()
                throw StorageError(.unknown, "\(path): \(Errno(rawValue: errno))")
            }
            total = Int64(info.st_size) - offset
        }
        let reader = FileChunkReader(fd: fd, offset: offset, remaining: total, path: path)
        return ByteStream { try await reader.next() }
    }
}

/// Reads one file region chunk by chunk; a stream is consumed by one task at a time.
private final class FileChunkReader: @unchecked Sendable {
    private var fd: FileDescriptor?
    private var offset: Int64
    private var remaining: Int64
    private let path: FilePath

    init(fd: FileDescriptor, offset: Int64, remaining: Int64, path: FilePath) {
        self.fd = fd
        self.offset = offset
        self.remaining = remaining
        self.path = path
    }

    func next() async throws -> [UInt8]? {
        try Task.checkCancellation()
        guard let fd, remaining > 0 else {
            close()
            return nil
        }
        let want = Int(min(Int64(ByteStream.chunkSize), remaining))
        let at = offset
        let path = path
        let chunk = try await BlockingIO.run { try FileChunkReader.read(fd, count: want, at: at, path: path) }
        if chunk.isEmpty {
            // The file is shorter than expected; the verifier downstream reports the size.
            remaining = 0
            close()
            return nil
        }
        offset += Int64(chunk.count)
        remaining -= Int64(chunk.count)
        return chunk
    }

    private static func read(_ fd: FileDescriptor, count: Int, at offset: Int64, path: FilePath) throws -> [UInt8] {
        var filled = 0
        let buffer = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            while filled < count {
                let n = try fd.read(
                    fromAbsoluteOffset: offset + Int64(filled),
                    into: UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[filled...]),
                    retryOnInterrupt: true)
                if n == 0 { break }
                filled += n
            }
            initialized = filled
        }
        return buffer
    }

    private func close() {
        try? fd?.close()
        fd = nil
    }

    deinit { close() }
}
