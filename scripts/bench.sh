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

# Runs a command with TMPDIR set to an empty folder, sampling how much it puts there; prints
# "seconds peak-extra-bytes peak-rss-kib".
measure_once() {
    local tmp="$WORK/tmp"; rm -rf "$tmp"; mkdir -p "$tmp"; sync
    local peak=0 t0; t0=$(now)
    TMPDIR="$tmp" /usr/bin/time -o "$WORK/rss" -f '%M' "$@" >/dev/null 2>"$WORK/err" &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        local used; used=$(du -sb "$tmp" 2>/dev/null | cut -f1); (( used > peak )) && peak=$used
        sleep 0.1
    done
    wait "$pid" || { cat "$WORK/err" >&2; return 1; }
    echo "$(echo "$(now) - $t0" | bc) $peak $(cat "$WORK/rss")"
}

# measure DST CMD...: the best time of ARCHIVE_RUNS runs (DST removed before each), with the
# largest extra disk and RSS seen.
measure() {
    local dst=$1; shift
    local best="" peak=0 rss=0
    for _ in $(seq "${ARCHIVE_RUNS:-2}"); do
        rm -rf "$dst"
        read -r t x r < <(measure_once "$@")
        if [ -z "$best" ] || (( $(echo "$t < $best" | bc) )); then best=$t; fi
        (( x > peak )) && peak=$x; (( r > rss )) && rss=$r
    done
    echo "$best $peak $rss"
}

archive_rows=()
row() { archive_rows+=("$(printf '  %-44s %7.2f s  %8.1f MiB extra disk  %6.1f MiB RSS' "$1" "$2" "$(echo "$3/1048576" | bc -l)" "$(echo "$4/1024" | bc -l)")"); }
for kind in tar tar.gz; do
    read -r t x r < <(measure "$WORK/a.$kind" "$FERRY" copy --progress none "oci:$WORK/src:bench" "oci-archive:$WORK/a.$kind"); row "ferry oci: -> oci-archive:.$kind" "$t" "$x" "$r"
    eval "t_ferry_w_${kind//./_}=$t"
    read -r t x r < <(measure "$WORK/s.$kind" skopeo --tmpdir "$WORK/tmp" copy -q --preserve-digests "oci:$WORK/src:bench" "oci-archive:$WORK/s.$kind:bench"); row "skopeo oci: -> oci-archive:.$kind" "$t" "$x" "$r"
    eval "t_skopeo_w_${kind//./_}=$t"
    read -r t x r < <(measure "$WORK/back" "$FERRY" copy --progress none "oci-archive:$WORK/a.$kind:bench" "oci:$WORK/back:bench"); row "ferry oci-archive:.$kind -> oci:" "$t" "$x" "$r"
    eval "t_ferry_r_${kind//./_}=$t"
    "$FERRY" verify "oci:$WORK/back:bench" >/dev/null
    read -r t x r < <(measure "$WORK/back" skopeo --tmpdir "$WORK/tmp" copy -q --preserve-digests "oci-archive:$WORK/a.$kind:bench" "oci:$WORK/back:bench"); row "skopeo oci-archive:.$kind -> oci:" "$t" "$x" "$r"
    eval "t_skopeo_r_${kind//./_}=$t"
done
rm -f "$WORK/t.tar"; sync
t_tar_c=$(best "$WORK/t.tar" tar cf "$WORK/t.tar" -C "$WORK/src" .)
mkdir -p "$WORK/x"; t_tar_x=$(best "$WORK/x/out" sh -c 'mkdir -p "$1" && tar xf "$2" -C "$1"' _ "$WORK/x/out" "$WORK/t.tar")

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

printf '\nferry bench: oci-archive:, the same layout\n'
printf '%s\n' "${archive_rows[@]}"
printf '  %-44s %7.2f s\n' "tar cf (reference)" "$t_tar_c" "tar xf (reference)" "$t_tar_x"
printf '  .tar write: %.1fx faster than skopeo, %.2fx the time of tar cf\n' "$(echo "$t_skopeo_w_tar / $t_ferry_w_tar" | bc -l)" "$(echo "$t_ferry_w_tar / $t_tar_c" | bc -l)"
printf '  .tar read:  %.1fx faster than skopeo, %.2fx the time of tar xf\n' "$(echo "$t_skopeo_r_tar / $t_ferry_r_tar" | bc -l)" "$(echo "$t_ferry_r_tar / $t_tar_x" | bc -l)"
printf '  .tar.gz read: %.1fx faster than skopeo\n' "$(echo "$t_skopeo_r_tar_gz / $t_ferry_r_tar_gz" | bc -l)"
printf '  .tar.gz write: ferry takes %.2fx the time of skopeo, but skopeo writes %s for a .tar.gz name\n' \
    "$(echo "$t_ferry_w_tar_gz / $t_skopeo_w_tar_gz" | bc -l)" "$(file -b "$WORK/s.tar.gz" | cut -d, -f1)"

