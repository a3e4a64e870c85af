import Foundation
import Testing

/// Hostile layout tarballs: each is refused with exit 1 and one line `ferry: ...` naming the
/// archive, and nothing is written: not the destination, not beside it, not outside the scratch
/// directory, not through a link. `ferry verify` fails on each, and writing into one as an
/// existing destination fails and leaves it byte-identical.
///
/// Each archive starts as the umoci fixture tarred up with names relative to the layout root and
/// is then made hostile with Python's tarfile.
@Suite struct HostileArchiveTests {
    static let layer = "blobs/sha256/b8f21b73fc6ffac9721ae79b65bc943245c22d3d20843cfeae44149cc6ce6ed7"

    /// Python helpers; `sys.argv[1]` is the archive to write (gzip when it ends in .gz), `sys.argv[2]`
    /// the layout to start from. `layout(tf, hostile)` writes the layout in the usual order
    /// (oci-layout, blobs, index.json) and calls `hostile(tf)` right after oci-layout.
    static let prelude = #"""
        import io, os, sys, tarfile
        out, root = sys.argv[1], sys.argv[2]
        LAYER = 'blobs/sha256/b8f21b73fc6ffac9721ae79b65bc943245c22d3d20843cfeae44149cc6ce6ed7'
        def names():
            blobs = sorted('blobs/sha256/' + n for n in os.listdir(os.path.join(root, 'blobs', 'sha256')))
            return ['oci-layout'] + blobs + ['index.json']
        def data(name):
            with open(os.path.join(root, name), 'rb') as f:
                return f.read()
        def info(name, size=0, kind=tarfile.REGTYPE, **fields):
            i = tarfile.TarInfo(name)
            i.size, i.type, i.mode = size, kind, 0o644
            for k, v in fields.items():
                setattr(i, k, v)
            return i
        def add(tf, name, payload):
            tf.addfile(info(name, len(payload)), io.BytesIO(payload))
        def layout(tf, hostile=None, skip=(), replace={}):
            for n in names():
                if n in skip:
                    continue
                add(tf, n, replace.get(n, data(n)))
                if n == 'oci-layout' and hostile:
                    hostile(tf)
        def open_out(path=None):
            path = path or out
            mode = 'w:gz' if path.endswith('.gz') or path.endswith('.tgz') else 'w'
            return tarfile.open(path, mode, format=tarfile.PAX_FORMAT)

