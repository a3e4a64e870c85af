import Synchronization

/// Records that are written out together (a layout's `index.json`, a bucket's `catalog.json`):
/// added one at a time, due at most once per `interval` while they keep coming, and taken all
/// at once, so that a copy of many tags rewrites the file a few times rather than once per tag.
public final class RecordBatch<Element: Sendable>: Sendable {
    private let state = Mutex<(pending: [Element], last: ContinuousClock.Instant?)>(([], nil))
    private let interval: Duration

    public init(interval: Duration = .seconds(1)) {
        self.interval = interval
    }

    /// Adds one record; true when the batch is due to be written now (the first one always is).
    public func add(_ element: Element) -> Bool {
        state.withLock { state in
            state.pending.append(element)
            return state.last.map { ContinuousClock.now - $0 >= interval } ?? true
        }
    }

    /// Everything added since the last take; the interval starts again.
    public func take() -> [Element] {
        state.withLock { state in
            defer { state = ([], .now) }
            return state.pending
        }
    }

    /// Whether nothing waits to be written.
    public var isEmpty: Bool { state.withLock { $0.pending.isEmpty } }
}
