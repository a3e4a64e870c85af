import CArchive
import CIsal
import FerryCore

#if canImport(Glibc)
    import Glibc
#endif

/// gzip through Intel's ISA-L, several times zlib's speed at its level 1 (the closest to
/// `gzip -1`, which cocoon's export uses). What it writes is one standard gzip member with no
/// name and no time (reproducible bytes); it reads any gzip file, several members one after
/// another too (`cat a.gz b.gz`), as gzip does.
enum Gzip {
    /// The two bytes every gzip member starts with.
    static let magic: [UInt8] = [0x1f, 0x8b]

    /// Whether the file open at `fd` starts like gzip (read at offset 0; the position is kept).
    static func isGzip(_ fd: Int32) -> Bool {
        var head: [UInt8] = [0, 0]
        return pread(fd, &head, 2, 0) == 2 && head == magic
    }

    /// Writes everything to `fd`, retrying short writes and interrupts.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, name: String) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw StorageError(.unknown, "\(name): cannot write: \(String(cString: strerror(errno)))") }
            done += n
        }
    }
}

/// Compresses what it is given into gzip, written to a descriptor in writes of about 1 MiB.
/// One task uses it at a time.
final class GzipWriter {
    private let stream: UnsafeMutablePointer<isal_zstream>
    private let levelBuffer: UnsafeMutableRawBufferPointer
    private let output: UnsafeMutableRawBufferPointer
    private let fd: Int32
    private let name: String
    private var finished = false

    /// Starts a gzip stream on `fd` (owned by the caller); `name` is for messages.
    init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
        stream = .allocate(capacity: 1)
        stream.initialize(to: isal_zstream())
        isal_deflate_init(stream)
        levelBuffer = .allocate(byteCount: Int(ferry_isal_level1_buffer_size), alignment: 64)
        output = .allocate(byteCount: 1 << 20, alignment: 64)
        stream.pointee.level = 1
        stream.pointee.level_buf = levelBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.pointee.level_buf_size = UInt32(levelBuffer.count)
        // A gzip header of ISA-L's own: no name, no time, so the same input gives the same bytes.
        stream.pointee.gzip_flag = UInt16(IGZIP_GZIP)
    }

    deinit {
        stream.deinitialize(count: 1)
        stream.deallocate()
        levelBuffer.deallocate()
        output.deallocate()
    }

    /// Compresses `bytes`, writing the output as it fills.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        var offset = 0
        while offset < bytes.count {
            // ISA-L counts input in 32 bits.
            let piece = min(bytes.count - offset, 1 << 30)
            stream.pointee.next_in = UnsafeMutablePointer(mutating: (bytes.baseAddress! + offset).assumingMemoryBound(to: UInt8.self))
            stream.pointee.avail_in = UInt32(piece)
            try run()
            offset += piece
        }
    }

    /// Ends the stream (the last block and the trailer with CRC and size) and writes it out.
    func finish() throws {
        guard !finished else { return }
        finished = true
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        stream.pointee.end_of_stream = 1
        try run()
    }

    /// Deflates until the input is used up (and, at the end, until the stream is closed).
    private func run() throws {
        repeat {
            stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = UInt32(output.count)
            guard isal_deflate(stream) == COMP_OK else { throw StorageError(.unknown, "\(name): gzip compression failed") }
            let produced = output.count - Int(stream.pointee.avail_out)
            if produced > 0 { try Gzip.writeAll(fd, UnsafeRawBufferPointer(rebasing: output[..<produced]), name: name) }
        } while stream.pointee.avail_in > 0 || stream.pointee.avail_out == 0
            || (stream.pointee.end_of_stream != 0 && stream.pointee.internal_state.state != ZSTATE_END)
    }
}

/// Reads a gzip file and gives back its uncompressed bytes, member after member; the CRC and
/// size of each are checked at its end. One task uses it at a time.
final class GzipReader {
    private let state: UnsafeMutablePointer<inflate_state>
    private let input: UnsafeMutableRawBufferPointer
    private let fd: Int32
    private let name: String
    private var atEOF = false
    /// The member in hand is complete; what follows must be another member or nothing.
    private var memberDone = false
    private var ended = false

