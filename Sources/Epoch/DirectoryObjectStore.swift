import FerryCore
import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Objects as files under a root directory: the key is the relative path, so `aws s3 sync`
/// between the directory and a bucket gives the same tree. Every put goes through a locked
/// temporary file beside its final place (fsync, then rename); `update` holds a lock on the root.
public struct DirectoryObjectStore: ObjectStore {
    public let root: FilePath
    public let displayName: String

    public init(root: String) {
        self.root = FilePath(root)
        displayName = "epoch:\(root)"
    }

    /// The path of a key, refusing keys that would leave the root.
    func path(_ key: String) throws -> FilePath {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !key.isEmpty, !key.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw StorageError(.nameInvalid, "\(displayName): '\(key)' is not a valid object key")
        }
        return root.appending(key)
    }

    public func put(_ key: String, from stream: ByteStream, size: Int64) async throws {
        let final = try path(key)
        let root = self.root
        let displayName = self.displayName
        let temp = try await BlockingIO.run { () -> TempFile in
            guard FileSystem.isDirectory(root) || (try? FileSystem.makeDirectory(root)) != nil else {
                throw StorageError(.nameUnknown, "\(displayName): cannot create the bucket directory")
            }
            try FileManager.default.createDirectory(atPath: final.removingLastComponent().string, withIntermediateDirectories: true)
            return try TempFile(beside: final, lockRoot: root)
        }
        do {
            var count: Int64 = 0
            for try await chunk in stream {
                count += Int64(chunk.count)
                guard count <= size else { throw StorageError(.sizeInvalid, "\(displayName): \(key): more than \(size) bytes") }
                try await BlockingIO.run { try temp.write(chunk) }
            }
            guard count == size else { throw StorageError(.sizeInvalid, "\(displayName): \(key): \(count) bytes, not \(size)") }
            try await BlockingIO.run {
                try temp.commit(to: final)
                try FileSystem.syncDirectory(final.removingLastComponent())
            }
        } catch {
            temp.discard()
            throw error
        }
    }

    public func get(_ key: String, range: Range<Int64>?) async throws -> ByteStream {
        let file = try path(key)
        guard let size = FileSystem.regularFileSize(file) else {
            throw StorageError(.blobUnknown, "\(displayName): no object \(key)")
        }
        guard let range else { return try ByteStream.file(at: file) }
        guard range.lowerBound >= 0, range.upperBound <= size else {
            throw StorageError(.blobUnknown, "\(displayName): \(key): range \(range) is outside its \(size) bytes")
        }
        return try ByteStream.file(at: file, offset: range.lowerBound, length: Int64(range.count))
    }

    public func head(_ key: String) async throws -> ObjectInfo? {
        let file = try path(key)
        return FileSystem.regularFileSize(file).map { ObjectInfo(key: key, size: $0, modified: FileSystem.modificationDate(file) ?? Date()) }
    }

    public func touch(_ key: String) async throws {
        FileSystem.touch(try path(key))
    }

    public func list(prefix: String) async throws -> [ObjectInfo] {
        let root = self.root
        return try await BlockingIO.run {
            // Start from the deepest directory the prefix names, then filter by the whole prefix.
            let directoryPart = prefix.contains("/") ? String(prefix[..<prefix.lastIndex(of: "/")!]) : ""
            let start = directoryPart.isEmpty ? root : root.appending(directoryPart)
            guard FileSystem.isDirectory(start), let walker = FileManager.default.enumerator(atPath: start.string) else { return [] }
            var found: [ObjectInfo] = []
            while let relative = walker.nextObject() as? String {
                let key = directoryPart.isEmpty ? relative : "\(directoryPart)/\(relative)"
                guard key.hasPrefix(prefix), !key.split(separator: "/").contains(where: { TempFile.isTemporaryName(String($0)) }),
                    let size = FileSystem.regularFileSize(root.appending(key))
                else { continue }
                found.append(ObjectInfo(key: key, size: size, modified: FileSystem.modificationDate(root.appending(key)) ?? Date()))
            }
            return found.sorted { $0.key < $1.key }
        }
    }

    public func delete(_ key: String) async throws {
        let file = try path(key)
        guard unlink(file.string) == 0 || errno == ENOENT else {
            throw StorageError(.unknown, "\(displayName): cannot delete \(key): \(Errno(rawValue: errno))")
        }
    }

    public func update(_ key: String, _ transform: @escaping @Sendable ([UInt8]?) throws -> [UInt8]?) async throws {
        let file = try path(key)
        let root = self.root
        try await BlockingIO.run {
            if !FileSystem.isDirectory(root) { try FileSystem.makeDirectory(root) }
            try FileManager.default.createDirectory(atPath: file.removingLastComponent().string, withIntermediateDirectories: true)
            // The lock is on the bucket directory itself, so no lock object appears in the bucket.
            try FileSystem.withLock(on: root) {
                let current = FileSystem.regularFileSize(file) == nil ? nil : try FileSystem.readFile(file, limit: 256 << 20)
                guard let next = try transform(current) else { return }
                try FileSystem.writeAtomically(next, to: file)
            }
        }
    }
}
