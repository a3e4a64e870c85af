#!/usr/bin/env bash
# The main job on the shipped fixtures: copy, inspect, list and verify real layouts that umoci
# and skopeo wrote, and show that a second copy moves nothing; carry them through tarballs, an
# Epoch bucket, a cocoon root and a registry.
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
echo "A cocoon VM snapshot: export tarball -> layout tarball -> Epoch bucket -> a cocoon root, sparse disk and all:"
step "$FERRY" inspect --created 2026-04-24T00:00:00Z cocoon-archive:fixtures/cocoon-export.tar
step "$FERRY" copy --progress plain cocoon-archive:fixtures/cocoon-export.tar "oci-archive:$WORK/snapshot.tar:v1"
step "$FERRY" copy --progress plain "oci-archive:$WORK/snapshot.tar:v1" "epoch:$WORK/bucket#snapshots/mysnap:v1"
step "$FERRY" copy --progress plain "epoch:$WORK/bucket#snapshots/mysnap:v1" "cocoon:$WORK/cocoon#restored"
step cat "$WORK/cocoon/snapshot/db/snapshots.json"
disk=$(ls "$WORK"/cocoon/snapshot/localfile/*/overlay.qcow2)
step du -h --apparent-size "$disk"
step du -h "$disk"
step "$FERRY" copy --progress plain "cocoon:$WORK/cocoon#restored" "cocoon-archive:$WORK/restored.tar.gz"
step python3 scripts/gen-cocoon.py check-export "$WORK/restored.tar.gz"
echo
echo "A cloud disk in 16 MiB parts, and assembled again:"
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT); os.truncate(fd, 40 << 20); os.pwrite(fd, b"QFI\xfb" + os.urandom(3 << 20), 0)' "$WORK/win.qcow2"
step "$FERRY" copy --progress plain --part-size 16M "disk:$WORK/win.qcow2" "epoch:$WORK/bucket#win11:25h2"
step "$FERRY" copy --progress plain "epoch:$WORK/bucket#win11:25h2" "disk:$WORK/win-again.qcow2"
step cmp "$WORK/win.qcow2" "$WORK/win-again.qcow2"

echo
echo "Seed a registry (the CNCF registry on 127.0.0.1, plain HTTP) from the air-gapped layout, and pull back:"
bash scripts/registry.sh start "$WORK/registry" plain >/dev/null
trap 'bash scripts/registry.sh stop "$WORK/registry"; rm -rf "$WORK"' EXIT
registry=$(grep '^plain=' "$WORK/registry/ports" | cut -d= -f2)
step "$FERRY" sync --progress plain --tls-verify=false "oci:$WORK/airgap" "docker://127.0.0.1:$registry/mirror"
step "$FERRY" ls --tls-verify=false "docker://127.0.0.1:$registry"
step "$FERRY" copy --progress plain --tls-verify=false "cocoon:$WORK/cocoon#restored" "docker://127.0.0.1:$registry/snapshots/restored:v1"
step "$FERRY" copy --progress plain --tls-verify=false "docker://127.0.0.1:$registry/snapshots/restored:v1" "cocoon:$WORK/cocoon#from-registry"
step "$FERRY" verify --tls-verify=false "docker://127.0.0.1:$registry"

echo
echo "Flip one byte of a blob and verify again (expect exit 1):"
blob=$(ls "$WORK/mirror/blobs/sha256" | head -1)
chmod u+w "$WORK/mirror/blobs/sha256/$blob"
printf 'X' | dd of="$WORK/mirror/blobs/sha256/$blob" bs=1 seek=10 conv=notrunc status=none
set +e
"$FERRY" verify "oci:$WORK/mirror"
echo "exit status: $?"
