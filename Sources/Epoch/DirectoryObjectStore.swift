import FerryCore
import Foundation
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Objects as files under a root directory: the key is the relative path, so `aws s3 sync`
/// between the directory and a bucket gives the same tree. Every path is resolved through the
/// bucket's `ContainedDirectory`, so a symlink planted in the bucket is never followed. Every
/// put goes through a locked temporary file beside its final place (fsync, then rename);
/// `update` and `exclusive` hold a lock on the root.
public final class DirectoryObjectStore: ObjectStore {
    public let root: FilePath
    public let displayName: String
    private let opened = DirectorySlot()

    /// Whether the running task already holds the bucket's lock (through `exclusive`), so that
    /// `update` inside it does not wait for itself.
    @TaskLocal static var holdsLock = false

    public init(root: String) {
        self.root = FilePath(root)
        displayName = "epoch:\(root)"
    }

    public var supportsLocking: Bool { true }

    /// The bucket directory, opened once; with `create`, made when it is missing.
    func directory(create: Bool = false) throws -> ContainedDirectory {
        try opened.get {
            if !FileSystem.exists(root) {
                guard create else { throw StorageError(.nameUnknown, "\(displayName): no such bucket directory") }
                let parent = root.removingLastComponent()
                guard parent.isEmpty || FileSystem.isDirectory(parent) else {
                    throw StorageError(.nameUnknown, "\(displayName): cannot create the bucket directory: \(parent) does not exist")
                }
            }
            guard !FileSystem.exists(root) || FileSystem.isDirectory(root) else {
                throw StorageError(.nameInvalid, "\(displayName): exists and is not a directory")
            }
            do {
                return try ContainedDirectory(opening: root, create: create)
            } catch let error as StorageError {
                throw StorageError(error.code, "\(displayName): cannot open the bucket directory: \(error.message)")
            }
        }
    }

    /// The key checked as a path inside the bucket.
    func checked(_ key: String) throws -> String {
        do {
            _ = try ContainedDirectory.components(of: key)
        } catch {
            throw StorageError(.nameInvalid, "\(displayName): '\(key)' is not a valid object key")
        }
        return key
    }

    public func put(_ key: String, from stream: ByteStream, size: Int64) async throws {
        try await naming(displayName) { try await putNow(key, from: stream, size: size) }
    }

    private func putNow(_ key: String, from stream: ByteStream, size: Int64) async throws {
        let key = try checked(key)
        let (directory, folder, name) = try await BlockingIO.run { () -> (ContainedDirectory, ContainedDirectory, String) in
            let directory = try self.directory(create: true)
            let (folder, name) = try directory.parent(of: key, create: true)
            try folder.checkReplaceable(name)
            return (directory, folder, name)
        }
        // Inside `exclusive` this task holds the root's lock already (a sweep cannot run).
        let lockRoot = Self.holdsLock ? nil : directory
        let temp = try await BlockingIO.run { try TempFile(in: folder, lockRoot: lockRoot) }
        do {
            var count: Int64 = 0
            for try await chunk in stream {
                count += Int64(chunk.count)
                guard count <= size else { throw StorageError(.sizeInvalid, "\(displayName): \(key): more than \(size) bytes") }
                try await BlockingIO.run { try temp.write(chunk) }
            }
            guard count == size else { throw StorageError(.sizeInvalid, "\(displayName): \(key): \(count) bytes, not \(size)") }
            try await BlockingIO.run {
                try temp.commit(to: name)
                try folder.sync()
            }
        } catch {
            temp.discard()
            throw error
        }
    }

    public func get(_ key: String, range: Range<Int64>?) async throws -> ByteStream {
        try naming(displayName) { try getNow(key, range: range) }
    }

    private func getNow(_ key: String, range: Range<Int64>?) throws -> ByteStream {
        let key = try checked(key)
        let directory = try directory()
        guard directory.regularFileSize(key) != nil else {
            throw StorageError(.blobUnknown, "\(displayName): no object \(key)")
        }
        let (fd, size) = try directory.openForReading(key)
        guard let range else { return try ByteStream.file(fd, path: directory.path(of: key)) }
        guard range.lowerBound >= 0, range.upperBound <= size else {
            try? fd.close()
            throw StorageError(.blobUnknown, "\(displayName): \(key): range \(range) is outside its \(size) bytes")
        }
        return try ByteStream.file(fd, path: directory.path(of: key), offset: range.lowerBound, length: Int64(range.count))
    }

