import CFuzzerDriver

#if canImport(Glibc)
    import Glibc
#endif

/// `ferry-fuzz HARNESS [libFuzzer flags] [corpus directories]`: one binary, one harness per
/// parser. Built only with FERRY_FUZZ=1 (see Package.swift and scripts/fuzz.sh).
let harnesses: [(name: String, run: ([UInt8]) -> Void)] = [
    ("reference", ReferenceHarness.run),
    ("manifest", ManifestHarness.run),
    ("gojson", GoJSONHarness.run),
    ("pax-tar", PaxTarHarness.run),
    ("layout-archive", LayoutArchiveHarness.run),
    ("s3-listing", S3ListingHarness.run),
    ("sparse-map", SparseMapHarness.run),
    ("snapshots-json", SnapshotsHarness.run),
]

// The harness is the first argument, or FERRY_FUZZ_HARNESS when libFuzzer runs the binary again
// (-minimize_crash, -fork) with only its own flags.
let arguments = CommandLine.arguments
let names = harnesses.map(\.name).joined(separator: " ")
let fromEnvironment = getenv("FERRY_FUZZ_HARNESS").map { String(cString: $0) }
if fromEnvironment == nil, arguments.count >= 2, arguments[1] == "--list" {
    print(names)
    exit(0)
}
guard let name = fromEnvironment ?? arguments.dropFirst().first, let harness = harnesses.first(where: { $0.name == name }) else {
    fputs("usage: ferry-fuzz HARNESS [libFuzzer flags] [corpus dirs or inputs]\nharnesses: \(names)\n", stderr)
    exit(2)
}
setenv("FERRY_FUZZ_HARNESS", name, 1)
let skipped = fromEnvironment == nil ? 2 : 1

// libFuzzer's C callback cannot capture: the chosen harness goes through a global.
nonisolated(unsafe) var selected: ([UInt8]) -> Void = harness.run

// libFuzzer sees argv without the harness name.
var argc = CommandLine.argc - Int32(skipped - 1)
var argv: [UnsafeMutablePointer<CChar>?] = [CommandLine.unsafeArgv[0]] + (skipped..<Int(CommandLine.argc)).map { CommandLine.unsafeArgv[$0] } + [nil]
let status = argv.withUnsafeMutableBufferPointer { buffer -> Int32 in
    var base = buffer.baseAddress
    return LLVMFuzzerRunDriver(&argc, &base) { data, size in
        selected(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }
}
exit(status)
