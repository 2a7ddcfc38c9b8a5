#!/usr/bin/env bash
# demo.sh - the README's main job: install what is missing, build a release build,
# and run the three-host lab with weft-controller in network namespaces
# (scripts/demo.py). Run as root.
#   ./scripts/demo.sh           run, show, clean up
#   ./scripts/demo.sh --hold    keep the lab up until Enter
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/install-deps.sh
if [ ! -f build/release/build.ninja ]; then
    meson setup build/release --buildtype=release
fi
ninja -C build/release src/weftd/weftd src/cli/weft src/controller/weft-controller
WEFT_BUILD_DIR=build/release exec /usr/bin/python3 scripts/demo.py "$@"
