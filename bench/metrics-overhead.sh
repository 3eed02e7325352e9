#!/usr/bin/env bash
# What recording metrics costs: one-activity throughput of `endure server start-dev` with
# metrics off, against the same with `--metrics-port` and /metrics scraped every second (as a
# Prometheus with a 1 s interval would), in alternating rounds on one machine. Prints each
# round and the medians; the figures bench/README.md quotes are the ratios of the medians. On a
# small machine the load generator and the server share the cores, so throughput swings from
# round to round; the server's CPU time per workflow (user + system, from /proc) is the steadier
# measure of what recording costs.
#
#   bench/metrics-overhead.sh [ROUNDS] [WORKFLOWS] [IN_FLIGHT]     (default 5 3000 50)
#
# Builds target/release/endure and endure-bench first. Loopback only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${1:-5}"
WORKFLOWS="${2:-3000}"
IN_FLIGHT="${3:-50}"

cargo build --release -q -p endure -p endure-bench
ENDURE="$ROOT/target/release/endure"
BENCH="$ROOT/target/release/endure-bench"
work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# One round: a fresh server (metrics on or off), the load, the throughput it reached.
round() {
    local mode="$1" n="$2"
    local port metrics_port db="$work/$mode-$n.db" args=()
    port="$(free_port)"
    if [[ "$mode" == on ]]; then
        metrics_port="$(free_port)"
        args=(--metrics-port "$metrics_port")
    fi
    "$ENDURE" server start-dev --port "$port" --db-filename "$db" --log-level warn --headless --http-port 0 "${args[@]}" >/dev/null &
    local server=$!
    pids+=("$server")
    "$BENCH" ready -a "127.0.0.1:$port" --timeout 30s >/dev/null
    local scraper=""
    if [[ "$mode" == on ]]; then
        (while curl -fsS -o /dev/null "http://127.0.0.1:$metrics_port/metrics"; do sleep 1; done) &
        scraper=$!
        pids+=("$scraper")
    fi
    local wfs cpu_before cpu_after
    cpu_before="$(cpu_ticks "$server")"
    wfs="$("$BENCH" run -a "127.0.0.1:$port" -s one-activity -w "$WORKFLOWS" -c "$IN_FLIGHT" --json 2>/dev/null \
        | python3 -c 'import json, sys; d = json.load(sys.stdin); r = d["scenarios"][0] if "scenarios" in d else d[0]; print(round(r["workflows_per_sec"], 1))')"
    cpu_after="$(cpu_ticks "$server")"
    [[ -n "$scraper" ]] && kill "$scraper" 2>/dev/null || true
    kill "$server"
    wait "$server" 2>/dev/null || true
    # throughput, and the server's CPU milliseconds per workflow
    echo "$wfs $(python3 -c "import os; print(round(($cpu_after - $cpu_before) * 1000 / os.sysconf('SC_CLK_TCK') / $WORKFLOWS, 3))")"
}

# User + system clock ticks of a process so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

off=() on=()
for n in $(seq 1 "$ROUNDS"); do
    off+=("$(round off "$n")")
    on+=("$(round on "$n")")
    read -r off_wfs off_cpu <<<"${off[-1]}"
    read -r on_wfs on_cpu <<<"${on[-1]}"
    echo "round $n: metrics off $off_wfs wf/s, $off_cpu ms CPU/wf; on and scraped every second $on_wfs wf/s, $on_cpu ms CPU/wf"
done
python3 - "$(printf '%s\n' "${off[@]}")" "$(printf '%s\n' "${on[@]}")" <<'PY'
import statistics, sys
rows = lambda s: [tuple(float(x) for x in l.split()) for l in s.splitlines() if l.strip()]
off, on = rows(sys.argv[1]), rows(sys.argv[2])
for i, (what, unit) in enumerate([("throughput", "wf/s"), ("server CPU per workflow", "ms")]):
    mo, mn = statistics.median(r[i] for r in off), statistics.median(r[i] for r in on)
    print(f"median {what}: off {mo:.3f} {unit}, on {mn:.3f} {unit}, on/off {mn / mo:.3f} ({(mn / mo - 1) * 100:+.1f} %)")
PY
