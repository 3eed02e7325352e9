#!/usr/bin/env bash
# Chromium for Endure's browser tests (tests/python/test_ui_browser.py drives it with Playwright;
# Playwright's own browser downloads are never used).
#
#   scripts/chromium.sh          install it if missing; print the chromium binary's path
#
# Prints exactly one line on stdout, the path of a headless-capable Chromium; everything else
# goes to stderr. The browser is $CHROMIUM_BIN if that is set and executable, else
# /usr/bin/chromium if present, else Debian's `chromium` package is installed (root only).
# Use it as: CHROMIUM_BIN="$(bash scripts/chromium.sh)"; export CHROMIUM_BIN
set -euo pipefail

log() { printf 'chromium.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

DEFAULT=/usr/bin/chromium

install_chromium() {
    [[ "$(id -u)" == 0 ]] || die "Chromium is not installed and we are not root: install Debian's 'chromium' package (or set CHROMIUM_BIN)"
    command -v apt-get >/dev/null 2>&1 || die "no apt-get: install a Chromium and set CHROMIUM_BIN to its path"
    log "installing Chromium (apt-get install chromium)"
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                -o Dpkg::Options::=--force-confold chromium
    } >&2 || rc=$?
    [[ "$rc" == 0 ]] || die "apt-get install chromium failed ($rc)"
}

BIN=""
if [[ -n "${CHROMIUM_BIN:-}" ]]; then
    if [[ -x "$CHROMIUM_BIN" && ! -d "$CHROMIUM_BIN" ]]; then
        BIN="$CHROMIUM_BIN"
    else
        log "CHROMIUM_BIN=$CHROMIUM_BIN is not an executable file; looking for $DEFAULT"
    fi
fi
if [[ -z "$BIN" ]]; then
    if [[ ! -x "$DEFAULT" ]]; then
        install_chromium
        [[ -x "$DEFAULT" ]] || die "no $DEFAULT after installing chromium"
    fi
    BIN="$DEFAULT"
fi
# Debian's /usr/bin/chromium is a wrapper script; --version runs the real binary.
version="$("$BIN" --version 2>/dev/null | head -n 1 || true)"
[[ "$version" == *Chromium* || "$version" == *Chrome* ]] || die "$BIN --version printed '${version}': not a Chromium"
log "$version"
echo "$BIN"
