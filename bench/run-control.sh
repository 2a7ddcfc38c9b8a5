#!/usr/bin/env bash
# run-control.sh - the control-plane benchmark in one command.
#
#   bench/run-control.sh [--quick] [bench_control options]
#
# 1. builds a release build (meson --buildtype=$BUILDTYPE, default release: -O3,
#    NDEBUG) in $BUILD (default build/release), reconfigured if it exists, and
#    in it the weft-controller and bench_control targets;
# 2. runs bench_control against that weft-controller: 10, 100 and 1000
#    simulated hosts over real TCP sessions on loopback, MAC latency p50/p99,
#    controller memory per 100k MACs and the snapshot of a host joining a
#    segment of 100k MACs (bench/README.md says what each column means).
#    Extra options go to bench_control (bench_control --help).
#
# --quick: 10 and 100 hosts, 30 trials, 10k MACs (a smoke check of the script).
# Needs the packages of scripts/install-deps.sh. Not root: nothing but loopback
# sockets and a temporary directory per run.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build/release}
BUILDTYPE=${BUILDTYPE:-release}
args=()
for a in "$@"; do
    case $a in
    --quick) args=(--agents 10,100 --trials 30 --macs 10000 "${args[@]}") ;;
    *) args+=("$a") ;;
    esac
done

if [[ -f $BUILD/meson-private/coredata.dat ]]; then
    meson setup --reconfigure "$BUILD" --buildtype="$BUILDTYPE" >/dev/null
else
    meson setup "$BUILD" --buildtype="$BUILDTYPE" >/dev/null
fi
ninja -C "$BUILD" src/controller/weft-controller bench/bench_control >/dev/null

echo "== bench_control (${BUILD}, ${BUILDTYPE}, $(uname -m), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
exec "$BUILD/bench/bench_control" --controller "$BUILD/src/controller/weft-controller" "${args[@]}"
