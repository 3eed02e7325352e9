#!/usr/bin/env bash
# Prometheus for Endure's tests (tests/python/test_observability_prometheus.py).
#
#   scripts/prometheus.sh          install it if missing; print the prometheus binary's path
#
# Prints exactly one line on stdout, the path of the `prometheus` binary (promtool is beside it);
# everything else goes to stderr. Works on a fresh Debian machine: if /usr/bin/prometheus is
# missing it installs Debian's `prometheus` package (root only) without letting the package
# start its own service (policy-rc.d), and stops and disables that service if it runs anyway:
# the tests start their own Prometheus, on a free loopback port with a temporary configuration.
set -euo pipefail

log() { printf 'prometheus.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

BIN="${PROMETHEUS_BIN:-/usr/bin/prometheus}"

install_prometheus() {
    [[ "$(id -u)" == 0 ]] || die "Prometheus is not installed and we are not root: install the 'prometheus' package"
    log "installing Prometheus (apt-get install prometheus)"
    # Keep the package from starting the service it ships: the tests run their own.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        created_policy=1
    fi
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                -o Dpkg::Options::=--force-confold prometheus
    } >&2 || rc=$?
    if [[ "$created_policy" == 1 ]]; then rm -f "$policy"; fi
    [[ "$rc" == 0 ]] || die "apt-get install prometheus failed ($rc)"
    # Where systemd runs, the package's unit may have been enabled (and started despite
    # policy-rc.d on some setups): nothing may listen on :9090 behind the tests' back.
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        systemctl disable --now prometheus.service >&2 2>/dev/null || true
    fi
}

if [[ ! -x "$BIN" ]]; then
    install_prometheus
    BIN=/usr/bin/prometheus
    [[ -x "$BIN" ]] || die "no $BIN after installing prometheus"
fi
[[ -x "$(dirname "$BIN")/promtool" ]] || die "no promtool beside $BIN"
"$BIN" --version 2>&1 | head -n 1 >&2
echo "$BIN"
