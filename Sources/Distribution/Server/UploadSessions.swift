import FerryCore
import Foundation
import SystemPackage

/// Upload sessions, each spooled to a locked temporary file (`.ferry-*.tmp`) in the spool
/// directory, or, where the location holds uploads itself (an S3 bucket, `UploadSpooling`),
/// sent there in parts as they arrive, the file holding only the bytes short of a part between
/// requests. Never held in memory. A session is used by one request at a time; one untouched
/// for the expiry time is removed, and so are the spools of a server that was killed (their
/// lock is gone) when the next server starts.
actor UploadSessions {
    final class Session: @unchecked Sendable {
        let id: String
        let repository: String
        /// The spool; with a remote spool, the bytes short of a part (`tail` of them).
        var file: TempFile
        /// Where the parts go, when the location holds uploads itself.
        let remote: (any UploadSpool)?
        /// Bytes received and kept (in the file, or sent as parts); touched only by the request
        /// holding the session.
        var size: Int64 = 0
        /// With a remote spool: the bytes in `file`, after the parts.
        var tail = 0
        var lastUsed = ContinuousClock.now
        var busy = false

        init(id: String, repository: String, file: TempFile, remote: (any UploadSpool)?) {
            self.id = id
            self.repository = repository
            self.file = file
            self.remote = remote
        }
    }

    /// The spool directory (also for other temporary files of the server).
    nonisolated let spool: ContainedDirectory
    private let expiry: Duration
    private var sessions: [String: Session] = [:]

    init(spool path: FilePath, expiry: Duration) throws {
        spool = try ContainedDirectory(opening: path, create: true)
        self.expiry = expiry
        _ = try spool.sweepTemporaryFiles(in: [spool])
    }

    var count: Int { sessions.count }

    /// A new, empty session for `repository`, its parts going to `remote` if given.
    func create(repository: String, remote: (any UploadSpool)?) throws -> Session {
        let file = try newFile()
        let id = (0..<2).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined(separator: "-")
        let session = Session(id: id, repository: repository, file: file, remote: remote)
        session.busy = true
        sessions[id] = session
        return session
    }

    /// Takes the session for one request; fails for an unknown one, one of another repository,
    /// or one another request is using.
    func take(_ id: String, repository: String) throws -> Session {
        guard let session = sessions[id], session.repository == repository else {
            throw RegistryFailure(.notFound, .blobUploadUnknown, "no upload \(id.printable)")
        }
        guard !session.busy else {
            throw RegistryFailure(.conflict, .blobUploadInvalid, "upload \(id) is in use by another request")
        }
        session.busy = true
        return session
    }

    /// Gives the session back after a request; one that sent data (`touched`) keeps the session
    /// alive for another expiry time, a status check does not.
    func release(_ session: Session, touched: Bool = true) {
        session.busy = false
        if touched { session.lastUsed = .now }
    }

    /// A new empty spool file.
    nonisolated func newFile() throws -> TempFile {
        try TempFile(in: spool, lockRoot: spool, mode: 0o600)
    }

    /// Ends a session and removes its spool, here and in the location.
    func finish(_ session: Session) async {
        sessions[session.id] = nil
        session.file.discard()
        await session.remote?.discard()
    }

    /// Removes sessions untouched for the expiry time.
    func expire() async {
        let now = ContinuousClock.now
        for session in sessions.values where !session.busy && session.lastUsed.duration(to: now) > expiry {
            await finish(session)
        }
    }

    /// Removes every session (the server stops).
    func removeAll() async {
        for session in sessions.values { await finish(session) }
    }
}
