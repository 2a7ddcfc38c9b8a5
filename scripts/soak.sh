#!/usr/bin/env bash
# soak.sh - weftd with several workers under load and churn for a long time
# (tests/soak/soak.py says what runs and what is checked). Not part of
# scripts/test.sh: run it before a release, or after changing the data path.
#
#   scripts/soak.sh [--minutes N (default 10)] [--workers N (default 2)] [--seed N]
#
# Builds build/asan (AddressSanitizer + UndefinedBehaviorSanitizer, as the tests)
# first; run as root on Debian 12. Exit status 0 when every check passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/install-deps.sh >/dev/null
if [[ ! -f build/asan/meson-private/coredata.dat ]]; then
    meson setup build/asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C build/asan >/dev/null
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=0:print_stacktrace=1
WEFT_BUILD_DIR="$PWD/build/asan" exec /usr/bin/python3 tests/soak/soak.py "$@"
