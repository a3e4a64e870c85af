#!/usr/bin/env bash
# The main job on the shipped fixtures: copy, inspect, list and verify real layouts that umoci
# and skopeo wrote, and show that a second copy moves nothing.
set -euo pipefail
FERRY=${1:-.build/debug/ferry}
cd "$(dirname "$0")/.."
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$FERRY" inspect oci:fixtures/umoci-layout:v2
step "$FERRY" copy --progress plain oci:fixtures/umoci-layout:v1 "oci:$WORK/mirror"
step "$FERRY" copy --progress plain oci:fixtures/umoci-layout:v2 "oci:$WORK/mirror"
step "$FERRY" copy --progress plain --all oci:fixtures/multiarch-layout:latest "oci:$WORK/mirror:multi"
step "$FERRY" copy --progress plain --platform linux/arm64 oci:fixtures/multiarch-layout:latest "oci:$WORK/mirror:arm64"
step "$FERRY" copy --json oci:fixtures/skopeo-layout:v1 "oci:$WORK/mirror:again"
step "$FERRY" ls "oci:$WORK/mirror"
step "$FERRY" verify "oci:$WORK/mirror"
if command -v skopeo >/dev/null; then step skopeo inspect --format '{{.Digest}} {{.Architecture}}' "oci:$WORK/mirror:arm64"; fi
if command -v umoci >/dev/null; then step umoci ls --layout "$WORK/mirror"; fi
echo
echo "Flip one byte of a blob and verify again (expect exit 1):"
blob=$(ls "$WORK/mirror/blobs/sha256" | head -1)
chmod u+w "$WORK/mirror/blobs/sha256/$blob"
printf 'X' | dd of="$WORK/mirror/blobs/sha256/$blob" bs=1 seek=10 conv=notrunc status=none
set +e
"$FERRY" verify "oci:$WORK/mirror"
echo "exit status: $?"