    public func head(_ key: String) async throws -> ObjectInfo? {
        let key = try checked(key)
        guard FileSystem.exists(root) else { return nil }
        guard let status = try directory().status(key), status.isRegularFile else { return nil }
        return ObjectInfo(key: key, size: status.size, modified: status.modified)
    }

    public func touch(_ key: String) async throws {
        try directory().touch(try checked(key))
    }

    public func requireBucket() async throws {
        guard FileSystem.isDirectory(root) else { throw StorageError(.nameUnknown, "\(displayName): no such bucket directory") }
    }

    public func list(prefix: String) async throws -> [ObjectInfo] {
        try await requireBucket()
        let directory = try directory()
        return try await BlockingIO.run {
            // Start from the deepest directory the prefix names, then filter by the whole prefix.
            let directoryPart = prefix.contains("/") ? String(prefix[..<prefix.lastIndex(of: "/")!]) : ""
            let start: ContainedDirectory
            if directoryPart.isEmpty {
                start = directory
            } else {
                guard (try? ContainedDirectory.components(of: directoryPart)) != nil, directory.status(directoryPart)?.isDirectory == true,
                    let opened = try? directory.subdirectory(directoryPart)
                else { return [] }
                start = opened
            }
            var found: [ObjectInfo] = []
            // A walk by descriptors: a symlink met on the way is neither followed nor listed.
            var pending: [(ContainedDirectory, String)] = [(start, directoryPart)]
            while let (folder, base) = pending.popLast() {
                for name in try folder.entries() where !TempFile.isTemporaryName(name) {
                    let key = base.isEmpty ? name : "\(base)/\(name)"
                    guard key.hasPrefix(prefix) || prefix.hasPrefix(key + "/"), let status = folder.status(name) else { continue }
                    if status.isDirectory {
                        pending.append((try folder.subdirectory(name), key))
                    } else if status.isRegularFile, key.hasPrefix(prefix) {
                        found.append(ObjectInfo(key: key, size: status.size, modified: status.modified))
                    }
                }
            }
            return found.sorted { $0.key < $1.key }
        }
    }

    public func delete(_ key: String) async throws {
        let key = try checked(key)
        guard FileSystem.exists(root) else { return }
        do {
            try directory().removeFile(key)
        } catch let error as StorageError where error.code == .nameUnknown {
            return
        } catch let error as StorageError {
            throw StorageError(error.code, "\(displayName): cannot delete \(key): \(error.message)")
        }
    }

    public func update(_ key: String, _ transform: @escaping @Sendable ([UInt8]?) throws -> [UInt8]?) async throws {
        let key = try checked(key)
        let locked = Self.holdsLock
        let displayName = self.displayName
        try await BlockingIO.run { try naming(displayName) {
            let directory = try self.directory(create: true)
            let (folder, name) = try directory.parent(of: key, create: true)
            func change() throws {
                let current = folder.exists(name) ? try folder.readFile(name, limit: 256 << 20) : nil
                guard let next = try transform(current) else { return }
                try folder.writeAtomically(next, to: name)
            }
            // The lock is on the bucket directory itself, so no lock object appears in the bucket.
            if locked { try change() } else { try directory.withLock(change) }
        } }
    }

    public func exclusive<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let directory = try await BlockingIO.run { try self.directory(create: true) }
        return try await directory.holdingLock {
            try await Self.$holdsLock.withValue(true) { try await body() }
        }
    }

    /// Removes the temporary files of killed writers anywhere in the bucket.
    public func sweepTemporaryFiles() async throws -> Int {
        guard FileSystem.exists(root) else { return 0 }
        let directory = try directory()
        return try await BlockingIO.run {
            var folders: [ContainedDirectory] = [directory]
            var index = 0
            while index < folders.count {
                let folder = folders[index]
                index += 1
                for name in try folder.entries() where folder.status(name)?.isDirectory == true {
                    folders.append(try folder.subdirectory(name))
                }
            }
            return try directory.sweepTemporaryFiles(in: folders)
        }
    }
}
