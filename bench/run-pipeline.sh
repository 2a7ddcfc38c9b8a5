#!/usr/bin/env bash
# run-pipeline.sh - the in-memory pipeline benchmark in one command.
#
#   bench/run-pipeline.sh [--quick] [--no-callgrind] [bench_pipeline options]
#
# 1. builds build/release (meson --buildtype=release: -O3, NDEBUG), reconfigured
#    if it exists, and the bench_pipeline target in it;
# 2. runs bench_pipeline (every scenario, 64- and 1500-byte frames, batches of
#    32 and 256; extra options are passed on, e.g. --packets 10000000);
# 3. runs each scenario once more under valgrind --tool=callgrind with a small
#    packet count and prints instructions per packet. bench_pipeline toggles
#    callgrind's collection around its timed calls only (valgrind/callgrind.h
#    client requests; the program starts with --collect-atstart=no), so the
#    count is exactly the instructions executed inside vswitch_input_port() /
#    vswitch_input_vxlan() for the timed packets: setup, warm-up, refilling
#    the inputs and freeing the outputs are not in it. Instructions per packet
#    do not depend on the machine's load, unlike Mpps.
#
# --quick: fewer packets (for a smoke check of the script itself).
# --no-callgrind: skip step 3.
# --profile: after each 64-byte callgrind run, the functions with the most
#   instructions (callgrind_annotate; static functions are mostly inlined
#   into the two entry points in a release build).
# BUILD=DIR (environment): build and run in DIR instead of build/release.
# Needs meson, ninja, gcc and valgrind (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build/release}
BENCH=$BUILD/bench/bench_pipeline
CG_PACKETS=${CG_PACKETS:-20000}
callgrind=1
quick=0
profile=0
args=()
for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    --no-callgrind) callgrind=0 ;;
    --profile) profile=1 ;;
    *) args+=("$a") ;;
    esac
done
if [[ $quick -eq 1 ]]; then
    args=(--packets 200000 --warmup 20000 --repeat 1 "${args[@]}")
    CG_PACKETS=2000
fi

if [[ -f $BUILD/meson-private/coredata.dat ]]; then
    meson setup --reconfigure "$BUILD" --buildtype=release >/dev/null
else
    meson setup "$BUILD" --buildtype=release >/dev/null
fi
ninja -C "$BUILD" bench/bench_pipeline >/dev/null

echo "== bench_pipeline (${BUILD}, $(uname -m), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
"$BENCH" "${args[@]}"

[[ $callgrind -eq 1 ]] || exit 0
if ! command -v valgrind >/dev/null; then
    echo "run-pipeline.sh: valgrind not found; instructions per packet skipped" >&2
    exit 1
fi
echo
echo "== instructions per packet (callgrind, ${CG_PACKETS} packets per scenario, batch 32;"
echo "   inside vswitch_input_port()/vswitch_input_vxlan() only)"
printf '%-8s %6s %12s %10s\n' scenario size instructions "Ir/pkt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for sc in l2 encap decap flood; do
    for size in 64 1500; do
        out=$tmp/callgrind.$sc.$size
        valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out" \
            "$BENCH" --scenario "$sc" --size "$size" --batch 32 --packets "$CG_PACKETS" \
            --warmup 1000 --repeat 1 --quiet >/dev/null 2>"$tmp/valgrind.log" || {
            cat "$tmp/valgrind.log" >&2
            exit 1
        }
        ir=$(awk '/^totals:/ {print $2; exit}' "$out")
        if [[ -z $ir ]]; then
            ir=$(awk '/^summary:/ {print $2; exit}' "$out")
        fi
        if [[ -z $ir || $ir -eq 0 ]]; then
            echo "run-pipeline.sh: no instructions collected for $sc/$size" \
                "(bench_pipeline built without valgrind/callgrind.h?)" >&2
            exit 1
        fi
        awk -v sc="$sc" -v size="$size" -v ir="$ir" -v n="$CG_PACKETS" \
            'BEGIN { printf "%-8s %6s %12s %10.1f\n", sc, size, ir, ir / n }'
        if [[ $profile -eq 1 && $size -eq 64 ]]; then
            callgrind_annotate --auto=no --inclusive=no "$out" 2>/dev/null |
                awk '/^ *[0-9,]+ +\(/ && !/PROGRAM TOTALS/' | head -n 12 |
                sed "s|$PWD/||; s|build/release/../../||; s/^/      /"
        fi
    done
done
