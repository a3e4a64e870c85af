import FerryCore

/// `SparseMap(jsonText:logicalSize:)` (`COCOON.sparse.map`): the first line of the input is the
/// file size, the rest the map. A map that parses lies inside the file, in order, without
/// overlaps, and its text (as Go writes it) parses to the same map.
enum SparseMapHarness {
    static func run(_ bytes: [UInt8]) {
        let newline = bytes.firstIndex(of: 0x0A) ?? bytes.count
        let size = Int64(String(decoding: bytes[..<newline], as: UTF8.self)) ?? 1 << 40
        let text = String(decoding: bytes[min(newline + 1, bytes.count)...], as: UTF8.self)
        guard let map = try? SparseMap(jsonText: text, logicalSize: size) else { return }
        require(map.logicalSize == size, "the size changed")
        var end: Int64 = 0
        for segment in map.segments {
            require(segment.offset >= end && segment.length >= 0, "segment \(segment) overlaps or is negative")
            require(segment.offset <= size && segment.length <= size - segment.offset, "segment \(segment) runs past \(size)")
            end = segment.offset + segment.length
        }
        require(map.dataSize <= size, "\(map.dataSize) data bytes in a file of \(size)")
        require((try? SparseMap(jsonText: map.jsonText, logicalSize: size)) == map, "\(map.jsonText) parses to another map")
    }
}
