import ArgumentParser
import Foundation

/// Shell completion of references and locations: the transport prefixes first, then paths for
/// the transports that name a file or directory. The scripts are argument-parser's; bash's gets
/// a wrapper because bash splits words at the `:` every reference has.
enum Completion {
    /// The transport prefixes, as the shell offers them.
    static let transports = ["oci:", "oci-archive:", "epoch:", "cocoon:", "cocoon-archive:", "disk:", "docker://"]

    /// The completion of a reference or location argument.
    static let reference = CompletionKind.custom { _, _, prefix in
        let shell = CompletionShell.requesting?.rawValue ?? ProcessInfo.processInfo.environment["SAP_SHELL"]
        let found = candidates(completing: prefix)
        // zsh's _describe reads `value:description`: a colon in a value is written `\:`.
        return shell == "zsh" ? found.map { $0.replacingOccurrences(of: ":", with: "\\:") } : found
    }

    /// What `prefix` may become: a transport while there is no `:`, then a path for the transports
    /// that name a file or directory (up to a `#`, after which comes a name Ferry cannot guess).
    static func candidates(completing prefix: String) -> [String] {
        guard let colon = prefix.firstIndex(of: ":") else {
            return transports.filter { $0.hasPrefix(prefix) }
        }
        let transport = String(prefix[...colon])
        let path = String(prefix[prefix.index(after: colon)...])
        guard transports.contains(transport), !path.contains("#"), !path.hasPrefix("s3://") else {
            return transports.filter { $0.hasPrefix(prefix) && $0 != prefix }
        }
        return paths(completing: path).map { transport + $0 }
    }

    /// The entries of the directory `partial` names up to its last `/` whose names start with
    /// the rest; directories end with `/`. Hidden entries only when asked for with a leading dot.
    static func paths(completing partial: String) -> [String] {
        let directory = partial.lastIndex(of: "/").map { String(partial[...$0]) } ?? ""
        let stem = String(partial.dropFirst(directory.count))
        let listed = directory.isEmpty ? "." : directory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: listed) else { return [] }
        return names.filter { $0.hasPrefix(stem) && (stem.hasPrefix(".") || !$0.hasPrefix(".")) }.sorted().map { name in
            var isDirectory: ObjCBool = false
            let full = directory + name
            FileManager.default.fileExists(atPath: listed == "." ? name : full, isDirectory: &isDirectory)
            return isDirectory.boolValue ? full + "/" : full
        }
    }

    /// `ferry --generate-completion-script SHELL`, or nil for any other command line.
    static func script(for arguments: [String]) -> String? {
        let shell: String
        switch arguments.count {
        case 1 where arguments[0].hasPrefix("--generate-completion-script="):
            shell = String(arguments[0].dropFirst("--generate-completion-script=".count))
        case 2 where arguments[0] == "--generate-completion-script":
            shell = arguments[1]
        default:
            return nil
        }
        switch shell {
        case "bash":
            return Ferry.completionScript(for: .bash) + bashWholeWords
        case "fish":
            // fish 3 gives the current token's text where argument-parser reads the cursor's
            // offset in it; pass the offset.
            return Ferry.completionScript(for: .fish).replacingOccurrences(of: "(__ferry_tokens -tC)", with: "(__ferry_cursor_offset)")
                + fishCursorOffset
        default:
            return nil
        }
    }

    /// The cursor's offset in the token being completed, as argument-parser's completion reads it.
    static let fishCursorOffset = """

        function __ferry_cursor_offset
            string length -- "$(commandline -ct)"
        end

        """

    /// Completes whole references in bash: the words are split again at blanks only (as
    /// bash-completion's `_get_comp_words_by_ref -n :` does), and bash is handed back only what
    /// follows the current word's last `:`, the part it replaces. Transports and directories are
    /// not finished words: no space is added after them.
    static let bashWholeWords = #"""

        # ferry: references hold ':' (oci:DIR:TAG), where bash splits words.
        _ferry_whole_words() {
            local COMP_LINE="${COMP_LINE:0:COMP_POINT}"
            local -i COMP_POINT="${#COMP_LINE}"
            local -a COMP_WORDS
            read -ra COMP_WORDS <<<"${COMP_LINE}"
            if [[ "${COMP_LINE}" =~ [[:space:]]$ || "${#COMP_WORDS[@]}" -eq 0 ]]; then
                COMP_WORDS+=('')
            fi
            local -i COMP_CWORD="$((${#COMP_WORDS[@]} - 1))"
            local word="${COMP_WORDS[COMP_CWORD]}"
            local previous=''
            [[ "${COMP_CWORD}" -gt 0 ]] && previous="${COMP_WORDS[COMP_CWORD - 1]}"
            COMPREPLY=()
            _ferry "${1}" "${word}" "${previous}"
            local reply
            for reply in "${COMPREPLY[@]}"; do
                [[ "${reply}" == *[:/] ]] && compopt -o nospace 2>/dev/null
            done
            if [[ "${word}" == *:* ]]; then
                local colon_prefix="${word%"${word##*:}"}"
                COMPREPLY=("${COMPREPLY[@]#"${colon_prefix}"}")
            fi
        }

        complete -F _ferry_whole_words ferry

        """#
}
