import FerryCore
import Foundation
import OCI

extension RegistryStore {
    /// `_catalog`, every page; under a prefix, the repositories below it, named relative to it.
    public func repositories() async throws -> [String] {
        let names = try await pages(path: "/v2/_catalog", key: "repositories", scope: .catalog, what: "\(displayName): list the catalog")
        guard !prefix.isEmpty else { return names.sorted() }
        return names.compactMap { name -> String? in
            if name == prefix { return "" }
            return name.hasPrefix(prefix + "/") ? String(name.dropFirst(prefix.count + 1)) : nil
        }.sorted()
    }

    /// `tags/list`, every page.
    public func tags(in repository: String) async throws -> [String] {
        let name = try self.name(repository)
        return try await pages(path: "/v2/\(name)/tags/list", key: "tags", scope: .pull(name), what: "\(at(name)): list the tags").sorted()
    }

    /// Reads a listing page by page, following `Link: <…>; rel="next"`, at most 10,000 pages.
    private func pages(path: String, key: String, scope: Scope, what: String) async throws -> [String] {
        var found: [String] = []
        var next: String? = path
        var query = [("n", "\(pageSize)")]
        var pages = 0
        while let current = next, pages < 10_000 {
            pages += 1
            let response = try await transport.send(RegistryTransport.Request(
                method: .GET, path: current, query: query, scope: scope, operation: what))
            if response.status == .notFound, key == "tags" {
                await response.discard()
                throw StorageError(.nameUnknown, "\(what): no such repository")
            }
            guard response.status == .ok else {
                let body = (try? await response.collect(upTo: 64 << 10)) ?? []
                throw RegistryErrors.failure(status: response.status, body: body, operation: what)
            }
            let body = try await response.collect(upTo: 32 << 20)
            guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
                throw StorageError(.unknown, "\(what): an answer that is not JSON")
            }
            found += (object[key] as? [String]) ?? []
            next = response.headers.first(name: "Link").flatMap { Self.nextLink($0, after: response.url) }
            query = []
        }
        return found
    }

    /// The target of `rel="next"` in a `Link` header, as an absolute URL.
    static func nextLink(_ header: String, after url: URL) -> String? {
        for link in header.split(separator: ",") {
            let parts = link.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let target = parts.first, target.hasPrefix("<"), target.hasSuffix(">"),
                  parts.dropFirst().contains(where: { $0.replacingOccurrences(of: "\"", with: "") == "rel=next" })
            else { continue }
            return URL(string: String(target.dropFirst().dropLast()), relativeTo: url)?.absoluteString
        }
        return nil
    }
}
