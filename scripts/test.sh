#!/usr/bin/env bash
# test.sh - the one test command of Weft (what the README shows, what .ci/run runs).
#
# Stages, in order:
#   1. deps     scripts/install-deps.sh (installs only what is missing)
#   2. format   clang-format --dry-run -Werror over every *.c/*.h in src, tests, bench
#   3. build    build/asan: gcc with AddressSanitizer + UndefinedBehaviorSanitizer
#      release  build/release: the -O3 build the demo and benchmarks use (one test)
#   4. unit     the cmocka unit tests under the sanitizers, one count per test case
#   5. fuzz     scripts/fuzz.sh --smoke (libFuzzer harnesses, briefly), when it exists
#   6. system   /usr/bin/python3 -m pytest tests/system against the build/asan programs
#
# Every stage runs even when an earlier one failed, except those that need the
# build (unit, system), which are then reported as not run and counted failed.
# The last line of output is always "N passed, N failed", where N sums: the
# unit test cases, the format check (one), the release build (one), the fuzz
# harness runs and the pytest
# test cases; a stage that cannot run, or a failed build, adds one failure.
# Exit status: 0 when nothing failed, 1 otherwise.
#
# Run as root on Debian 12: ./scripts/test.sh
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD
BUILD_DIR=build/asan
RELEASE_DIR=build/release
RESULTS_DIR=build/test-results
PYTHON=/usr/bin/python3
FUZZ_TIMEOUT=600   # seconds for the whole fuzz smoke stage
SYSTEM_TIMEOUT=2400 # seconds for the whole system test stage (it takes ~9 min on 2 busy cores)

# One stream, so that the order on screen is the order of events and nothing
# can print after the final count.
exec 2>&1

# Sanitizer reports must fail the test that triggers them, with a stack trace.
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=0:print_stacktrace=1
# cmocka reports each test case as a TAP line, which is what gets counted.
export CMOCKA_MESSAGE_OUTPUT=TAP
export PYTHONDONTWRITEBYTECODE=1

total_passed=0
total_failed=0
summary=()

banner()
{
    printf '\n======== %s ========\n' "$*"
}

# record STAGE PASSED FAILED NOTE: add to the totals and the summary table.
record()
{
    total_passed=$((total_passed + $2))
    total_failed=$((total_failed + $3))
    summary+=("$(printf '%-8s %5d passed %5d failed  %s' "$1" "$2" "$3" "$4")")
}

# Counting of result files. Prints details, then a last line "COUNT passed failed".
COUNT_PY=$(
    cat <<'PYEOF'
import json
import re
import sys
import xml.etree.ElementTree as ET


def unit(path):
    """meson's testlog.json: one JSON object per test executable, whose stdout
    holds cmocka's TAP output. Each 'ok' line is a passed case, each 'not ok' a
    failed one ('# SKIP' lines are skipped). Cases announced by a plan ('1..N')
    but never reported count as failed (the executable died), and so does an
    executable that exits non-zero although all its cases passed (a sanitizer
    or leak report after the last case)."""
    passed = failed = 0
    with open(path) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    if not runs:
        print("  no unit test ran")
        return 0, 1
    for run in runs:
        name = run.get("name", "?")
        result = run.get("result")
        rc = run.get("returncode")
        p = fl = s = planned = 0
        tap = False
        failed_cases = []
        for line in (run.get("stdout") or "").splitlines():
            m = re.match(r"^1\.\.(\d+)", line)
            if m:
                planned += int(m.group(1))
                tap = True
                continue
            m = re.match(r"^(not )?ok\b(.*)$", line)
            if not m:
                continue
            tap = True
            if re.search(r"#\s*skip", m.group(2), re.IGNORECASE):
                s += 1
            elif m.group(1):
                fl += 1
                failed_cases.append(m.group(2).strip(" -"))
            else:
                p += 1
        notes = []
        if not tap:
            # Not TAP output: count the executable as one test.
            if result == "OK" and rc == 0:
                p = 1
            else:
                fl = 1
            notes.append("no TAP output, counted as one test (result %s)" % result)
        else:
            missing = planned - (p + fl + s)
            if missing > 0:
                fl += missing
                notes.append("%d case(s) never reported: the executable died" % missing)
            if (rc != 0 or result not in ("OK", "SKIP")) and fl == 0:
                fl = 1
                notes.append("all cases passed but the executable ended with %s "
                             "(exit status %s): sanitizer or leak report?" % (result, rc))
        if failed_cases:
            notes.append("failed: " + ", ".join(failed_cases))
        line = "  %-24s %4d passed %4d failed" % (name, p, fl)
        if s:
            line += " %4d skipped" % s
        print(line)
        for note in notes:
            print("      " + note)
        passed += p
        failed += fl
    return passed, failed


def junit(path):
    """pytest's JUnit XML: one <testcase> per test; <failure> or <error> inside
    means failed, <skipped> means neither."""
    passed = failed = skipped = 0
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            print("  FAILED %s::%s" % (case.get("classname", ""), case.get("name", "")))
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    if skipped:
        print("  %d skipped" % skipped)
    return passed, failed


def summary_line(path):
    """The last 'N passed, N failed' line of a log (fuzz.sh's own count)."""
    found = None
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"^\s*(\d+) passed, (\d+) failed\s*$", line)
            if m:
                found = int(m.group(1)), int(m.group(2))
    if found is None:
        return -1, -1
    return found


