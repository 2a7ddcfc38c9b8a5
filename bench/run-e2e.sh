#!/usr/bin/env bash
# run-e2e.sh - the end-to-end benchmark in one command, as root on Debian 12:
# installs what it needs, builds the release weftd, runs bench/e2e.py.
#
#   bench/run-e2e.sh [e2e.py options]        e.g. --peers weft,linux --duration 10
#   DUR=2 REPS=1 RR_DUR=2 PEERS=weft,ovs bench/run-e2e.sh   the same through the environment
#
# Packages: scripts/install-deps.sh (build, iperf3, sockperf, ethtool, iproute2), plus
# openvswitch-switch for the OVS peer (only its programs are used: e2e.py starts
# private ovsdb-server/ovs-vswitchd instances inside its namespaces; no systemd
# service, no kernel module). Results: build/bench-results/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
    echo "run-e2e.sh: run as root (network namespaces, packages)" >&2
    exit 1
fi

scripts/install-deps.sh
if ! command -v ovs-vswitchd >/dev/null || ! command -v ovsdb-server >/dev/null; then
    echo "run-e2e.sh: installing openvswitch-switch (the OVS peer)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends openvswitch-switch
fi

BUILD=build/release
if [[ ! -f $BUILD/build.ninja ]]; then
    meson setup "$BUILD" --buildtype=release
fi
ninja -C "$BUILD" src/weftd/weftd
# The CLI is optional here: without it e2e.py drives weftd over its JSON socket.
ninja -C "$BUILD" src/cli/weft >/dev/null 2>&1 || echo "run-e2e.sh: no weft CLI built; e2e.py uses the control socket"

args=()
[[ -n ${DUR:-} ]] && args+=(--duration "$DUR")
[[ -n ${REPS:-} ]] && args+=(--reps "$REPS")
[[ -n ${RR_DUR:-} ]] && args+=(--rr-duration "$RR_DUR")
[[ -n ${PEERS:-} ]] && args+=(--peers "$PEERS")
exec /usr/bin/python3 bench/e2e.py --build-dir "$BUILD" "${args[@]}" "$@"
