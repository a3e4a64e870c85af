#!/bin/bash
# `make test`'s last step: `make install` into a scratch PREFIX (a debug build, to spare a release
# build), then checks that the binary runs, `man ferry` finds the page, each shell loads its
# completion from where it was installed, and `make uninstall` takes everything away again.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$prefix" "$log"' EXIT
fail() { echo "check-install: $*" >&2; exit 1; }

make --no-print-directory install PREFIX="$prefix" CONFIGURATION=debug >"$log" 2>&1 || { cat "$log"; fail "make install failed"; }
"$prefix/bin/ferry" --version >/dev/null || fail "the installed ferry does not run"
"$prefix/bin/ferry" --help | grep -q "USAGE: ferry <subcommand>" || fail "ferry --help prints no usage"

page=$(MANPATH="$prefix/share/man" man -P cat ferry 2>"$log") || fail "man ferry finds no page under $prefix/share/man"
[ ! -s "$log" ] || fail "man ferry warns: $(head -3 "$log")"
for text in "ferry copy" "ferry sync" "--json" "oci-archive:FILE"; do
    grep -qF -- "$text" <<<"$page" || fail "the man page does not mention '$text'"
done

work=$(mktemp -d -p "$prefix")
mkdir "$work/layout"
# bash-completion finds the file by the command's name under XDG_DATA_DIRS, as it does for /usr/local/share.
reply=$(cd "$work" && XDG_DATA_DIRS="$prefix/share" PATH="$prefix/bin:$PATH" bash -c '
    source /usr/share/bash-completion/bash_completion
    __load_completion ferry || exit 3
    COMP_LINE="ferry copy oci:lay"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(ferry copy oci : lay); COMP_CWORD=4
    _ferry_whole_words ferry lay :
    printf "%s\n" "${COMPREPLY[@]}"') || fail "bash does not load the installed completion"
[ "$reply" = "layout/" ] || fail "bash completes 'oci:lay' to '$reply', not 'layout/'"
zsh -f -c "fpath=($prefix/share/zsh/site-functions \$fpath); autoload -U compinit; compinit -u -D; (( \${+_comps[ferry]} ))" \
    || fail "zsh does not find _ferry in site-functions"
fish --no-config -c "source $prefix/share/fish/vendor_completions.d/ferry.fish; complete -c ferry | grep -q -- '---completion copy'" \
    || fail "fish does not load the installed completion"

make --no-print-directory uninstall PREFIX="$prefix" >/dev/null
left=$(find "$prefix" -type f -not -path "$work/*")
[ -z "$left" ] || fail "make uninstall left: $left"
echo "check-install: make install and make uninstall under a scratch PREFIX: ok"
