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
echo "Carry the whole mirror as one file, unpack it elsewhere, seed an Epoch bucket from it:"
step "$FERRY" sync --progress plain "oci:$WORK/mirror" "oci-archive:$WORK/mirror.tar.zst"
step "$FERRY" ls "oci-archive:$WORK/mirror.tar.zst"
step "$FERRY" copy --progress plain oci:fixtures/umoci-layout:v2 "oci-archive:$WORK/plain.tar:v2"
step python3 -c 'import sys, tarfile; [print(oct(m.mode), m.size, m.name) for m in tarfile.open(sys.argv[1])]' "$WORK/plain.tar"
step "$FERRY" sync --progress plain "oci-archive:$WORK/mirror.tar.zst" "oci:$WORK/airgap"
step "$FERRY" copy --progress plain "oci-archive:$WORK/plain.tar:v2" "epoch:$WORK/bucket#team/app:v2"
step "$FERRY" copy --progress plain --all oci:fixtures/multiarch-layout:latest "epoch:$WORK/bucket#team/multi:latest"
step find "$WORK/bucket" -type f
step cat "$WORK/bucket/epoch/catalog.json"
echo
step "$FERRY" verify "epoch:$WORK/bucket"

echo
echo "Flip one byte of a blob and verify again (expect exit 1):"
blob=$(ls "$WORK/mirror/blobs/sha256" | head -1)
chmod u+w "$WORK/mirror/blobs/sha256/$blob"
printf 'X' | dd of="$WORK/mirror/blobs/sha256/$blob" bs=1 seek=10 conv=notrunc status=none
set +e
"$FERRY" verify "oci:$WORK/mirror"
echo "exit status: $?"