# Sparse: a cocoon snapshot whose disk is 16 GiB long and holds 64 MiB of data, exported to
# oci-archive: and imported back into a cocoon root, beside GNU tar --sparse on the same files.
python3 scripts/gen-cocoon.py root "$WORK/cocoon" --name big --disk-size $((16 << 30)) --disk-data $((64 << 20)) >/dev/null
data_dir=$(ls -d "$WORK"/cocoon/snapshot/localfile/*)
cat "$data_dir"/* >/dev/null 2>&1 || true
t_export=$(best "$WORK/snap.tar" "$FERRY" copy --progress none "cocoon:$WORK/cocoon#big" "oci-archive:$WORK/snap.tar")
t_import=""
for i in $(seq "$RUNS"); do
    rm -rf "$WORK/cocoon-back"; sync
    t0=$(now); "$FERRY" copy --progress none "oci-archive:$WORK/snap.tar" "cocoon:$WORK/cocoon-back#big" >/dev/null; t=$(echo "$(now) - $t0" | bc)
    if [ -z "$t_import" ] || (( $(echo "$t < $t_import" | bc) )); then t_import=$t; fi
done
t_tar_sc=$(best "$WORK/gnu.tar" tar --sparse -cf "$WORK/gnu.tar" -C "$data_dir" .)
tar --sparse -cf "$WORK/gnu.tar" -C "$data_dir" .
t_tar_sx=$(best "$WORK/gnu-x" sh -c 'mkdir -p "$1" && tar -xf "$2" -C "$1"' _ "$WORK/gnu-x" "$WORK/gnu.tar")
# ferry makes what it writes durable (fsync before rename); tar does not, so time it with a sync too.
t_tar_sc_sync=$(best "$WORK/gnu2.tar" sh -c 'tar --sparse -cf "$1" -C "$2" . && sync' _ "$WORK/gnu2.tar" "$data_dir")
t_tar_sx_sync=$(best "$WORK/gnu-x" sh -c 'mkdir -p "$1" && tar -xf "$2" -C "$1" && sync' _ "$WORK/gnu-x" "$WORK/gnu.tar")
restored=$(ls "$WORK"/cocoon-back/snapshot/localfile/*/overlay.qcow2)
printf '\nferry bench: a cocoon snapshot with a 16 GiB disk holding 64 MiB (cocoon: <-> oci-archive:)\n'
printf '  %-44s %7.2f s\n' "ferry cocoon: -> oci-archive: (hashes all)" "$t_export" "ferry oci-archive: -> cocoon: (verifies all)" "$t_import" \
    "tar --sparse -cf (reference)" "$t_tar_sc" "tar -xf of that (reference)" "$t_tar_sx" \
    "tar --sparse -cf && sync (durable)" "$t_tar_sc_sync" "tar -xf && sync (durable)" "$t_tar_sx_sync"
printf '  export: %.2fx the time of tar --sparse -c, %.2fx with sync; import: %.2fx the time of tar -x, %.2fx with sync\n' \
    "$(echo "$t_export / $t_tar_sc" | bc -l)" "$(echo "$t_export / $t_tar_sc_sync" | bc -l)" "$(echo "$t_import / $t_tar_sx" | bc -l)" "$(echo "$t_import / $t_tar_sx_sync" | bc -l)"
printf '  archive %s; restored disk: %s long, %s allocated\n' "$(du -h "$WORK/snap.tar" | cut -f1)" "$(du -h --apparent-size "$restored" | cut -f1)" "$(du -h "$restored" | cut -f1)"
rm -rf "$WORK/cocoon" "$WORK/cocoon-back" "$WORK/gnu.tar" "$WORK/gnu2.tar" "$WORK/gnu-x" "$WORK/snap.tar"

