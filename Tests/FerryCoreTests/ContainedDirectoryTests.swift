import FerryCore
import Foundation
import SystemPackage
import Testing

/// The containment rule on the FerryCore piece itself: every path that would leave the root is
/// refused, with openat2 and with the O_NOFOLLOW walk alike.
@Suite(.serialized) struct ContainedDirectoryTests {
    /// A root with `inside/file`, a sibling `outside/secret`, and symlinks at every depth.
    private func tree() throws -> (base: URL, root: ContainedDirectory) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-contained-\(UUID().uuidString.prefix(8))")
        let fm = FileManager.default
        try fm.createDirectory(at: base.appendingPathComponent("root/inside/deeper"), withIntermediateDirectories: true)
        try fm.createDirectory(at: base.appendingPathComponent("outside"), withIntermediateDirectories: true)
        try Data("in".utf8).write(to: base.appendingPathComponent("root/inside/file"))
        try Data("secret".utf8).write(to: base.appendingPathComponent("outside/secret"))
        let root = base.appendingPathComponent("root")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("toOutside").path, withDestinationPath: base.appendingPathComponent("outside").path)
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("inside/deeper/up").path, withDestinationPath: "../../../outside")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("inside/secretLink").path, withDestinationPath: base.appendingPathComponent("outside/secret").path)
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("inside/sibling").path, withDestinationPath: "file")
        return (base, try ContainedDirectory(opening: FilePath(root.path)))
    }

    @Test(arguments: [false, true])
    func everyPathThatLeavesIsRefused(walk: Bool) throws {
        ContainedDirectory.useWalkForTesting(walk)
        defer { ContainedDirectory.useWalkForTesting(false) }
        let (base, root) = try tree()
        defer { try? FileManager.default.removeItem(at: base) }
        #expect(try root.readFile("inside/file", limit: 10) == Array("in".utf8))
        for path in ["../outside/secret", "inside/../../outside/secret", "/etc/passwd", "", "inside//file", "./inside/file", "inside/."] {
            #expect(throws: StorageError.self, "\(path)") { _ = try root.readFile(path, limit: 100) }
        }
        // A symlink at the first level, in the middle, and as the last component (even one that
        // stays inside) is never followed.
        for path in ["toOutside/secret", "inside/deeper/up/secret", "inside/secretLink", "inside/sibling"] {
            #expect(throws: StorageError.self, "\(path)") { _ = try root.readFile(path, limit: 100) }
            #expect(throws: StorageError.self, "\(path)") { _ = try root.open(path, O_WRONLY | O_TRUNC) }
            #expect(root.regularFileSize(path) == nil)
        }
        #expect(throws: StorageError.self) { _ = try root.subdirectory("toOutside") }
        #expect(throws: StorageError.self) { _ = try root.subdirectory("toOutside/new", create: true) }
        #expect(throws: StorageError.self) { try root.writeAtomically([1], to: "toOutside/planted") }
        #expect(throws: StorageError.self) { _ = try root.entries("toOutside") }
        // Removing through a link removes the link at most, never what it points at.
        try root.removeTree("toOutside")
        #expect(throws: StorageError.self) { try root.removeFile("inside/deeper/up/secret") }
        let secret = base.appendingPathComponent("outside/secret")
        #expect(try String(contentsOf: secret, encoding: .utf8) == "secret")
        #expect(FileManager.default.fileExists(atPath: base.appendingPathComponent("outside").path))
    }

    @Test(arguments: [false, true])
    func aDirectorySwappedForASymlinkAfterTheCheckIsNotFollowed(walk: Bool) throws {
        ContainedDirectory.useWalkForTesting(walk)
        defer { ContainedDirectory.useWalkForTesting(false) }
        let (base, root) = try tree()
        defer { try? FileManager.default.removeItem(at: base) }
        // Checked and opened as a directory inside the root ...
        let inside = try root.subdirectory("inside")
        #expect(root.status("inside")?.isDirectory == true)
        // ... then replaced by a symlink to the outside before it is used.
        let fm = FileManager.default
        try fm.moveItem(at: base.appendingPathComponent("root/inside"), to: base.appendingPathComponent("root/moved"))
        try fm.createSymbolicLink(atPath: base.appendingPathComponent("root/inside").path, withDestinationPath: base.appendingPathComponent("outside").path)
        // The handle still means the directory that was checked; a new lookup refuses the link.
        try inside.writeAtomically(Array("x".utf8), to: "written")
        #expect(fm.fileExists(atPath: base.appendingPathComponent("root/moved/written").path))
        #expect(!fm.fileExists(atPath: base.appendingPathComponent("outside/written").path))
        #expect(throws: StorageError.self) { try root.writeAtomically(Array("x".utf8), to: "inside/written2") }
        #expect(!fm.fileExists(atPath: base.appendingPathComponent("outside/written2").path))
    }

    @Test func aFIFOOrDeviceIsNeitherReadNorReplaced() throws {
        let (base, root) = try tree()
        defer { try? FileManager.default.removeItem(at: base) }
        let fifo = base.appendingPathComponent("root/fifo").path
        #expect(mkfifo(fifo, 0o644) == 0)
        // Reading does not block on the FIFO; it is refused.
        #expect(throws: StorageError.self) { _ = try root.openForReading("fifo") }
        #expect(throws: StorageError.self) { try root.writeAtomically([1], to: "fifo") }
        var info = stat()
        #expect(lstat(fifo, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO)
        // Replacing a regular file is fine.
        try root.writeAtomically(Array("new".utf8), to: "inside/file")
        #expect(try root.readFile("inside/file", limit: 10) == Array("new".utf8))
    }

    @Test func messagesNeverCarryControlCharacters() {
        let error = StorageError(.unknown, "server said \u{1B}[31mred\u{07}\u{202E}")
        #expect(error.message == "server said \\u{1B}[31mred\\u{7}\\u{202E}")
        #expect("plain ünïcode".printable == "plain ünïcode")
    }
}
