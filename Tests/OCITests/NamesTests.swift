import Testing

import OCI

@Suite("Names")
struct NamesTests {
    @Test(arguments: [
        "a", "a/b", "a.b", "a__b", "a--b", "a---b", "a-b_c.d", "a_b", "0", "library/ubuntu", "team/sub/app-1.2",
        "cocoonstack/windows/win11", "a0/b1/c2/d3", String(repeating: "a", count: 255),
    ])
    func validRepositories(name: String) throws {
        #expect(Names.isValidRepository(name))
        try Names.validateRepository(name)
    }

    @Test(arguments: [
        "A", "a_", "_a", "a///b", "a/", "/a", "a___b", "", "a..b", "a._b", "a-", "-a", ".a", "a.", "a//b",
        "Team/app", "a b", "a:b", "a@b", "é", String(repeating: "a", count: 256), "a/B",
    ])
    func invalidRepositories(name: String) {
        #expect(!Names.isValidRepository(name))
        let error = #expect(throws: ValidationError.self) { try Names.validateRepository(name) }
        #expect(error?.input == name)
    }

    @Test(arguments: [
        "v1", "latest", "V1.2.3", "_private", "a", "1", "v1-rc.2_b", "A-._z",
        String(repeating: "t", count: 128),
    ])
    func validTags(tag: String) throws {
        #expect(Names.isValidTag(tag))
        try Names.validateTag(tag)
    }

    @Test(arguments: [
        "", ".v1", "-v1", "v1:2", "v/1", "v 1", "v!", "tag@x", "é", String(repeating: "t", count: 129),
    ])
    func invalidTags(tag: String) {
        #expect(!Names.isValidTag(tag))
        let error = #expect(throws: ValidationError.self) { try Names.validateTag(tag) }
        #expect(error?.input == tag)
    }

    @Test func tagLengthBoundary() {
        #expect(Names.isValidTag("v" + String(repeating: "1", count: 127)))
        #expect(!Names.isValidTag("v" + String(repeating: "1", count: 128)))
    }

    @Test func splitTag() throws {
        let plain = try #require(Names.splitTag("app:v1"))
        #expect(plain.repository == "app")
        #expect(plain.tag == "v1")

        let withPort = try #require(Names.splitTag("example.com:5000/app:v1"))
        #expect(withPort.repository == "example.com:5000/app")
        #expect(withPort.tag == "v1")

        let nested = try #require(Names.splitTag("example.com/team/app:1.0"))
        #expect(nested.repository == "example.com/team/app")
        #expect(nested.tag == "1.0")

        #expect(Names.splitTag("example.com:5000/app") == nil)
        #expect(Names.splitTag("app") == nil)
        #expect(Names.splitTag("team/app") == nil)
        #expect(Names.splitTag("") == nil)

        let empty = try #require(Names.splitTag("app:"))
        #expect(empty.repository == "app")
        #expect(empty.tag == "")
    }

    @Test(arguments: [
        "localhost", "localhost:5000", "example.com", "example.com:443", "a-b.example.com", "Registry.Example.COM",
        "127.0.0.1:5000", "h:0", "h:65535",
    ])
    func validHosts(host: String) {
        #expect(Names.isValidHost(host))
    }

    @Test(arguments: [
        "", ":5000", "host:", "host:65536", "host:abc", "host:-1", "-host", "host-", "a..b", ".host", "host.",
        "ho_st", "host/app", "host:50:00",
    ])
    func invalidHosts(host: String) {
        #expect(!Names.isValidHost(host))
    }

    @Test func qualifiedRepositories() {
        #expect(Names.isValidQualifiedRepository("app"))
        #expect(Names.isValidQualifiedRepository("team/app"))
        #expect(Names.isValidQualifiedRepository("example.com/app"))
        #expect(Names.isValidQualifiedRepository("example.com:5000/team/app"))
        #expect(Names.isValidQualifiedRepository("Example.com/app"))
        #expect(!Names.isValidQualifiedRepository("example.com:5000"))
        #expect(!Names.isValidQualifiedRepository("example.com:5000/App"))
        #expect(!Names.isValidQualifiedRepository("host:99999/app"))
        #expect(!Names.isValidQualifiedRepository(""))
    }
}
