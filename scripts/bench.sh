#!/usr/bin/env bash
# make bench: copy a ~1 GiB layout of incompressible layers oci: -> oci: with ferry, with
# `skopeo copy --preserve-digests` and with `cp -r`, in one run, and print the times as ratios,
# ferry's peak RSS and the hashing floor (openssl speed sha256) measured in the same run.
set -euo pipefail
FERRY=${1:-.build/release/ferry}
SIZE_MIB=${BENCH_MIB:-1024}
LAYERS=${BENCH_LAYERS:-8}
RUNS=${BENCH_RUNS:-3}
cd "$(dirname "$0")/.."
FERRY=$(realpath "$FERRY")
WORK=${BENCH_DIR:-$(pwd)/bench-work}
rm -rf "$WORK"; mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT

now() { date +%s.%N; }
# Runs a command RUNS times into a fresh destination and prints the best wall time.
best() {
    local dst=$1; shift
    local best=""
    for _ in $(seq "$RUNS"); do
        rm -rf "$dst"; sync
        local t0; t0=$(now)
        "$@" >/dev/null
        local t; t=$(echo "$(now) - $t0" | bc)
        if [ -z "$best" ] || (( $(echo "$t < $best" | bc) )); then best=$t; fi
    done
    echo "$best"
}

echo "generating a ${SIZE_MIB} MiB layout in $LAYERS layers..."
python3 scripts/gen-layout.py "$WORK/src" --size-mib "$SIZE_MIB" --layers "$LAYERS" --tag bench >/dev/null
cat "$WORK"/src/blobs/sha256/* >/dev/null   # warm the page cache for every contender alike

t_cp=$(best "$WORK/dst-cp" cp -r "$WORK/src" "$WORK/dst-cp")
t_cp_sync=$(best "$WORK/dst-cp" sh -c 'cp -r "$1" "$2" && sync' _ "$WORK/src" "$WORK/dst-cp")
t_skopeo=$(best "$WORK/dst-skopeo" skopeo copy -q --preserve-digests "oci:$WORK/src:bench" "oci:$WORK/dst-skopeo:bench")
t_ferry=$(best "$WORK/dst-ferry" "$FERRY" copy --progress none "oci:$WORK/src:bench" "oci:$WORK/dst-ferry:bench")

rm -rf "$WORK/dst-ferry"; sync
rss_kib=$( { /usr/bin/time -f '%M' "$FERRY" copy --progress none "oci:$WORK/src:bench" "oci:$WORK/dst-ferry:bench" >/dev/null; } 2>&1 | tail -1)
"$FERRY" verify "oci:$WORK/dst-ferry:bench" >/dev/null
t_verify=$(best /nonexistent "$FERRY" verify "oci:$WORK/dst-ferry")
sha=$(openssl speed -evp sha256 -bytes 1048576 -seconds 1 2>/dev/null | awk '/^sha256/ {print $NF}' | tr -d k)

bytes=$(du -sb "$WORK/src" | cut -f1)
mib=$(echo "scale=1; $bytes / 1048576" | bc)
printf '\nferry bench: oci: -> oci:, %s MiB in %s layers, best of %s runs\n' "$mib" "$LAYERS" "$RUNS"
printf '  %-34s %8.2f s\n' "cp -r" "$t_cp" "cp -r && sync (durable, like ferry)" "$t_cp_sync" "skopeo copy --preserve-digests" "$t_skopeo" "ferry copy (verifies every byte)" "$t_ferry" "ferry verify (re-hash all)" "$t_verify"
printf '  ferry vs skopeo:  %.1fx faster\n' "$(echo "$t_skopeo / $t_ferry" | bc -l)"
printf '  ferry vs cp -r:   %.2fx the time of cp -r, %.2fx the time of cp -r && sync\n' \
    "$(echo "$t_ferry / $t_cp" | bc -l)" "$(echo "$t_ferry / $t_cp_sync" | bc -l)"
printf '  ferry peak RSS:   %.1f MiB\n' "$(echo "$rss_kib / 1024" | bc -l)"
if [ -n "$sha" ]; then
    printf '  sha256 floor:     openssl speed -evp sha256 = %.0f MB/s on one core; ferry copy ran at %.0f MB/s\n' \
        "$(echo "$sha / 1000" | bc -l)" "$(echo "$bytes / $t_ferry / 1000000" | bc -l)"
fi
