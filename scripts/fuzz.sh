#!/usr/bin/env bash
# fuzz.sh - build and run Weft's libFuzzer harnesses (tests/fuzz).
#
#   scripts/fuzz.sh --smoke        each harness for FUZZ_SMOKE_SECONDS (20) seconds from
#                                  its seeds, one line "fuzz <name>: PASS|FAIL" each, then
#                                  "N passed, N failed"; exit 1 if any failed. Run by
#                                  scripts/test.sh.
#   scripts/fuzz.sh [SECONDS]      the long run: each harness for SECONDS (default 600),
#                                  one after the other, growing a working corpus in
#                                  build/fuzz/corpus-<name> that later runs start from.
#   scripts/fuzz.sh --build        only (re)build build/fuzz.
#   scripts/fuzz.sh --harness NAME [--smoke|SECONDS]
#                                  one harness only (fuzz_port_frame, fuzz_vxlan_datagram,
#                                  fuzz_agent_message).
#
# Build: build/fuzz, clang-14 with -fsanitize=fuzzer on the harnesses,
# -fsanitize=fuzzer-no-link on everything else (coverage of the core), and
# AddressSanitizer + UndefinedBehaviorSanitizer (-Db_sanitize=address,undefined;
# UB aborts). Reconfigured in place when it exists.
#
# Inputs: records of a control byte and a frame, as tests/fuzz/fuzz_common.h says;
# for fuzz_agent_message a control byte and a stream of frames (its header says).
# Seeds: build/fuzz/seeds/<name>, written on every run by fuzz_make_seeds
# (tests/fuzz/make_seeds.c, from tests/unit/frames.h); nothing binary is kept in git.
# Crashes, leaks, timeouts and broken invariants are saved to build/fuzz/artifacts/
# (crash-<sha1>, leak-..., timeout-...). Reproduce one with
#   build/fuzz/tests/fuzz/<name> build/fuzz/artifacts/crash-<sha1>
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
BUILD=build/fuzz
HARNESSES=(fuzz_port_frame fuzz_vxlan_datagram fuzz_agent_message)
SMOKE_SECONDS=${FUZZ_SMOKE_SECONDS:-20}
CC_FUZZ=${CC_FUZZ:-clang-14}

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=0:print_stacktrace=1}

usage()
{
    sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "${1:-2}"
}

mode=long
seconds=600
only=
while [[ $# -gt 0 ]]; do
    case $1 in
    --smoke) mode=smoke ;;
    --build) mode=build ;;
    --harness)
        only=${2:-}
        shift
        ;;
    -h | --help) usage 0 ;;
    *[!0-9]* | '') usage ;;
    *) seconds=$1 ;;
    esac
    shift
done
if [[ -n $only ]]; then
    if [[ " ${HARNESSES[*]} " != *" $only "* ]]; then
        echo "fuzz.sh: unknown harness $only (${HARNESSES[*]})" >&2
        exit 2
    fi
    HARNESSES=("$only")
fi

build()
{
    local args=(-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
        -Dc_args=-fsanitize=fuzzer-no-link -Dc_link_args=-fsanitize=fuzzer-no-link)
    mkdir -p build
    if ! command -v "$CC_FUZZ" >/dev/null; then
        echo "fuzz.sh: $CC_FUZZ not found (Debian: apt-get install clang-14 libclang-rt-14-dev)"
        return 1
    fi
    local setup_log=build/.fuzz-setup.log
    if [[ -f $BUILD/meson-private/coredata.dat ]]; then
        meson setup --reconfigure "$BUILD" "${args[@]}" >"$setup_log" 2>&1 ||
            CC=$CC_FUZZ meson setup --wipe "$BUILD" "${args[@]}" >"$setup_log" 2>&1
    else
        rm -rf "$BUILD"
        CC=$CC_FUZZ meson setup "$BUILD" "${args[@]}" >"$setup_log" 2>&1
    fi || {
        cat "$setup_log"
        echo "fuzz.sh: meson setup of $BUILD failed"
        return 1
    }
    # Only the fuzz targets: the rest of the tree need not build with clang here.
    local targets=(tests/fuzz/fuzz_make_seeds)
    for h in "${HARNESSES[@]}"; do
        targets+=("tests/fuzz/$h")
    done
    if ! ninja -C "$BUILD" "${targets[@]}" >"$BUILD/build.log" 2>&1; then
        grep -v '^\[[0-9]*/[0-9]*\] ' "$BUILD/build.log" | tail -n 60
        echo "fuzz.sh: build failed (full log: $BUILD/build.log)"
        return 1
    fi
    rm -rf "$BUILD/seeds"
    "$BUILD/tests/fuzz/fuzz_make_seeds" "$BUILD/seeds" >/dev/null || {
        echo "fuzz.sh: fuzz_make_seeds failed"
        return 1
    }
}

# run NAME SECONDS CORPUS: fuzz, logging to $BUILD/logs/NAME.log; status of libFuzzer.
run()
{
    local name=$1 secs=$2 corpus=$3 log=$BUILD/logs/$1.log
    mkdir -p "$corpus" "$BUILD/artifacts" "$BUILD/logs"
    # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a leak that grows.
    "$BUILD/tests/fuzz/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=9300 -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/" \
        "$corpus" "$BUILD/seeds/$name" >"$log" 2>&1
}

if ! build; then
    if [[ $mode == smoke ]]; then
        for h in "${HARNESSES[@]}"; do
            echo "fuzz $h: FAIL (build failed)"
        done
        echo "0 passed, ${#HARNESSES[@]} failed"
    fi
    exit 1
fi
[[ $mode == build ]] && exit 0

passed=0
failed=0
for h in "${HARNESSES[@]}"; do
    if [[ $mode == smoke ]]; then
        # A fresh corpus each time: the smoke run is short and reproducible in length.
        corpus=$BUILD/smoke-corpus-$h
        rm -rf "$corpus"
        secs=$SMOKE_SECONDS
    else
        corpus=$BUILD/corpus-$h
        secs=$seconds
        echo "fuzz $h: running ${secs}s, corpus $corpus, log $BUILD/logs/$h.log"
    fi
    run "$h" "$secs" "$corpus"
    status=$?
    log=$BUILD/logs/$h.log
    stats=$(grep -aE '^stat::(number_of_executed_units|new_units_added)' "$log" |
        sed 's/^stat:://; s/number_of_executed_units/execs/; s/new_units_added/new_units/' |
        tr -s ' \n' ' ')
    cov=$(grep -aoE 'cov: [0-9]+' "$log" | tail -n 1)
    if [[ $status -eq 0 ]]; then
        passed=$((passed + 1))
        echo "fuzz $h: PASS (${secs}s, ${stats}${cov:+$cov})"
    else
        failed=$((failed + 1))
        echo "fuzz $h: FAIL (libFuzzer exit $status; log $log)"
        grep -aE 'ERROR|invariant broken|SUMMARY|Test unit written|runtime error' "$log" |
            head -n 12 | sed 's/^/    /'
    fi
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
