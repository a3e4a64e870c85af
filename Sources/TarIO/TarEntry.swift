/// One entry of a tar archive, as its header describes it.
public struct TarEntry: Sendable {
    /// What kind of file the entry is.
    public enum Kind: Sendable, Equatable {
        case regular, directory, symbolicLink, hardLink, characterDevice, blockDevice, fifo, socket
    }

    /// The entry's name, exactly as written in the archive.
    public var path: String
    public var kind: Kind
    /// The size of the entry's data.
    public var size: Int64
    /// The permission bits.
    public var mode: UInt32
    /// Where the entry's data starts in the uncompressed stream: the file offset of a plain tar.
    public var dataOffset: Int64
}
