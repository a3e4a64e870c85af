import ArgumentParser
import FerryCore
import OCI

extension Ferry {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls",
            abstract: "List the repositories of a location, or the tags of one.",
            discussion: """
                A layout has no repositories of its own: `ferry ls oci:DIR` lists its tags as index.json \
                writes them; `ferry ls oci:DIR NAME` the tags of the full references NAME:TAG. A cocoon \
                root or export lists its snapshots.

                Locations: \(Location.forms.joined(separator: ", ")).

                Examples:
                  ferry ls oci:./layout
                  ferry ls epoch:/srv/bucket team/app
                """)

        @Argument(help: "A location, e.g. oci:DIR.", completion: Completion.reference) var location: String
        @Argument(help: "A repository name: list its tags.") var name: String?
        @Flag(name: .long, help: "Print one JSON object per line: a repository or tag event per entry, a summary last.") var json = false

        @OptionGroup var network: NetworkOptions

        func validate() throws {
            _ = try Arguments.location(location)
        }

        func run() async throws {
            let store = try network.backends.open(try Arguments.location(location))
            if let name {
                let tags = try await store.tags(in: name)
                if json {
                    tags.forEach { Output.event("tag", ["repository": name, "tag": $0]) }
                    Output.event("summary", ["location": location, "repository": name, "tags": tags.count])
                } else {
                    tags.forEach(Output.line)
                }
                return
            }
            var repositories = 0
            var tags = 0
            for repository in try await store.repositories() {
                // The unnamed repository of a layout shows as its tags.
                if repository.isEmpty {
                    for tag in try await store.tags(in: "") {
                        tags += 1
                        if json { Output.event("tag", ["repository": "", "tag": tag]) } else { Output.line(tag) }
                    }
                } else {
                    repositories += 1
                    if json { Output.event("repository", ["name": repository]) } else { Output.line(repository) }
                }
            }
            if json { Output.event("summary", ["location": location, "repositories": repositories, "tags": tags]) }
        }
    }
}
