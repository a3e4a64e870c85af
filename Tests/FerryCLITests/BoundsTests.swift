import Foundation
import Testing

/// Time linear in the input, memory bounded by configuration (issue 14, points 3 and 4). Times
/// are compared as ratios of CPU time between a small and a four times larger input of the same
/// run (linear: about 4; quadratic: about 16), never against a clock.
@Suite struct BoundsTests {
    /// Runs ferry to its end; its status, CPU seconds and peak RSS.
    private func measured(_ arguments: [String]) throws -> (run: Run, cpu: Double, peakMiB: Double) {
        let child = try Child(Paths.ferry, arguments)
        let result = child.wait()
        return (result, child.cpuSeconds, Double(child.peakKiB) / 1024)
    }

    @Test(arguments: ["oci", "epoch"])
    func syncTimeIsLinearInTheNumberOfTags(_ transport: String) throws {
        let scratch = try Scratch()
        var cpu: [Double] = []
        for count in [250, 1000] {
            let source = scratch.path("src-\(count)")
            #expect(try run("python3", [Paths.genLayout, source, "--size-mib", "0.01", "--layers", "1", "--tags", "\(count)", "--tag", "app:t"]).status == 0)
            let destination = scratch.path("dst-\(count)")
            let sync = try measured(["sync", "--progress", "none", "oci:\(source)", "\(transport):\(destination)"])
            #expect(sync.run.status == 0, "\(sync.run.stderr)")
            let listed = try ferry("ls", transport == "oci" ? "oci:\(destination)" : "epoch:\(destination)", transport == "oci" ? "app" : "app")
            #expect(listed.stdout.split(separator: "\n").count == count)
            cpu.append(sync.cpu)
        }
        #expect(cpu[1] / max(cpu[0], 0.05) < 8, "250 tags: \(cpu[0]) s, 1000 tags: \(cpu[1]) s of CPU")
    }
}
