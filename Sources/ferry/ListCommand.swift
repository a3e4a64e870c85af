import ArgumentParser
import FerryCore
import OCI

extension Ferry {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls",
            abstract: "List the repositories of a location, or the tags of one.",
            discussion: "A layout has no repositories of its own: `ferry ls oci:DIR` lists its tags as index.json writes them; `ferry ls oci:DIR NAME` the tags of the full references NAME:TAG.")

        @Argument(help: "A location, e.g. oci:DIR.") var location: String
        @Argument(help: "A repository name: list its tags.") var name: String?
        @Flag(name: .long, help: "Print one JSON object.") var json = false

        @OptionGroup var network: NetworkOptions

        func run() async throws {
            let store = try network.backends.open(try Location(parsing: location))
            if let name {
                let tags = try await store.tags(in: name)
                if json { Output.json(["name": name, "tags": tags]) } else { tags.forEach(Output.line) }
                return
            }
            let repositories = try await store.repositories()
            var lines: [String] = []
            for repository in repositories {
                // The unnamed repository of a layout shows as its tags.
                lines += repository.isEmpty ? try await store.tags(in: "") : [repository]
            }
            if json { Output.json(["repositories": repositories, "entries": lines]) } else { lines.forEach(Output.line) }
        }
    }
}
