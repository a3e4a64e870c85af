#!/usr/bin/env bash
# The libFuzzer harnesses of Sources/FerryFuzz, built in .build-fuzz with FERRY_FUZZ=1.
#
#   scripts/fuzz.sh build                 build .build-fuzz/debug/ferry-fuzz
#   scripts/fuzz.sh run [HARNESS...]      fuzz each harness for FUZZ_SECONDS (default 60), growing
#                                         .build-fuzz/corpus/HARNESS from fixtures/fuzz/HARNESS
#   scripts/fuzz.sh ci [HARNESS...]       FUZZ_RUNS (default 20000) inputs each from the seeds,
#                                         seed 1, nothing kept: what `make test` runs
#
# Crashes, hangs (FUZZ_TIMEOUT seconds per input, default 10) and inputs that take more than
# FUZZ_RSS_MB (default 512) go to .build-fuzz/artifacts/HARNESS-*; rerun one with
# `.build-fuzz/debug/ferry-fuzz HARNESS FILE`. The last line per harness says how many inputs ran.
# FUZZ_ASAN=1 adds AddressSanitizer (in .build-fuzz-asan; slower, for the unsafe pointer code).
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-swift}
SCRATCH=${FUZZ_SCRATCH:-.build-fuzz}
SANITIZERS=fuzzer
if [ "${FUZZ_ASAN:-0}" = 1 ]; then
	SCRATCH=${FUZZ_SCRATCH:-.build-fuzz-asan}
	SANITIZERS=fuzzer,address
fi
BIN=$SCRATCH/debug/ferry-fuzz
SEEDS=fixtures/fuzz
ARTIFACTS=$SCRATCH/artifacts
HARNESSES=(reference manifest gojson pax-tar layout-archive s3-listing sparse-map snapshots-json)

build() {
	local bin runtime
	bin=$(dirname "$(readlink -f "$(command -v "$SWIFT")")")
	runtime=$(ls "$bin"/../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-"$(uname -m)".a 2>/dev/null | head -1)
	[ -n "$runtime" ] || { echo "fuzz.sh: this toolchain has no libclang_rt.fuzzer_no_main" >&2; exit 1; }
	FERRY_FUZZ=1 FERRY_FUZZ_RUNTIME=$runtime FERRY_FUZZ_SANITIZERS=$SANITIZERS \
		"$SWIFT" build --scratch-path "$SCRATCH" --product ferry-fuzz
}

# fuzz HARNESS CORPUS_DIR LIBFUZZER_FLAGS...: one harness; prints a summary line.
fuzz() {
	local harness=$1 corpus=$2 log status rss=${FUZZ_RSS_MB:-512}
	shift 2
	# FoundationXML leaks a few hundred bytes to 2 KiB on every document it fails to parse (in
	# libxml2's error path, not Ferry's; a failed page ends a listing, so Ferry leaks it once):
	# over millions of inputs that alone would reach the limit.
	[ "$harness" = s3-listing ] && rss=$((rss * 4))
	mkdir -p "$corpus" "$ARTIFACTS"
	log=$ARTIFACTS/$harness.log
	# Swift's own crash backtracer would take the signal before libFuzzer can save the input.
	set +e
	SWIFT_BACKTRACE=enable=no TMPDIR=$work "$BIN" "$harness" -seed=1 -timeout="${FUZZ_TIMEOUT:-10}" \
		-rss_limit_mb="$rss" -malloc_limit_mb="${FUZZ_RSS_MB:-512}" -print_final_stats=1 \
		-artifact_prefix="$ARTIFACTS/$harness-" "$@" "$corpus" "$SEEDS/$harness" >"$log" 2>&1
	status=$?
	set -e
	local runs time
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	time=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
	if [ "$status" = 0 ]; then
		printf '%-16s %10s executions, no finding%s\n' "$harness" "${runs:-?}" "${time:+ ($time s)}"
		rm -f "$log"
	else
		printf '%-16s FINDING after %s executions (exit %s); log %s\n' "$harness" "${runs:-?}" "$status" "$log"
		grep -E 'ERROR|Fatal error|property does not hold|Test unit written|SUMMARY' "$log" | head -8 | sed 's/^/    /'
		failed=1
	fi
}

command=${1:-}
shift || true
[ $# -gt 0 ] && HARNESSES=("$@")
failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case "$command" in
build) build ;;
run)
	build
	for harness in "${HARNESSES[@]}"; do
		fuzz "$harness" "$SCRATCH/corpus/$harness" -max_total_time="${FUZZ_SECONDS:-60}"
	done
	;;
ci)
	build
	for harness in "${HARNESSES[@]}"; do
		fuzz "$harness" "$work/corpus-$harness" -runs="${FUZZ_RUNS:-20000}"
	done
	;;
*)
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
exit "$failed"
