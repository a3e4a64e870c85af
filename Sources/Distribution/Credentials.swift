import FerryCore
import Foundation

/// What proves who the client is to one registry.
public enum Credential: Sendable, Hashable {
    /// A user name and password (or a personal access token in the password's place).
    case basic(username: String, password: String)
    /// A token sent as it is, `Authorization: Bearer TOKEN` (epoch's `EPOCH_REGISTRY_TOKEN`).
    case bearer(String)
    /// An identity token from `docker login` (user `<token>`): exchanged at the token endpoint.
    case identityToken(String)
}

/// The one place credentials come from, in this order: the command line (`--creds`,
/// `--registry-token`), `EPOCH_REGISTRY_TOKEN`, containers' `auth.json` (`REGISTRY_AUTH_FILE`),
/// and docker's `config.json` (`DOCKER_CONFIG`): its `credHelpers`, `credsStore` and `auths`.
/// Nothing else reads them, and nothing they hold is ever printed: `description` names only where
/// a credential came from.
public struct CredentialSource: Sendable {
    /// `--creds USER[:PASS]` (or `--src-creds`/`--dest-creds` for one side).
    public var explicit: Credential?
    /// `--registry-token`, else `EPOCH_REGISTRY_TOKEN`.
    public var registryToken: String?
    /// The environment: `HOME`, `DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `PATH`.
    public var environment: [String: String]

    public init(explicit: Credential? = nil, registryToken: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.explicit = explicit
        self.registryToken = registryToken ?? environment["EPOCH_REGISTRY_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        self.environment = environment
    }

    /// `USER:PASS` as `--creds` takes it; a missing password is an empty one.
    public static func parse(creds text: String) -> Credential {
        guard let colon = text.firstIndex(of: ":") else { return .basic(username: text, password: "") }
        return .basic(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
    }

    /// The credential for `host` (as the user wrote it, `docker.io` for Docker Hub), or nil for
    /// anonymous access. A helper that fails is an error naming the helper, never its output.
    public func credential(for host: String) throws -> Credential? {
        if let explicit { return explicit }
        if let registryToken { return .bearer(registryToken) }
        for file in authFiles() {
            guard let data = FileManager.default.contents(atPath: file),
                  let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { continue }
            if let helpers = config["credHelpers"] as? [String: String], let helper = Self.entry(for: host, in: helpers) {
                return try CredentialHelper(name: helper, environment: environment).get(server: host)
            }
            if let auths = config["auths"] as? [String: Any], let entry = Self.entry(for: host, in: auths) as? [String: Any],
               let credential = Self.decode(entry) {
                return credential
            }
            if let store = config["credsStore"] as? String, !store.isEmpty {
                if let found = try CredentialHelper(name: store, environment: environment).get(server: host) { return found }
            }
        }
        return nil
    }

    /// containers' auth file first (skopeo's order), then docker's config.
    func authFiles() -> [String] {
        let home = environment["HOME"] ?? NSHomeDirectory()
        var files: [String] = []
        if let file = environment["REGISTRY_AUTH_FILE"], !file.isEmpty {
            files.append(file)
        } else {
            if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { files.append("\(runtime)/containers/auth.json") }
            files.append("\(home)/.config/containers/auth.json")
        }
        files.append("\(environment["DOCKER_CONFIG"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.docker")/config.json")
        return files
    }

    /// The entry of a config map for `host`: keys may be `host`, `https://host`, `http://host/v2/`;
    /// Docker Hub's is `https://index.docker.io/v1/`.
    static func entry<Value>(for host: String, in map: [String: Value]) -> Value? {
        let wanted = host == "docker.io" ? ["docker.io", "index.docker.io", "registry-1.docker.io"] : [host]
        for (key, value) in map {
            var name = Substring(key)
            for scheme in ["https://", "http://"] where name.hasPrefix(scheme) { name = name.dropFirst(scheme.count) }
            name = name.prefix { $0 != "/" }
            if wanted.contains(String(name)) { return value }
        }
        return nil
    }

    /// An `auths` entry: `auth` (base64 `user:pass`), `username`/`password`, or `identitytoken`.
    static func decode(_ entry: [String: Any]) -> Credential? {
        if let token = entry["identitytoken"] as? String, !token.isEmpty { return .identityToken(token) }
        if let user = entry["username"] as? String, let password = entry["password"] as? String, !user.isEmpty {
            return .basic(username: user, password: password)
        }
        guard let encoded = entry["auth"] as? String, let data = Data(base64Encoded: encoded),
              let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return .basic(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
    }
}

/// A `docker-credential-NAME` program: `get` reads the server on stdin and answers
/// `{"ServerURL", "Username", "Secret"}`; user `<token>` means an identity token.
struct CredentialHelper {
    let name: String
    let environment: [String: String]

    func get(server: String) throws -> Credential? {
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
            throw StorageError(.unauthorized, "credential helper '\(name)': not a helper name")
        }
        let program = "docker-credential-\(name)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program, "get"]
        process.environment = environment
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw StorageError(.unauthorized, "credential helper \(program): cannot run it")
        }
        // A helper that is missing or exits early closes its stdin: the write then fails (EPIPE),
        // which must not end ferry.
        try? input.fileHandleForWriting.write(contentsOf: Data((server == "docker.io" ? "https://index.docker.io/v1/" : server).utf8))
        try? input.fileHandleForWriting.close()
        // A helper that hangs would hold the copy forever: it gets 30 s.
        let deadline = DispatchTime.now() + .seconds(30)
        let done = DispatchSemaphore(value: 0)
        let reader = DispatchQueue(label: "ferry.credential-helper")
        nonisolated(unsafe) var data = Data()
        reader.async {
            data = output.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }
        if done.wait(timeout: deadline) == .timedOut {
            process.terminate()
            throw StorageError(.unauthorized, "credential helper \(program): no answer within 30 s")
        }
        process.waitUntilExit()
        // env answers 127 when the program is not on PATH; a helper without an entry exits 1.
        if process.terminationStatus == 127 {
            throw StorageError(.unauthorized, "credential helper \(program): not found on PATH (named by \(server == "docker.io" ? "Docker Hub" : server)'s credHelpers or credsStore)")
        }
        guard process.terminationStatus == 0 else { return nil }
        guard let answer = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let secret = answer["Secret"] as? String
        else { throw StorageError(.unauthorized, "credential helper \(program): an answer that is not its JSON") }
        let user = answer["Username"] as? String ?? ""
        return user == "<token>" ? .identityToken(secret) : .basic(username: user, password: secret)
    }
}
