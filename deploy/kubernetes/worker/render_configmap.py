#!/usr/bin/env python3
"""Write ../30-worker-configmap.yaml from worker.py and starter.py (kept byte-identical).

    python3 deploy/kubernetes/worker/render_configmap.py           # regenerate
    python3 deploy/kubernetes/worker/render_configmap.py --check   # exit 1 if out of date

scripts/validate-k8s.sh runs the --check form. Standard library only.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE.parent / "30-worker-configmap.yaml"
SCRIPTS = ["worker.py", "starter.py"]

HEADER = """\
# GENERATED from deploy/kubernetes/worker/{worker,starter}.py by
# deploy/kubernetes/worker/render_configmap.py: edit those files, then rerun it.
# The example worker's code, mounted at /app in 31-worker-deployment.yaml.
apiVersion: v1
kind: ConfigMap
metadata:
  name: endure-example-worker
  namespace: endure
  labels:
    app.kubernetes.io/name: endure-example-worker
    app.kubernetes.io/part-of: endure
data:
"""


def literal_block(key: str, text: str) -> str:
    """`key: |` followed by the text indented 4 spaces (YAML literal block, clip chomping)."""
    if not text.endswith("\n") or text.endswith("\n\n"):
        raise SystemExit(f"{key}: must end with exactly one newline")
    if text[0] in " \t\n" or "\t" in text or "\r" in text:
        raise SystemExit(f"{key}: leading whitespace, tabs or CR cannot go in a literal block")
    lines = [("    " + line) if line else "" for line in text[:-1].split("\n")]
    return f"  {key}: |\n" + "\n".join(lines) + "\n"


def render() -> str:
    return HEADER + "".join(literal_block(name, (HERE / name).read_text()) for name in SCRIPTS)


def main() -> int:
    text = render()
    if sys.argv[1:] == ["--check"]:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET.name} is out of date with worker/*.py; run "
                  "python3 deploy/kubernetes/worker/render_configmap.py", file=sys.stderr)
            return 1
        return 0
    if sys.argv[1:]:
        raise SystemExit(__doc__)
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
