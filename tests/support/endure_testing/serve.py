"""Runs a command against a fresh server: ``python -m endure_testing.serve -- CMD ARGS...``.

The server is the one the environment chooses (:mod:`endure_testing.targets`:
``ENDURE_TEST_TARGET``, ``ENDURE_TEST_STORE``), started on a free port with its data in a
temporary directory. The command runs with ``TEMPORAL_ADDRESS`` (``host:port``),
``TEMPORAL_NAMESPACE`` (``default``), ``ENDURE_TEST_EXTRA_NAMESPACE`` and
``ENDURE_TEST_TARGET`` set; the server is stopped afterwards and the command's exit status is
returned. When the command fails, the server's log tail is printed. Suites in other languages
(tests/typescript) run under it so that every suite starts its servers the same way.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from endure_testing import targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m endure_testing.serve", description=__doc__)
    parser.add_argument(
        "--search-attribute",
        action="append",
        default=[],
        metavar="NAME=TYPE",
        help="a custom search attribute to register at start (repeatable)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    declared = dict(d.split("=", 1) for d in args.search_attribute)
    with tempfile.TemporaryDirectory(prefix="endure-serve-") as tmp:
        server = targets.make_server(Path(tmp), search_attributes=declared)
        server.start()
        try:
            env = dict(os.environ)
            env.update(
                TEMPORAL_ADDRESS=server.address,
                TEMPORAL_NAMESPACE="default",
                ENDURE_TEST_EXTRA_NAMESPACE=targets.EXTRA_NAMESPACE,
                ENDURE_TEST_TARGET=targets.target(),
            )
            what = "temporal" if targets.target() == "temporal" else f"endure ({targets.store()})"
            print(f"serve: {what} on {server.address}", flush=True)
            status = subprocess.run(command, env=env).returncode
            if status != 0:
                print(server.log_tail())
            return status
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
