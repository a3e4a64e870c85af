import Foundation
import Testing

/// SIGINT and SIGTERM in the middle of a copy (issue 14, point 1): the copy stops, what it began
/// is undone (a destination it created is gone), one line `ferry: interrupted`, status 130 or 143.
@Suite struct InterruptTests {
    @Test(arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
    func aSignalStopsTheCopyAndUndoesIt(_ signal: Int32, _ status: Int32) throws {
        let scratch = try Scratch()
        let layout = scratch.path("layout")
        #expect(try run("python3", [Paths.genLayout, "--size-mib", "8", "--layers", "1", "--tag", "v1", layout]).status == 0)
        let registry = try RegistryFaultTests.FaultRegistry(scratch, layout: layout)
        let destination = scratch.path("dst")
        // Blobs come slowly: the copy is still running when the signal arrives.
        let copy = try Child(Paths.ferry, ["copy", "--tls-verify=false", "--progress", "none", "--json",
                                           "docker://\(registry.host)/slow/app:v1", "oci:\(destination):v1"])
        var waited = 0
        while !registry.requests.contains(where: { $0.contains(" GET /v2/slow/app/blobs/") }), copy.isRunning, waited < 500 {
            usleep(10_000)
            waited += 1
        }
        usleep(300_000)
        #expect(copy.isRunning, "the copy is still running")
        kill(copy.pid, signal)
        let result = copy.wait()
        #expect(result.status == status, "\(result.stderr)")
        #expect(result.stderr == "ferry: interrupted\n", "\(result.stderr)")
        #expect(jsonLines(result.stdout).last?["code"] as? String == "INTERRUPTED")
        #expect(!FileManager.default.fileExists(atPath: destination), "the destination the copy created is gone")
    }
}
