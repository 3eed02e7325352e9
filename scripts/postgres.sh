#!/usr/bin/env bash
# A throwaway PostgreSQL server for Endure's tests, on 127.0.0.1 only.
#
#   scripts/postgres.sh start [PORT]    start one (default port 55432); idempotent
#   scripts/postgres.sh stop [PORT]     stop it (its data directory is kept)
#   scripts/postgres.sh destroy [PORT]  stop it and delete its data directory
#   scripts/postgres.sh status [PORT]   exit 0 if it is accepting connections
#
# `start` prints exactly one line on stdout, the variable the tests read:
#
#   export ENDURE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:55432/postgres
#
# so `eval "$(scripts/postgres.sh start)"` sets it; everything else goes to stderr.
#
# For clients in network namespaces (bench/chaos.sh), two variables widen what it accepts, at
# every `start`: ENDURE_TEST_POSTGRES_LISTEN, more addresses to listen on besides 127.0.0.1
# (comma-separated; they must exist when it starts), and ENDURE_TEST_POSTGRES_TRUST, a CIDR
# whose clients are trusted like 127.0.0.1 (added to pg_hba.conf once). `stop` shuts down
# with `pg_ctl -m fast` unless ENDURE_TEST_POSTGRES_STOP_MODE says `immediate` (a crash:
# recovery from the WAL at the next start).
#
# Works on a fresh Debian machine: if no PostgreSQL server binaries are found under
# /usr/lib/postgresql/*/bin it installs the `postgresql` package (without letting the package
# start a cluster of its own). The server runs as the `postgres` user (initdb refuses root),
# keeps its data and Unix socket in /tmp/endure-pg-PORT, trusts connections from 127.0.0.1
# only, keeps fsync on (durability stays real) and allows 300 connections (several test
# databases and a three-replica cluster at once).
set -euo pipefail

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
CMD="${1:-}"
# The postgres user may not be able to enter the caller's directory.
cd /tmp
PORT="${2:-55432}"
[[ "$PORT" =~ ^[0-9]+$ ]] || die "port must be a number, got '$PORT'"
DATA="/tmp/endure-pg-$PORT"
URL="postgres://postgres@127.0.0.1:$PORT/postgres"

# The newest installed server's bin directory (by major version), or nothing.
find_bindir() {
    local d v best=""
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] || continue
        v="${d#/usr/lib/postgresql/}"
        v="${v%/bin}"
        [[ "$v" =~ ^[0-9]+$ ]] || continue
        if [[ -z "$best" || "$v" -gt "$best" ]]; then best="$v"; fi
    done
    if [[ -n "$best" ]]; then echo "/usr/lib/postgresql/$best/bin"; fi
    return 0
}

install_postgres() {
    [[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed and we are not root: install the 'postgresql' package"
    log "installing PostgreSQL (apt-get install postgresql)"
    # Keep the package from starting the cluster it creates: we run our own.
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
                -o Dpkg::Options::=--force-confold postgresql
    } >&2 || rc=$?
    if [[ "$created_policy" == 1 ]]; then rm -f "$policy"; fi
    [[ "$rc" == 0 ]] || die "apt-get install postgresql failed ($rc)"
}

# Runs a command as the postgres user when we are root (initdb and postgres refuse root).
as_pg() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

ready() {
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2 >/dev/null 2>&1
}

start() {
    BIN="$(find_bindir)"
    if [[ -z "$BIN" ]]; then
        install_postgres
        BIN="$(find_bindir)"
        [[ -n "$BIN" ]] || die "no initdb under /usr/lib/postgresql/*/bin after installing postgresql"
    fi
    if [[ -f "$DATA/PG_VERSION" ]] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1 && ready; then
        log "already running on 127.0.0.1:$PORT (data in $DATA)"
        echo "export ENDURE_TEST_POSTGRES_URL=$URL"
        return
    fi
    if ready; then
        die "something else is listening on 127.0.0.1:$PORT; pick another port: $0 start PORT"
    fi
    if [[ "$(id -u)" == 0 ]] && ! id postgres >/dev/null 2>&1; then
        die "no 'postgres' user to run the server as (it comes with the postgresql package)"
    fi
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        log "creating a cluster in $DATA with $BIN/initdb"
        rm -rf "$DATA"
        mkdir -p "$DATA"
        if [[ "$(id -u)" == 0 ]]; then chown postgres:postgres "$DATA"; fi
        chmod 700 "$DATA"
        as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C >&2
        # Trust the loopback address only (and the socket inside the data directory).
        as_pg tee "$DATA/pg_hba.conf" >/dev/null <<EOF
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF
        as_pg tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# --- scripts/postgres.sh (Endure tests) ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA'
fsync = on
synchronous_commit = on
max_connections = 300
logging_collector = off
EOF
    fi
    local listen="127.0.0.1" trust="${ENDURE_TEST_POSTGRES_TRUST:-}"
    if [[ -n "${ENDURE_TEST_POSTGRES_LISTEN:-}" ]]; then
        listen="$listen,$ENDURE_TEST_POSTGRES_LISTEN"
    fi
    if [[ -n "$trust" ]] && ! grep -q "^host all all $trust trust\$" "$DATA/pg_hba.conf"; then
        echo "host all all $trust trust" | as_pg tee -a "$DATA/pg_hba.conf" >/dev/null
    fi
    log "starting PostgreSQL on $listen port $PORT (log: $DATA/server.log)"
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -o "-c listen_addresses='$listen'" \
        -w -t 60 start >&2 ||
        {
            tail -n 30 "$DATA/server.log" >&2 || true
            die "pg_ctl start failed"
        }
    local _
    for _ in $(seq 1 60); do
        if ready; then
            echo "export ENDURE_TEST_POSTGRES_URL=$URL"
            return
        fi
        sleep 0.5
    done
    tail -n 30 "$DATA/server.log" >&2 || true
    die "PostgreSQL did not become ready on 127.0.0.1:$PORT"
}

stop() {
    BIN="$(find_bindir)"
    if [[ -z "$BIN" || ! -f "$DATA/PG_VERSION" ]]; then
        log "no server in $DATA"
        return
    fi
    if as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        as_pg "$BIN/pg_ctl" -D "$DATA" -m "${ENDURE_TEST_POSTGRES_STOP_MODE:-fast}" -w stop >&2
    else
        log "not running (data in $DATA)"
    fi
}

case "$CMD" in
start) start ;;
stop) stop ;;
destroy)
    stop
    rm -rf "$DATA"
    log "removed $DATA"
    ;;
status)
    BIN="$(find_bindir)"
    [[ -n "$BIN" ]] || die "PostgreSQL is not installed"
    if ready; then
        log "running on 127.0.0.1:$PORT"
    else
        log "not running on 127.0.0.1:$PORT"
        exit 1
    fi
    ;;
*)
    sed -n '2,11p' "$SELF" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
