import Foundation

/// An object in a store: its key and size.
public struct ObjectInfo: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// When the object was last written (or touched).
    public var modified: Date

    public init(key: String, size: Int64, modified: Date = Date(timeIntervalSince1970: 0)) {
        self.key = key
        self.size = size
        self.modified = modified
    }
}