    /// Reads from `fd` (owned by the caller) from its current position; `name` is for messages.
    init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
        state = .allocate(capacity: 1)
        state.initialize(to: inflate_state())
        input = .allocate(byteCount: 1 << 20, alignment: 64)
        start()
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
        input.deallocate()
    }

    private func start() {
        isal_inflate_init(state)
        state.pointee.crc_flag = UInt32(ISAL_GZIP)
    }

    /// Fills `buffer` with uncompressed bytes as far as it can; 0 at the end of the last member.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while !ended {
            if state.pointee.avail_in == 0, !atEOF { try refill() }
            if memberDone {
                guard try nextMember() else {
                    ended = true
                    break
                }
            }
            state.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            state.pointee.avail_out = UInt32(min(buffer.count, Int(UInt32.max)))
            let status = isal_inflate(state)
            guard status == ISAL_DECOMP_OK else { throw corrupt(status) }
            let produced = min(buffer.count, Int(UInt32.max)) - Int(state.pointee.avail_out)
            if state.pointee.block_state == ISAL_BLOCK_FINISH { memberDone = true }
            if produced > 0 { return produced }
            if !memberDone, state.pointee.avail_in == 0, atEOF {
                throw StorageError(.unknown, "\(name): the gzip stream is truncated")
            }
        }
        return 0
    }

    /// After a member: true when another one follows (and is started), false at the end.
    /// Zero bytes after the last member (padding some writers add) are allowed, as gzip does.
    private func nextMember() throws -> Bool {
        while true {
            if state.pointee.avail_in == 0 {
                if atEOF { return false }
                try refill()
                continue
            }
            let next = UnsafeRawBufferPointer(start: state.pointee.next_in, count: Int(state.pointee.avail_in))
            if next.allSatisfy({ $0 == 0 }) {
                state.pointee.avail_in = 0
                continue
            }
            guard next[0] == Gzip.magic[0], next.count < 2 || next[1] == Gzip.magic[1] else {
                throw StorageError(.unknown, "\(name): data that is not gzip follows the gzip stream")
            }
            let (pointer, count) = (state.pointee.next_in, state.pointee.avail_in)
            start()
            state.pointee.next_in = pointer
            state.pointee.avail_in = count
            memberDone = false
            return true
        }
    }

    /// Reads the next input block; unused input is moved to the front first.
    private func refill() throws {
        let left = Int(state.pointee.avail_in)
        if left > 0, let next = state.pointee.next_in {
            memmove(input.baseAddress!, next, left)
        }
        var n: Int
        repeat { n = Glibc.read(fd, input.baseAddress! + left, input.count - left) } while n < 0 && errno == EINTR
        guard n >= 0 else { throw StorageError(.unknown, "\(name): cannot read: \(String(cString: strerror(errno)))") }
        if n == 0 { atEOF = true }
        state.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        state.pointee.avail_in = UInt32(left + n)
    }

    private func corrupt(_ status: Int32) -> StorageError {
        let why = switch status {
        case ISAL_INCORRECT_CHECKSUM: "its checksum does not match (corrupt)"
        case ISAL_INVALID_WRAPPER, ISAL_UNSUPPORTED_METHOD: "not a gzip stream"
        default: "corrupt compressed data"
        }
        return StorageError(.unknown, "\(name): gzip: \(why)")
    }
}

/// A gzip file as libarchive's input: it reads the uncompressed tar through these callbacks
/// (`archive_read_open`), ISA-L inflating. Owns the file's descriptor. Kept alive by the reader
/// that holds the archive.
final class InflatingInput {
    private let fd: Int32
    private let reader: GzipReader
    private let buffer: UnsafeMutableRawBufferPointer
    /// Why the last read failed, for the reader's message (libarchive only knows it did).
    private(set) var failure: StorageError?

    /// Opens `path` when it is gzip; nil when it is not (or cannot be opened: libarchive says why).
    init?(path: String, name: String) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        guard Gzip.isGzip(fd) else {
            close(fd)
            return nil
        }
        self.fd = fd
        reader = GzipReader(fd: fd, name: name)
        buffer = .allocate(byteCount: 1 << 20, alignment: 64)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    /// Makes `archive` read from this input.
    func open(_ archive: OpaquePointer) -> Int32 {
        archive_read_open(archive, Unmanaged.passUnretained(self).toOpaque(), nil, { _, client, out in
            let input = Unmanaged<InflatingInput>.fromOpaque(client!).takeUnretainedValue()
            do {
                let n = try input.reader.read(into: input.buffer)
                out?.pointee = UnsafeRawPointer(input.buffer.baseAddress)
                return n
            } catch let error as StorageError {
                input.failure = error
                return -1
            } catch {
                return -1
            }
        }, nil)
    }
}

/// libarchive's output compressed by ISA-L: the tar it writes goes through these callbacks
/// (`archive_write_open2`) into a `GzipWriter` on the caller's descriptor.
final class DeflatingOutput {
    let writer: GzipWriter
    private(set) var failure: StorageError?

    init(fd: Int32, name: String) {
        writer = GzipWriter(fd: fd, name: name)
    }

    /// Makes `archive` write into this output.
    func open(_ archive: OpaquePointer) -> Int32 {
        archive_write_open2(archive, Unmanaged.passUnretained(self).toOpaque(), nil, { _, client, bytes, count in
            let output = Unmanaged<DeflatingOutput>.fromOpaque(client!).takeUnretainedValue()
            do {
                try output.writer.write(UnsafeRawBufferPointer(start: bytes, count: count))
                return count
            } catch let error as StorageError {
                output.failure = error
                return -1
            } catch {
                return -1
            }
        }, nil, nil)
    }
}
