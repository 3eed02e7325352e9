#!/usr/bin/env bash
# The chaos soak: a steady mixed workload (sagas with compensations, activity retries, timers,
# signals, child workflows, continue-as-new) with a fault every few seconds, then a check that
# every workflow completed exactly once with its expected result and a valid history.
#
# Usage:
#   bench/chaos.sh                                  # cluster, 10 minutes, random seed (printed)
#   bench/chaos.sh --store sqlite                   # the dev server on SQLite
#   bench/chaos.sh --duration 60s --seed 7          # a smoke run; the seed fixes the fault schedule
#   bench/chaos.sh --fault-every 3s --rate 4
#   bench/chaos.sh --seed 7 --schedule-only         # print the schedule of a seed, run nothing
#   bench/chaos.sh --duration 60s --inject-violations   # self-test of the verification
#   bench/chaos.sh --help                           # every option
#
# --store cluster (the default): three `endure server start` replicas, each in its own network
# namespace joined to a bridge, on a PostgreSQL of the soak's own (scripts/postgres.sh on
# --pg-port, default 55490, listening on the bridge); faults: SIGKILL + restart, SIGSTOP/SIGCONT,
# a replica's link cut, PostgreSQL restart. Needs root (network namespaces).
# --store sqlite: one `endure server start-dev`; faults: SIGKILL + restart, SIGSTOP/SIGCONT.
#
# Environment:
#   ENDURE_BIN        endure binary (default: <target>/release/endure, built with
#                     `cargo build --release -p endure`, a no-op when fresh)
#   CARGO_TARGET_DIR  cargo's target directory (default: <repo>/target)
#
# Output: progress and a summary on stdout; JSON in bench/results/chaos-<store>-<time>.json.
# Logs and data go to bench/.work/chaos-<store>-<time>/, deleted after a clean run (kept with
# --keep, and always when anything failed: every replica's log, the fault log, the shard table,
# the bad workflows' histories and task rows, a dump of the database).
# Exit status: 0 clean, 1 a violation (lost, duplicated, wrong result, invalid history, a server
# that exited on its own), 2 the soak itself could not run.
set -euo pipefail

SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
ROOT="$(dirname "$(dirname "$SCRIPT")")"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

store=cluster
pg_port=55490
only_schedule=0
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        -h | --help)
            sed -n '2,/^set -euo/p' "$SCRIPT" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        --store) store="${args[$((i + 1))]:-}" ;;
        --store=*) store="${args[$i]#--store=}" ;;
        --pg-port) pg_port="${args[$((i + 1))]:-}" ;;
        --pg-port=*) pg_port="${args[$i]#--pg-port=}" ;;
        --schedule-only) only_schedule=1 ;;
    esac
done

# ---------------------------------------------------------------- Python environment
# shellcheck source=../scripts/python-env.sh
source "$ROOT/scripts/python-env.sh"
ensure_python_env "$ROOT/.venv" "$ROOT/tests/python/requirements.txt"
PYTHON="$ROOT/.venv/bin/python"
export PYTHONPATH="$ROOT/tests/support${PYTHONPATH:+:$PYTHONPATH}"

if [[ $only_schedule == 1 ]]; then
    exec "$PYTHON" "$ROOT/bench/chaos/soak.py" "$@"
fi

# ---------------------------------------------------------------- binary
# shellcheck source=../scripts/endure-bin.sh
source "$ROOT/scripts/endure-bin.sh"
ensure_endure_bin "$TARGET_DIR" || exit 2

# ---------------------------------------------------------------- cluster prerequisites
tag=""
if [[ "$store" == cluster ]]; then
    if [[ "$(id -u)" != 0 ]]; then
        echo "error: --store cluster makes network namespaces and veth links: run it as root" >&2
        exit 2
    fi
    command -v ip >/dev/null || {
        echo "error: iproute2's ip is missing (apt-get install iproute2)" >&2
        exit 2
    }
    # PostgreSQL itself is started by the soak (it must listen on the bridge it makes); a first
    # start and stop here installs Debian's package and creates its data directory if needed.
    if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || [[ ! -f "/tmp/endure-pg-$pg_port/PG_VERSION" ]]; then
        bash "$ROOT/scripts/postgres.sh" start "$pg_port" >/dev/null
        bash "$ROOT/scripts/postgres.sh" stop "$pg_port"
    fi
    tag="c$(printf '%05x' $((($$ * 7919 + RANDOM) % 1048576)))"
    args+=(--net-tag "$tag")
fi

# Whatever happens to the soak (even a SIGKILL of its Python process), nothing it started is
# left behind: processes in its namespaces, the namespaces, the bridge, its PostgreSQL.
cleanup() {
    [[ -n "$tag" ]] || return 0
    local ns link
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^endure-$tag-" || true); do
        # shellcheck disable=SC2046
        kill -9 $(ip netns pids "$ns" 2>/dev/null) 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    for link in $(ip -o link show 2>/dev/null | grep -oE "eh-$tag-[0-9]+" | sort -u || true); do
        ip link del "$link" 2>/dev/null || true
    done
    ip link del "eb-$tag" 2>/dev/null || true
    bash "$ROOT/scripts/postgres.sh" stop "$pg_port" >/dev/null 2>&1 || true
}
trap cleanup EXIT

rc=0
"$PYTHON" "$ROOT/bench/chaos/soak.py" "${args[@]}" || rc=$?
exit "$rc"
