#!/usr/bin/env bash
# install-deps.sh - install every build and test dependency of Weft from
# Debian 12 packages.
#
# Idempotent: packages already installed are left alone, and the package index
# is refreshed (apt-get update) only when something has to be installed. Runs
# as root, never prompts.
#
# Usage: scripts/install-deps.sh [--list]
#   --list   print the package list, one per line, and exit
set -euo pipefail

# The one list of packages. Keep it sorted by purpose.
WEFT_PACKAGES=(
    # build (libjansson-dev: JSON for weftd's control socket and saved state)
    build-essential meson ninja-build pkg-config libjansson-dev
    # the controller: SQLite store, libevent HTTP (REST) and agent sessions
    libsqlite3-dev libevent-dev
    # weft in controller mode: HTTP client of the REST API
    libcurl4-openssl-dev
    # the afxdp port backend: AF_XDP sockets (libxdp), BPF loading (libbpf); its XDP
    # program is built with clang-14 -target bpf against linux-libc-dev's headers
    libxdp-dev libbpf-dev linux-libc-dev
    # unit tests, sanitizers, fuzzing, style
    libcmocka-dev clang-14 libclang-rt-14-dev llvm-14 clang-format valgrind
    # system tests
    python3-pytest python3-scapy iproute2 iputils-ping ethtool tshark iperf3
    # end-to-end benchmark (bench/run-e2e.sh): TCP/UDP request/response latency
    sockperf
)

if [[ ${1:-} == --list ]]; then
    printf '%s\n' "${WEFT_PACKAGES[@]}"
    exit 0
elif [[ $# -gt 0 ]]; then
    echo "install-deps.sh: unknown argument '$1' (usage: install-deps.sh [--list])" >&2
    exit 2
fi

missing=()
for pkg in "${WEFT_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    if [[ $status != ii* ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#WEFT_PACKAGES[@]} packages already installed"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root to install them" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no, never prompt.
echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
apt-get update
apt-get install -y "${missing[@]}"