kind, path = sys.argv[1], sys.argv[2]
try:
    p, f = {"unit": unit, "junit": junit, "summary": summary_line}[kind](path)
except (OSError, ValueError, ET.ParseError) as e:
    print("  cannot read %s: %s" % (path, e))
    p, f = 0, 1
print("COUNT %d %d" % (p, f))
PYEOF
)

# count KIND FILE: run the counter, show its details, set COUNT_P and COUNT_F.
count()
{
    local out
    out=$("$PYTHON" -c "$COUNT_PY" "$1" "$2")
    sed '$d' <<<"$out"
    read -r _ COUNT_P COUNT_F <<<"$(tail -n 1 <<<"$out")"
}

start_time=$SECONDS
mkdir -p build
exec 9>build/.test.lock
if ! flock -n 9; then
    echo "test.sh: another test.sh run holds build/.test.lock; waiting for it"
    flock 9
fi
rm -rf "$RESULTS_DIR"
mkdir -p "$RESULTS_DIR"

# ---------------------------------------------------------------------------
banner "deps: scripts/install-deps.sh"
if ./scripts/install-deps.sh; then
    summary+=("$(printf '%-8s %s' deps "ok")")
else
    echo "deps: FAILED (the stages below may fail for lack of a package)"
    record deps 0 1 "install-deps.sh failed"
fi

# ---------------------------------------------------------------------------
banner "format: clang-format --dry-run -Werror (src tests bench)"
if ! command -v clang-format >/dev/null; then
    echo "format: clang-format is not installed"
    record format 0 1 "clang-format missing"
