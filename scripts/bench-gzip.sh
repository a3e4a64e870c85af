#!/usr/bin/env bash
# make bench, gzip part (issue 16): ferry writing and reading oci-archive:.tar.gz (ISA-L at level
# 1) beside `tar | gzip -1`, `| pigz -1`, `| igzip -1` and `gzip -dc | tar x`, `igzip -dc | tar x`,
# on the incompressible bench layout and on a compressible one (a layer that is a tar of
# /usr/lib), with ferry's peak RSS.
#   scripts/bench-gzip.sh FERRY WORK_DIR   (WORK_DIR/src must hold the layout, tag `bench`)
set -euo pipefail
FERRY=$(realpath "${1:?ferry binary}")
WORK=${2:?work directory}
RUNS=${BENCH_RUNS:-3}
cd "$(dirname "$0")/.."
state="$WORK/gzip-bench"
rm -rf "$state"; mkdir -p "$state"
now() { date +%s.%N; }
best() {   # best wall time of RUNS runs of a shell command line
    local b=""
    for _ in $(seq "$RUNS"); do
        rm -rf "$state/out" "$state/out.tar.gz"; sync
        local t0; t0=$(now); bash -c "$1" >/dev/null; local t; t=$(echo "$(now) - $t0" | bc)
        if [ -z "$b" ] || (( $(echo "$t < $b" | bc) )); then b=$t; fi
    done
    echo "$b"
}

# The compressible layout: one layer holding a tar of /usr/lib (up to 512 MiB of it).
tar cf - -C /usr lib 2>/dev/null | head -c $((512 << 20)) > "$state/usrlib.raw" || true
"$FERRY" copy --progress none "disk:$state/usrlib.raw" "oci:$state/compressible:bench" >/dev/null
rm -f "$state/usrlib.raw"

printf '\nferry bench: oci-archive:.tar.gz through ISA-L (level 1)\n'
for layout in "$WORK/src" "$state/compressible"; do
    what=$([ "$layout" = "$WORK/src" ] && echo "incompressible layers" || echo "a tar of /usr/lib")
    size=$(du -sb "$layout" | cut -f1)
    t_ferry_w=$(best "'$FERRY' copy --progress none 'oci:$layout:bench' 'oci-archive:$state/out.tar.gz'")
    rss_w=$( { /usr/bin/time -f '%M' "$FERRY" copy --progress none "oci:$layout:bench" "oci-archive:$state/f.tar.gz" >/dev/null; } 2>&1 | tail -1)
    t_gzip_w=$(best "tar cf - -C '$layout' . | gzip -1 > '$state/out.tar.gz'")
    t_pigz_w=$(best "tar cf - -C '$layout' . | pigz -1 > '$state/out.tar.gz'")
    t_igzip_w=$(best "tar cf - -C '$layout' . | igzip -1 -c > '$state/out.tar.gz'")
    t_ferry_r=$(best "'$FERRY' copy --progress none 'oci-archive:$state/f.tar.gz:bench' 'oci:$state/out:bench'")
    rss_r=$( { /usr/bin/time -f '%M' "$FERRY" copy --progress none "oci-archive:$state/f.tar.gz:bench" "oci:$state/back:bench" >/dev/null; } 2>&1 | tail -1)
    t_gzip_r=$(best "mkdir -p '$state/out' && gzip -dc '$state/f.tar.gz' | tar xf - -C '$state/out'")
    t_igzip_r=$(best "mkdir -p '$state/out' && igzip -dc '$state/f.tar.gz' | tar xf - -C '$state/out'")
    gz=$(stat -c %s "$state/f.tar.gz"); gz1=$(tar cf - -C "$layout" . | gzip -1 | wc -c)
    gzip -t "$state/f.tar.gz"
    printf '  %s (%.0f MiB; ferry .tar.gz %.0f MiB, gzip -1 %.0f MiB)\n' "$what" "$(echo "$size/1048576" | bc -l)" "$(echo "$gz/1048576" | bc -l)" "$(echo "$gz1/1048576" | bc -l)"
    printf '    %-40s %7.2f s  %6.1f MiB RSS\n' "ferry oci: -> oci-archive:.tar.gz" "$t_ferry_w" "$(echo "$rss_w/1024" | bc -l)"
    printf '    %-40s %7.2f s\n' "tar cf - | gzip -1" "$t_gzip_w" "tar cf - | pigz -1" "$t_pigz_w" "tar cf - | igzip -1" "$t_igzip_w"
    printf '    %-40s %7.2f s  %6.1f MiB RSS\n' "ferry oci-archive:.tar.gz -> oci:" "$t_ferry_r" "$(echo "$rss_r/1024" | bc -l)"
    printf '    %-40s %7.2f s\n' "gzip -dc | tar xf -" "$t_gzip_r" "igzip -dc | tar xf -" "$t_igzip_r"
    printf '    write: %.2fx the time of tar | igzip -1 (target <= 1.5), %.1fx faster than tar | gzip -1\n' \
        "$(echo "$t_ferry_w / $t_igzip_w" | bc -l)" "$(echo "$t_gzip_w / $t_ferry_w" | bc -l)"
    printf '    read:  %.2fx the time of igzip -dc | tar xf - (target <= 1.5), %.1fx faster than gzip -dc | tar xf -\n' \
        "$(echo "$t_ferry_r / $t_igzip_r" | bc -l)" "$(echo "$t_gzip_r / $t_ferry_r" | bc -l)"
    rm -rf "$state/back" "$state/f.tar.gz"
done
