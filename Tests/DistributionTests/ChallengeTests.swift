import Foundation
import Testing
import HTTPSupport
@testable import Distribution

/// The pieces of the registry client that need no server: challenges, links, credentials.
@Suite struct ChallengeTests {
    @Test func bearerChallengesKeepQuotedCommas() throws {
        let challenge = try #require(Challenge(header: #"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#))
        #expect(challenge.scheme == "bearer")
        #expect(challenge.parameters == ["realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:a/b:pull,push"])
        #expect(Challenge(header: #"Basic realm="Registry Realm""#)?.scheme == "basic")
    }

    @Test func nextLinksAreFollowedRelativeToThePage() throws {
        let page = URL(string: "https://r.example/v2/_catalog?n=2")!
        #expect(RegistryStore.nextLink(#"</v2/_catalog?last=b&n=2>; rel="next""#, after: page) == "https://r.example/v2/_catalog?last=b&n=2")
        #expect(RegistryStore.nextLink(#"<https://r.example/v2/x/tags/list?last=v2>; rel=next"#, after: page) == "https://r.example/v2/x/tags/list?last=v2")
        #expect(RegistryStore.nextLink(#"</v2/_catalog?last=b>; rel="prev""#, after: page) == nil)
    }

    @Test func dockerConfigEntriesAreFoundByHost() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-creds-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let config = #"{"auths":{"https://index.docker.io/v1/":{"auth":"\#(Data("hub:secret".utf8).base64EncodedString())"},"localhost:5000":{"username":"u","password":"p"},"ghcr.io":{"identitytoken":"tok"}}}"#
        try Data(config.utf8).write(to: scratch.appendingPathComponent("config.json"))
        let source = CredentialSource(environment: ["HOME": scratch.path, "DOCKER_CONFIG": scratch.path])
        #expect(try source.credential(for: "docker.io") == .basic(username: "hub", password: "secret"))
        #expect(try source.credential(for: "localhost:5000") == .basic(username: "u", password: "p"))
        #expect(try source.credential(for: "ghcr.io") == .identityToken("tok"))
        #expect(try source.credential(for: "quay.io") == nil)
        // The command line and the registry token come first.
        #expect(try CredentialSource(explicit: .basic(username: "a", password: "b"), environment: ["HOME": scratch.path]).credential(for: "docker.io") == .basic(username: "a", password: "b"))
        #expect(try CredentialSource(environment: ["HOME": scratch.path, "EPOCH_REGISTRY_TOKEN": "raw"]).credential(for: "x.io") == .bearer("raw"))
    }
}

@Suite struct RegistryHostTests {
    @Test func dockerHubIsServedByRegistryOne() throws {
        #expect(try RegistryTransport(host: "docker.io", credential: nil, trust: Trust()).apiHost == "registry-1.docker.io")
        #expect(try RegistryTransport(host: "ghcr.io", credential: nil, trust: Trust()).apiHost == "ghcr.io")
    }
}
