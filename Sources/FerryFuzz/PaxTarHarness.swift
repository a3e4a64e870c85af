import TarIO

/// `PaxTarReader`: entries come in order, each hands over exactly the bytes its header
/// promises or fails, and sizes stay in range. At most 1,000 entries and 64 MiB of data per
/// input, so that a small compressed input cannot make a run slow.
enum PaxTarHarness {
    static func run(_ bytes: [UInt8]) {
        guard let reader = try? PaxTarReader(path: ScratchFile.write(bytes)) else { return }
        var lastOffset: Int64 = -1
        var budget: Int64 = 64 << 20
        for _ in 0..<1000 {
            guard let entry = try? reader.next() else { return }
            require(entry.size >= 0 && entry.size < 1 << 62, "entry size \(entry.size)")
            require(entry.dataOffset > lastOffset, "entry data offsets go back: \(entry.dataOffset) after \(lastOffset)")
            require(entry.mode <= 0o7777, "mode \(entry.mode) has more than permission bits")
            lastOffset = entry.dataOffset
            guard entry.size <= budget else { continue }
            budget -= entry.size
            var read: Int64 = 0
            while true {
                guard let chunk = try? reader.read(upTo: 65536) else { return }
                if chunk.isEmpty { break }
                read += Int64(chunk.count)
                require(read <= entry.size, "an entry of \(entry.size) bytes gave \(read)")
            }
            require(read == entry.size, "an entry of \(entry.size) bytes gave \(read)")
        }
    }
}
