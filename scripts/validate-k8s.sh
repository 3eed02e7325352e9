#!/usr/bin/env bash
# Validate every manifest under deploy/kubernetes/ without a cluster.
#
#   bash scripts/validate-k8s.sh
#
# Each resource is checked against the Kubernetes OpenAPI schemas of one fixed Kubernetes version,
# in strict mode (unknown fields are errors), with the schemas bundled in the PyPI package
# kubernetes-validate: after its one-time install into the project venv (.venv) this runs offline.
# Also checked: every resource sits in namespace "endure"; the ConfigMap's endure.toml is valid
# TOML; the worker ConfigMap embeds deploy/kubernetes/worker/*.py byte for byte; the worker's
# temporalio pin matches tests/python/requirements.txt.
# Exits non-zero on any failure.
#
# Environment: VENV (default .venv), K8S_VERSION (default 1.30.0).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
K8S_VERSION="${K8S_VERSION:-1.30.0}"
KUBERNETES_VALIDATE_VERSION="1.37.0"
MANIFESTS="$ROOT/deploy/kubernetes"

# --- the venv with kubernetes-validate (no network when it is already installed) ---------------
have_validator() {
    [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - "$KUBERNETES_VALIDATE_VERSION" 2>/dev/null <<'EOF'
import sys
from kubernetes_validate.version import __version__
sys.exit(0 if __version__ == sys.argv[1] else 1)
EOF
}
if ! have_validator; then
    # shellcheck source=scripts/python-env.sh
    source "$ROOT/scripts/python-env.sh"
    reqs="$(mktemp)"
    trap 'rm -f "$reqs"' EXIT
    echo "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >"$reqs"
    echo "==> installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $VENV" >&2
    ensure_python_env "$VENV" "$reqs"
fi

# --- the worker ConfigMap is generated from worker/*.py ----------------------------------------
status=0
if "$VENV/bin/python" "$MANIFESTS/worker/render_configmap.py" --check; then
    echo "OK    30-worker-configmap.yaml is up to date with worker/*.py (render_configmap.py --check)"
else
    echo "FAIL  30-worker-configmap.yaml is out of date with worker/*.py"
    status=1
fi

# --- schemas and consistency checks ------------------------------------------------------------
"$VENV/bin/python" - "$ROOT" "$K8S_VERSION" <<'EOF' || status=1
import re
import sys
from pathlib import Path

import yaml
import kubernetes_validate as kv

root, k8s_version = Path(sys.argv[1]), sys.argv[2]
base = root / "deploy" / "kubernetes"
files = sorted(p for p in base.rglob("*") if p.suffix in (".yaml", ".yml"))
if not files:
    sys.exit(f"no manifests under {base}")

print(f"kubernetes-validate {kv.__version__}, Kubernetes {k8s_version}, strict schemas")
passed = failed = 0
resources = {}  # (kind, name) -> object


def check(ok: bool, what: str) -> None:
    global passed, failed
    print(f"{'OK   ' if ok else 'FAIL '} {what}")
    if ok:
        passed += 1
    else:
        failed += 1


for path in files:
    rel = path.relative_to(base)
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as e:
        check(False, f"{rel}: YAML does not parse: {e}")
        continue
    if not docs:
        check(False, f"{rel}: no resources")
        continue
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            check(False, f"{rel}: a document without kind/apiVersion")
            continue
        kind = doc["kind"]
        name = (doc.get("metadata") or {}).get("name", "?")
        label = f"{rel}: {kind}/{name}"
        errors = []
        try:
            kv.validate(doc, k8s_version, strict=True)
        except kv.ValidationError as e:
            where = ".".join(str(p) for p in e.path) or "(root)"
            errors.append(f"{where}: {e.message}")
        except (kv.SchemaNotFoundError, kv.InvalidSchemaError) as e:
            errors.append(e.message)
        namespace = (doc.get("metadata") or {}).get("namespace")
        if kind != "Namespace" and namespace != "endure":
            errors.append(f"metadata.namespace is {namespace!r}, not 'endure'")
        if (kind, name) in resources:
            errors.append("defined twice")
        resources[(kind, name)] = doc
        check(not errors, label + "".join(f"\n        {e}" for e in errors))

# endure.toml in the server ConfigMap is valid TOML with the sections the server reads.
config = resources.get(("ConfigMap", "endure-config"))
try:
    import tomllib

    toml = tomllib.loads(config["data"]["endure.toml"])
    missing = [s for s in ("server", "log", "storage", "cluster") if s not in toml]
    check(not missing and "postgres" in toml["storage"],
          f"ConfigMap/endure-config: endure.toml parses as TOML"
          + (f" (missing sections {missing})" if missing else ""))
except Exception as e:  # a missing ConfigMap, or invalid TOML
    check(False, f"ConfigMap/endure-config: endure.toml: {e!r}")

# The worker ConfigMap carries worker/*.py unchanged.
worker_cm = resources.get(("ConfigMap", "endure-example-worker"))
for script in ("worker.py", "starter.py"):
    embedded = ((worker_cm or {}).get("data") or {}).get(script)
    check(embedded == (base / "worker" / script).read_text(),
          f"ConfigMap/endure-example-worker: data[{script}] equals worker/{script}")

# The worker installs the temporalio version the test suite pins.
pin = re.search(r"^temporalio==(\S+)", (root / "tests/python/requirements.txt").read_text(), re.M)
worker = resources.get(("Deployment", "endure-example-worker"))
command = " ".join(worker["spec"]["template"]["spec"]["containers"][0]["command"]) if worker else ""
check(bool(pin) and f"temporalio=={pin.group(1)}" in command,
      f"Deployment/endure-example-worker: installs temporalio=={pin.group(1) if pin else '?'}"
      " as tests/python/requirements.txt pins")

print(f"validate-k8s: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF

if [[ $status -ne 0 ]]; then
    echo "validate-k8s: FAILED" >&2
fi
exit "$status"
