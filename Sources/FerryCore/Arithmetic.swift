/// Sums of sizes that come from input (manifests, archives, configs): overflow is an error that
/// names the input, never a trap.
public enum Arithmetic {
    /// `values` added up, or an error naming `what` when the total leaves Int64.
    public static func sum(_ values: some Sequence<Int64>, what: @autoclosure () -> String) throws -> Int64 {
        var total: Int64 = 0
        for value in values { total = try add(total, value, what: what()) }
        return total
    }

    /// `a + b`, or an error naming `what` when it leaves Int64.
    public static func add(_ a: Int64, _ b: Int64, what: @autoclosure () -> String) throws -> Int64 {
        let (total, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw StorageError(.sizeInvalid, "\(what()): sizes add up to more than \(Int64.max) bytes") }
        return total
    }
}