else
    mapfile -t c_files < <(find src tests bench -type f \( -name '*.c' -o -name '*.h' \) | sort)
    bad_files=()
    for f in "${c_files[@]}"; do
        if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
            bad_files+=("$f")
        fi
    done
    if [[ ${#c_files[@]} -eq 0 ]]; then
        echo "format: no C files found under src tests bench"
        record format 0 1 "no files"
    elif [[ ${#bad_files[@]} -eq 0 ]]; then
        echo "format: ${#c_files[@]} files formatted as .clang-format says"
        record format 1 0 "${#c_files[@]} files"
    else
        echo "format: ${#bad_files[@]} of ${#c_files[@]} files differ from .clang-format:"
        printf '  %s\n' "${bad_files[@]}"
        echo "  fix with: clang-format -i ${bad_files[*]}"
        record format 0 1 "${#bad_files[@]} files need clang-format -i"
    fi
fi

# ---------------------------------------------------------------------------
banner "build: $BUILD_DIR (address,undefined sanitizers)"
build_ok=0
setup_args=(-Db_sanitize=address,undefined -Db_lundef=false)
if [[ -f $BUILD_DIR/meson-private/coredata.dat ]]; then
    meson setup --reconfigure "$BUILD_DIR" "${setup_args[@]}" >"$RESULTS_DIR/setup.log" 2>&1 ||
        meson setup --wipe "$BUILD_DIR" "${setup_args[@]}" >"$RESULTS_DIR/setup.log" 2>&1
else
    rm -rf "$BUILD_DIR"
    meson setup "$BUILD_DIR" "${setup_args[@]}" >"$RESULTS_DIR/setup.log" 2>&1
fi
setup_status=$?
if [[ $setup_status -ne 0 ]]; then
    cat "$RESULTS_DIR/setup.log"
    echo "build: meson setup FAILED"
    record build 0 1 "meson setup failed"
elif ! ninja -C "$BUILD_DIR" -k 0 >"$RESULTS_DIR/build.log" 2>&1; then
    grep -v '^\[[0-9]*/[0-9]*\] ' "$RESULTS_DIR/build.log" | tail -n 80
    echo "build: FAILED (full log: $RESULTS_DIR/build.log)"
    record build 0 1 "compile or link failed"
else
    build_ok=1
    echo "build: ok ($(grep -c '^\[[0-9]*/[0-9]*\] ' "$RESULTS_DIR/build.log") steps)"
    summary+=("$(printf '%-8s %s' build "ok")")
fi

# ---------------------------------------------------------------------------
# The release build (-O3) is what the demo and the benchmarks run, and gcc's
# optimiser finds warnings (maybe-uninitialized, array-bounds) that the
# sanitizer build does not: it must build too. Counted as one test.
banner "release: $RELEASE_DIR (-O3, warnings fatal)"
if meson setup --reconfigure "$RELEASE_DIR" --buildtype=release >"$RESULTS_DIR/release-setup.log" 2>&1 ||
    meson setup --wipe "$RELEASE_DIR" --buildtype=release >"$RESULTS_DIR/release-setup.log" 2>&1 ||
    { rm -rf "$RELEASE_DIR" && meson setup "$RELEASE_DIR" --buildtype=release \
        >"$RESULTS_DIR/release-setup.log" 2>&1; }; then
    if ninja -C "$RELEASE_DIR" -k 0 >"$RESULTS_DIR/release.log" 2>&1; then
        echo "release: ok"
        record release 1 0 "-O3 build"
    else
        grep -v '^\[[0-9]*/[0-9]*\] ' "$RESULTS_DIR/release.log" | tail -n 80
        echo "release: FAILED (full log: $RESULTS_DIR/release.log)"
        record release 0 1 "-O3 build failed"
    fi
else
    cat "$RESULTS_DIR/release-setup.log"
    record release 0 1 "meson setup failed"
fi

# ---------------------------------------------------------------------------
banner "unit: cmocka tests under ASan/UBSan"
if [[ $build_ok -eq 0 ]]; then
    echo "unit: not run, the build failed"
    record unit 0 1 "not run: build failed"
else
    rm -f "$BUILD_DIR/meson-logs/testlog.json"
    meson test -C "$BUILD_DIR" --no-rebuild --suite unit --print-errorlogs \
        >"$RESULTS_DIR/unit.log" 2>&1
    unit_status=$?
    # meson's own listing first (with the failing tests' output: cmocka
    # messages, sanitizer reports), then the per-case count.
    if [[ $unit_status -eq 0 ]]; then
        grep -E '^ *[0-9]+/[0-9]+ ' "$RESULTS_DIR/unit.log"
    else
        head -n 400 "$RESULTS_DIR/unit.log"
        echo "unit: meson test exited with $unit_status (full log: $RESULTS_DIR/unit.log," \
            "test output: $BUILD_DIR/meson-logs/testlog.txt)"
    fi
    if [[ -s $BUILD_DIR/meson-logs/testlog.json ]]; then
        count unit "$BUILD_DIR/meson-logs/testlog.json"
        if [[ $unit_status -ne 0 && $COUNT_F -eq 0 ]]; then
            COUNT_F=1
            echo "unit: meson test failed without a failing case; counted as one failure"
        fi
        record unit "$COUNT_P" "$COUNT_F" "test cases"
    else
        cat "$RESULTS_DIR/unit.log"
        echo "unit: meson test produced no test log"
        record unit 0 1 "meson test could not run"
    fi
fi

# ---------------------------------------------------------------------------
banner "fuzz: scripts/fuzz.sh --smoke"
if [[ ! -f scripts/fuzz.sh ]]; then
    echo "fuzz: scripts/fuzz.sh does not exist yet; stage skipped"
    summary+=("$(printf '%-8s %s' fuzz "skipped: scripts/fuzz.sh does not exist")")
else
    fuzz_cmd=(./scripts/fuzz.sh)
    [[ -x scripts/fuzz.sh ]] || fuzz_cmd=(bash scripts/fuzz.sh)
    # fuzz.sh sets its own sanitizer options for libFuzzer.
    env -u ASAN_OPTIONS -u UBSAN_OPTIONS timeout --kill-after=30 "$FUZZ_TIMEOUT" \
        "${fuzz_cmd[@]}" --smoke 2>&1 |
        tee "$RESULTS_DIR/fuzz.log"
    fuzz_status=${PIPESTATUS[0]}
    count summary "$RESULTS_DIR/fuzz.log"
    if [[ $COUNT_P -lt 0 ]]; then
        # No count printed: the whole smoke run is one check.
        if [[ $fuzz_status -eq 0 ]]; then
            COUNT_P=1 COUNT_F=0
        else
            COUNT_P=0 COUNT_F=1
        fi
    elif [[ $fuzz_status -ne 0 && $COUNT_F -eq 0 ]]; then
        COUNT_F=1
    fi
    if [[ $fuzz_status -eq 124 || $fuzz_status -eq 137 ]]; then
        echo "fuzz: stopped after ${FUZZ_TIMEOUT}s"
    elif [[ $fuzz_status -ne 0 ]]; then
        echo "fuzz: scripts/fuzz.sh --smoke exited with $fuzz_status"
    fi
    record fuzz "$COUNT_P" "$COUNT_F" "harness runs"
fi

# ---------------------------------------------------------------------------
banner "system: pytest tests/system (WEFT_BUILD_DIR=$BUILD_DIR)"
if [[ $build_ok -eq 0 ]]; then
    echo "system: not run, the build failed"
    record system 0 1 "not run: build failed"
else
    WEFT_BUILD_DIR="$ROOT/$BUILD_DIR" timeout --kill-after=30 "$SYSTEM_TIMEOUT" \
        "$PYTHON" -m pytest -q -p no:cacheprovider -rfE \
        --junitxml="$RESULTS_DIR/system.xml" tests/system
    system_status=$?
    if [[ -s $RESULTS_DIR/system.xml ]]; then
        count junit "$RESULTS_DIR/system.xml"
    else
        COUNT_P=0 COUNT_F=0
    fi
    case $system_status in
    0 | 1) ;;
    5) echo "system: pytest collected no tests" ;;
    124 | 137) echo "system: stopped after ${SYSTEM_TIMEOUT}s" ;;
    *) echo "system: pytest could not run (exit status $system_status)" ;;
    esac
    if [[ $system_status -ne 0 && $COUNT_F -eq 0 ]]; then
        COUNT_F=1
    fi
    record system "$COUNT_P" "$COUNT_F" "test cases"
fi

# ---------------------------------------------------------------------------
banner "summary ($((SECONDS - start_time))s)"
printf '%s\n' "${summary[@]}"
echo "$total_passed passed, $total_failed failed"
[[ $total_failed -eq 0 ]]