# S3: oci: -> epoch:s3:// and back against SeaweedFS, beside the aws CLI moving the same blobs.
command -v aws >/dev/null || { [ -x .venv/bin/aws ] || .venv/bin/pip install -q awscli; PATH="$(pwd)/.venv/bin:$PATH"; }
s3state="$WORK/seaweedfs"
bash scripts/seaweedfs.sh start "$s3state" >/dev/null
trap 'bash scripts/seaweedfs.sh stop "$s3state"; rm -rf "$WORK"' EXIT
set -a; . "$s3state/env"; set +a
export EPOCH_S3_ENDPOINT=$FERRY_TEST_S3_ENDPOINT EPOCH_S3_ACCESS_KEY=$FERRY_TEST_S3_ACCESS_KEY EPOCH_S3_SECRET_KEY=$FERRY_TEST_S3_SECRET_KEY EPOCH_S3_ENV_FILE=/nonexistent
export AWS_ACCESS_KEY_ID=$FERRY_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$FERRY_TEST_S3_SECRET_KEY AWS_DEFAULT_REGION=us-east-1
for b in bench-ferry bench-aws; do aws --endpoint-url "$FERRY_TEST_S3_ENDPOINT" s3 mb "s3://$b" >/dev/null; done
s3_rows=()
s3row() { s3_rows+=("$(printf '  %-44s %7.2f s  %6.1f MiB RSS' "$1" "$2" "$(echo "$3/1024" | bc -l)")"); }
read -r t _ r < <(measure_once "$FERRY" copy --progress none "oci:$WORK/src:bench" "epoch:s3://bench-ferry#bench:bench"); s3row "ferry oci: -> epoch:s3://" "$t" "$r"; t_ferry_up=$t
read -r t _ r < <(measure_once aws --endpoint-url "$FERRY_TEST_S3_ENDPOINT" s3 cp --recursive --quiet "$WORK/src/blobs/sha256" s3://bench-aws/blobs/); s3row "aws s3 cp --recursive (upload)" "$t" "$r"; t_aws_up=$t
rm -rf "$WORK/back"; sync
read -r t _ r < <(measure_once "$FERRY" copy --progress none "epoch:s3://bench-ferry#bench:bench" "oci:$WORK/back:bench"); s3row "ferry epoch:s3:// -> oci:" "$t" "$r"; t_ferry_down=$t
rm -rf "$WORK/back-aws"; sync
read -r t _ r < <(measure_once aws --endpoint-url "$FERRY_TEST_S3_ENDPOINT" s3 cp --recursive --quiet s3://bench-aws/blobs/ "$WORK/back-aws/"); s3row "aws s3 cp --recursive (download)" "$t" "$r"; t_aws_down=$t
printf '\nferry bench: epoch:s3:// on SeaweedFS (127.0.0.1), the same layout\n'
printf '%s\n' "${s3_rows[@]}"
printf '  upload: ferry takes %.2fx the time of the aws CLI; download: %.2fx\n' "$(echo "$t_ferry_up / $t_aws_up" | bc -l)" "$(echo "$t_ferry_down / $t_aws_down" | bc -l)"

# Registries: oci: -> docker:// and back against the CNCF registry on 127.0.0.1 (filesystem
# storage), beside `skopeo copy --preserve-digests` of the same layout, in the same run.
regstate="$WORK/registry"
bash scripts/registry.sh start "$regstate" >/dev/null
trap 'bash scripts/registry.sh stop "$regstate"; bash scripts/seaweedfs.sh stop "$s3state"; rm -rf "$WORK"' EXIT
set -a; . "$regstate/env"; set +a
reg_rows=()
regrow() { reg_rows+=("$(printf '  %-44s %7.2f s  %6.1f MiB RSS' "$1" "$2" "$(echo "$3/1024" | bc -l)")"); }
read -r t _ r < <(measure_once "$FERRY" copy --tls-verify=false --progress none "oci:$WORK/src:bench" "docker://$FERRY_TEST_REGISTRY/bench/ferry:bench"); regrow "ferry oci: -> docker://" "$t" "$r"; t_ferry_push=$t
read -r t _ r < <(measure_once skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$WORK/src:bench" "docker://$FERRY_TEST_REGISTRY/bench/skopeo:bench"); regrow "skopeo oci: -> docker://" "$t" "$r"; t_skopeo_push=$t
rm -rf "$WORK/back"; sync
read -r t _ r < <(measure_once "$FERRY" copy --tls-verify=false --progress none "docker://$FERRY_TEST_REGISTRY/bench/ferry:bench" "oci:$WORK/back:bench"); regrow "ferry docker:// -> oci:" "$t" "$r"; t_ferry_pull=$t
rm -rf "$WORK/back-skopeo"; sync
read -r t _ r < <(measure_once skopeo copy -q --preserve-digests --src-tls-verify=false "docker://$FERRY_TEST_REGISTRY/bench/skopeo:bench" "oci:$WORK/back-skopeo:bench"); regrow "skopeo docker:// -> oci:" "$t" "$r"; t_skopeo_pull=$t
"$FERRY" verify "oci:$WORK/back:bench" >/dev/null
printf '\nferry bench: docker:// on the CNCF registry (127.0.0.1, plain HTTP), the same layout\n'
printf '%s\n' "${reg_rows[@]}"
printf '  push: ferry %.2fx faster than skopeo; pull: %.2fx faster\n' "$(echo "$t_skopeo_push / $t_ferry_push" | bc -l)" "$(echo "$t_skopeo_pull / $t_ferry_pull" | bc -l)"

# Bounds (issue 14): the largest inputs the bounds tests scale down, with time and peak RSS.
bound_rows=()
boundrow() { bound_rows+=("$(printf '  %-52s %7.2f s  %6.1f MiB RSS  %8.1f MiB in TMPDIR' "$1" "$2" "$(echo "$4/1024" | bc -l)" "$(echo "$3/1048576" | bc -l)")"); }
for tags in 1000 4000; do
    python3 scripts/gen-layout.py "$WORK/tags-$tags" --size-mib 0.01 --layers 1 --tags "$tags" --tag app:t >/dev/null 2>&1
    rm -rf "$WORK/tags-dst"; sync
    read -r t x r < <(measure_once "$FERRY" sync --progress none "oci:$WORK/tags-$tags" "oci:$WORK/tags-dst"); boundrow "sync of $tags tags, oci: -> oci:" "$t" "$x" "$r"
    rm -rf "$WORK/tags-dst"; sync
    read -r t x r < <(measure_once "$FERRY" sync --progress none "oci:$WORK/tags-$tags" "epoch:$WORK/tags-dst"); boundrow "sync of $tags tags, oci: -> epoch:DIR" "$t" "$x" "$r"
done
python3 scripts/gen-cocoon.py root "$WORK/sparse-root" --name s >/dev/null
"$FERRY" copy --progress none "cocoon:$WORK/sparse-root#s" "oci:$WORK/sparse:v1"
python3 scripts/gen-sparse-layout.py "$WORK/sparse" v1 700000 >/dev/null
read -r t x r < <(measure_once "$FERRY" inspect "oci:$WORK/sparse:v1"); boundrow "inspect, a disk of 700,000 data runs" "$t" "$x" "$r"
read -r t x r < <(measure_once "$FERRY" copy --progress none "oci:$WORK/sparse:v1" "cocoon:$WORK/sparse-back#s"); boundrow "restore into cocoon:, a disk of 700,000 data runs" "$t" "$x" "$r"
python3 scripts/gen-hostile.py sparse-export "$WORK/sparse.tar" 700000
read -r t x r < <(measure_once "$FERRY" copy --progress none "cocoon-archive:$WORK/sparse.tar" "cocoon:$WORK/sparse-export#s"); boundrow "restore an export, a disk of 700,000 data runs" "$t" "$x" "$r"
python3 scripts/gen-hostile.py small-blobs "$WORK/small.tar.gz" 1500
read -r t x r < <(measure_once "$FERRY" inspect "oci-archive:$WORK/small.tar.gz:v1"); boundrow "inspect, .tar.gz of 1,500 small blobs ($(( $(stat -c %s "$WORK/small.tar.gz") / 1024 )) KiB)" "$t" "$x" "$r"
rm -rf "$WORK/small-back"; sync
read -r t x r < <(measure_once "$FERRY" copy --progress none "oci-archive:$WORK/small.tar.gz:v1" "oci:$WORK/small-back:v1"); boundrow "copy to oci:, .tar.gz of 1,500 small blobs" "$t" "$x" "$r"
printf '\nferry bench: bounds (time linear, memory bounded)\n'
printf '%s\n' "${bound_rows[@]}"

# ferry serve beside the CNCF registry and nginx (issue 15).
bash scripts/bench-gzip.sh "$FERRY" "$WORK"
bash scripts/bench-serve.sh "$FERRY" "$WORK"
