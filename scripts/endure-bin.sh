# Sourced by bench/compare.sh and bench/chaos.sh: the Endure binary they run.
#
# ensure_endure_bin TARGET_DIR
#   Keeps ENDURE_BIN if it is set (failing if it is not an executable); otherwise builds
#   TARGET_DIR/release/endure with `cargo build --release -p endure` (a no-op when fresh, so a
#   stale binary is never run) and sets ENDURE_BIN to it. Exported either way.

ensure_endure_bin() {
    local target_dir="$1"
    if [[ -n "${ENDURE_BIN:-}" ]]; then
        if [[ ! -x "$ENDURE_BIN" ]]; then
            echo "error: ENDURE_BIN=$ENDURE_BIN is not an executable" >&2
            return 1
        fi
    else
        echo "==> cargo build --release -p endure" >&2
        cargo build --release -p endure || return 1
        ENDURE_BIN="$target_dir/release/endure"
    fi
    export ENDURE_BIN
}