        """#

    /// Files a hostile archive might try to create, outside the scratch directory.
    private static func outsiders(of scratch: Scratch) -> [String] {
        let parent = scratch.url.deletingLastPathComponent().path
        let cwd = FileManager.default.currentDirectoryPath
        return ["/etc/evil", "/evil", parent + "/evil", cwd + "/evil", (cwd as NSString).deletingLastPathComponent + "/evil"]
    }

    /// Writes `archive` (in `scratch`) by running the prelude and `body` in python3.
    private static func craft(_ archive: String, _ body: String, from layout: String = Paths.fixture("umoci-layout")) throws {
        let made = try run("python3", ["-c", prelude + body, archive, layout])
        try #require(made.status == 0, "python3 failed crafting \(archive): \(made.stderr)")
        try #require(FileManager.default.fileExists(atPath: archive))
    }

    /// One failure as ferry must report it: exit 1, a single line `ferry: ...` naming the archive,
    /// no crash.
    private static func expectOneLineFailure(_ result: Run, _ what: String, naming archive: String, mentioning words: [String],
                                             sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 1, "\(what): exit \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.errorLines.count == 1 && result.stderr.hasPrefix("ferry: "), "\(what): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(archive), "\(what): message does not name \(archive): \(result.stderr)", sourceLocation: sourceLocation)
        for word in words {
            #expect(result.stderr.contains(word), "\(what): \(result.stderr) lacks \(word)", sourceLocation: sourceLocation)
        }
        for crash in ["Fatal error", "Stack dump", "Backtrace", "Segmentation", "Illegal instruction"] {
            #expect(!result.stderr.contains(crash), "\(what): \(result.stderr)", sourceLocation: sourceLocation)
        }
    }

    /// Crafts the archive, then checks that copying out of it, verifying it, and writing into it
    /// all fail cleanly and leave everything as it was.
    private static func expectRefused(_ file: String, _ body: String, tag: String = "v1", mentioning words: [String] = [],
                                      verifyMentioning verifyWords: [String] = [], from layout: String = Paths.fixture("umoci-layout"),
                                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let scratch = try Scratch()
        let archive = scratch.path(file)
        try craft(archive, body, from: layout)
        let canary = scratch.path("canary")
        try FileManager.default.createDirectory(atPath: canary, withIntermediateDirectories: true)
        try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: canary + "/keep.txt"))
        let canaryBefore = snapshot(canary)
        let archiveBefore = try #require(FileManager.default.contents(atPath: archive))
        let outsiders = outsiders(of: scratch)
        let existedBefore = Set(outsiders.filter { FileManager.default.fileExists(atPath: $0) })
        let passwdBefore = FileManager.default.contents(atPath: "/etc/passwd")
        let dst = scratch.path("dst")

        // Out of the archive.
        let copied = try ferry("copy", "--progress", "none", "oci-archive:\(archive):\(tag)", "oci:\(dst)")
        expectOneLineFailure(copied, "copy out of \(file)", naming: archive, mentioning: words, sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: dst), "copy out of \(file) left \(dst)", sourceLocation: sourceLocation)

        // Verified.
        let verified = try ferry("verify", "oci-archive:\(archive)")
        #expect(verified.status == 1, "verify \(file): exit \(verified.status): \(verified.stdout)\(verified.stderr)", sourceLocation: sourceLocation)
        #expect(verified.stderr.contains(archive), "verify \(file): \(verified.stderr)", sourceLocation: sourceLocation)
        for word in verifyWords {
            #expect(verified.stderr.contains(word), "verify \(file): \(verified.stderr) lacks \(word)", sourceLocation: sourceLocation)
        }
        #expect(!verified.stderr.contains("Fatal error") && !verified.stderr.contains("Stack dump"), "\(verified.stderr)", sourceLocation: sourceLocation)

        // Into the archive, as an existing destination: refused, and the archive stays as it was.
        let into = try ferry("copy", "--progress", "none", "oci:\(Paths.fixture("umoci-layout")):v2", "oci-archive:\(archive):added")
        expectOneLineFailure(into, "copy into \(file)", naming: archive, mentioning: [], sourceLocation: sourceLocation)
        #expect(FileManager.default.contents(atPath: archive) == archiveBefore, "copy into \(file) changed it", sourceLocation: sourceLocation)

        // Nothing else was touched or created.
        #expect(snapshot(canary) == canaryBefore, "\(file): the canary changed", sourceLocation: sourceLocation)
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path))
        #expect(left == [file, "canary"], "\(file): the scratch directory now holds \(left.sorted())", sourceLocation: sourceLocation)
        for path in outsiders where !existedBefore.contains(path) {
            #expect(!FileManager.default.fileExists(atPath: path), "\(file): created \(path)", sourceLocation: sourceLocation)
        }
        #expect(FileManager.default.contents(atPath: "/etc/passwd") == passwdBefore, "\(file): /etc/passwd changed", sourceLocation: sourceLocation)
    }

    // MARK: names

    @Test(arguments: ["tar", "tar.gz"])
    func absolutePath(_ ending: String) throws {
        try Self.expectRefused("abs.\(ending)", #"""
            with open_out() as tf:
                layout(tf, lambda tf: add(tf, '/etc/evil', b'evil\n'))
            """#, mentioning: ["/etc/evil"])
    }

    @Test func absolutePathInAPAXRecord() throws {
        // The USTAR name is harmless; the PAX `path` record, which readers prefer, is absolute.
        try Self.expectRefused("paxabs.tar", #"""
            def hostile(tf):
                i = info('harmless', size=5)
                i.pax_headers = {'path': '/etc/evil'}
                tf.addfile(i, io.BytesIO(b'evil\n'))
            with open_out() as tf:
                layout(tf, hostile)
            """#, mentioning: ["/etc/evil"])
    }

    @Test func dotDotComponent() throws {
        try Self.expectRefused("dotdot.tar", #"""
            with open_out() as tf:
                layout(tf, lambda tf: add(tf, 'blobs/../../evil', b'evil\n'))
            """#, mentioning: ["blobs/../../evil"])
    }

    @Test func entryOutsideTheLayoutsNames() throws {
        try Self.expectRefused("extra.tar", #"""
            with open_out() as tf:
                layout(tf, lambda tf: add(tf, 'extra.txt', b'hello\n'))
            """#, mentioning: ["extra.txt"])
    }

    @Test(arguments: ["blob", "index.json"])
    func duplicateEntry(_ which: String) throws {
        // The second copy differs: a reader keeping the last one would serve other content than
        // one keeping the first.
        let body = which == "blob"
            ? #"""
            with open_out() as tf:
                layout(tf, lambda tf: add(tf, LAYER, b'not the layer'))
            """#
            : #"""
            import json
            index = json.loads(data('index.json'))
            index['manifests'] = [dict(index['manifests'][1], annotations={'org.opencontainers.image.ref.name': 'v1'})]
            with open_out() as tf:
                layout(tf)
                add(tf, 'index.json', json.dumps(index).encode())
            """#
        try Self.expectRefused("dup-\(which).tar", body, mentioning: ["twice"])
    }

    // MARK: kinds

    @Test(arguments: ["blob", "blobs-directory"])
    func symbolicLink(_ which: String) throws {
        // A blob that is a link out of the layout, or a `blobs` that is a link to /etc with the
        // blobs following it: extracting either would read or write through the link.
        let body = which == "blob"
            ? #"""
            with open_out() as tf:
                layout(tf, lambda tf: tf.addfile(info(LAYER, kind=tarfile.SYMTYPE, linkname='/etc/passwd')), skip=[LAYER])
            """#
            : #"""
            with open_out() as tf:
                layout(tf, lambda tf: tf.addfile(info('blobs', kind=tarfile.SYMTYPE, linkname='/etc')))
            """#
        try Self.expectRefused("symlink-\(which).tar", body)
    }

    @Test(arguments: ["/etc/passwd", "oci-layout"])
    func hardLink(_ target: String) throws {
        try Self.expectRefused("hardlink.tar", #"""
            with open_out() as tf:
                layout(tf, lambda tf: tf.addfile(info(LAYER, kind=tarfile.LNKTYPE, linkname='\#(target)')), skip=[LAYER])
            """#, mentioning: ["link"])
    }

    @Test func characterDevice() throws {
        try Self.expectRefused("chardev.tar", #"""
            with open_out() as tf:
                layout(tf, lambda tf: tf.addfile(info(LAYER, kind=tarfile.CHRTYPE, devmajor=1, devminor=3)), skip=[LAYER])
            """#)
    }

    @Test func fifo() throws {
        try Self.expectRefused("fifo.tar", #"""
            with open_out() as tf:
                layout(tf, lambda tf: tf.addfile(info(LAYER, kind=tarfile.FIFOTYPE)), skip=[LAYER])
            """#)
    }

    // MARK: sizes and content

    @Test(arguments: ["tar", "tar.gz"])
    func truncatedInTheMiddleOfABlob(_ ending: String) throws {
        // Plain: cut inside the layer's data. Gzip: the tar made the same way, compressed, and the
        // compressed stream cut in half.
        try Self.expectRefused("truncated.\(ending)", #"""
            import gzip
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode='w', format=tarfile.PAX_FORMAT) as tf:
                layout(tf)
            raw = buffer.getvalue()
            with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
                member = tf.getmember(LAYER)
            if out.endswith('.gz'):
                packed = gzip.compress(raw, mtime=0)
                cut = packed[:len(packed) // 2]
            else:
                cut = raw[:member.offset_data + member.size // 2]
            with open(out, 'wb') as f:
                f.write(cut)
            """#)
    }

    @Test(arguments: ["tar", "tar.gz"])
    func blobNotMatchingItsDigest(_ ending: String) throws {
        try Self.expectRefused("flipped.\(ending)", #"""
            flipped = bytearray(data(LAYER))
            flipped[len(flipped) // 2] ^= 0xff
            with open_out() as tf:
                layout(tf, replace={LAYER: bytes(flipped)})
            """#, mentioning: ["b8f21b73fc6f", "content hashes to"], verifyMentioning: ["b8f21b73fc6f"])
    }

    @Test func blobLargerThanItsDescriptor() throws {
        // Same name, one byte more: neither the size nor the digest matches.
        try Self.expectRefused("plus-one.tar", #"""
            with open_out() as tf:
                layout(tf, replace={LAYER: data(LAYER) + b'\0'})
            """#, mentioning: ["b8f21b73fc6f"], verifyMentioning: ["b8f21b73fc6f"])
    }

    @Test(arguments: ["tar.gz"])
    func largeLayerNotMatchingItsDigestInACompressedArchive(_ ending: String) throws {
        // A layer over the 1 MiB kept in memory: read by streaming, checked all the same.
        let scratch = try Scratch()
        let source = scratch.path("big")
        let generated = try run("python3", [Paths.genLayout, source, "--size-mib", "3", "--layers", "2", "--tag", "v1", "--seed", "3"])
        try #require(generated.status == 0, "\(generated.stderr)")
        try Self.expectRefused("big-flipped.\(ending)", #"""
            largest = max((n for n in names() if n.startswith('blobs/')), key=lambda n: len(data(n)))
            flipped = bytearray(data(largest))
            flipped[len(flipped) - 10] ^= 0x01
            with open_out() as tf:
                layout(tf, replace={largest: bytes(flipped)})
            """#, mentioning: ["content hashes to"], from: source)
    }

    @Test(arguments: ["pax", "gnu-base256"])
    func absurdHeaderSize(_ encoding: String) throws {
        // A header claiming 2 TiB (a PAX `size` record, or a base-256 size field), then a few real
        // bytes and the end of the file. PAX names the layer; base-256 names index.json, which a
        // reader would read whole into memory.
        let (format, name) = encoding == "pax" ? ("tarfile.PAX_FORMAT", "LAYER") : ("tarfile.GNU_FORMAT", "'index.json'")
        try Self.expectRefused("absurd-\(encoding).tar", #"""
            with open(out, 'wb') as f:
                f.write(info('oci-layout', size=len(data('oci-layout'))).tobuf(tarfile.USTAR_FORMAT, 'utf-8', 'surrogateescape'))
                f.write(data('oci-layout').ljust(512, b'\0'))
                header = info(\#(name), size=2199023255552).tobuf(\#(format), 'utf-8', 'surrogateescape')
                f.write(header)
                f.write(data(LAYER).ljust(1024, b'\0'))
            with tarfile.open(out) as tf:
                tf.next()
                assert tf.next().size == 2199023255552
            """#)
    }

    @Test func negativeHeaderSize() throws {
        try Self.expectRefused("negative.tar", #"""
            with open(out, 'wb') as f:
                f.write(info('oci-layout', size=len(data('oci-layout'))).tobuf(tarfile.USTAR_FORMAT, 'utf-8', 'surrogateescape'))
                f.write(data('oci-layout').ljust(512, b'\0'))
                f.write(info('index.json', size=-5).tobuf(tarfile.GNU_FORMAT, 'utf-8', 'surrogateescape'))
                f.write(data('index.json').ljust(1024, b'\0'))
            """#)
    }
}
