"""The ``temporal`` CLI as the suites run it: against one server, without colour or the
version check, output captured, exit status checked.

``Cli(server)`` runs ``temporal <args> --address <server> --color never``; ``prefix`` puts a
command group in front of every call (``Cli(server, ("schedule",))``). Calls are blocking
(``run_sync``) or awaitable (``run``, run in a thread so a test's own worker keeps running).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from typing import Any, Sequence

from .servers import ServerProcess, temporal_bin

# Seconds a CLI call may take.
CLI_TIMEOUT_S = 60


class Cli:
    def __init__(self, server: ServerProcess, prefix: Sequence[str] = ()) -> None:
        self.server = server
        self.prefix = tuple(prefix)
        self.binary = temporal_bin()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        self.env["NO_COLOR"] = "1"
        self.env["TEMPORAL_VERSION_CHECK_DISABLED"] = "1"

    def run_sync(self, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
        args = (*self.prefix, *args)
        cmd = [self.binary, *args, "--address", self.server.address, "--color", "never"]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=self.env, stdin=subprocess.DEVNULL, timeout=CLI_TIMEOUT_S
        )
        shown = " ".join(args)
        if expect_ok:
            assert proc.returncode == 0, (
                f"`temporal {shown}` exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        else:
            assert proc.returncode != 0, f"`temporal {shown}` should have failed\nstdout:\n{proc.stdout}"
        return proc

    async def run(self, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
        return await asyncio.to_thread(self.run_sync, *args, expect_ok=expect_ok)

    async def out(self, *args: str) -> str:
        return (await self.run(*args)).stdout

    async def json(self, *args: str) -> Any:
        return json.loads(await self.out(*args, "-o", "json"))

    async def error(self, *args: str) -> str:
        """The stderr of a call that must fail."""
        return (await self.run(*args, expect_ok=False)).stderr.strip()


def kv_lines(text: str) -> dict[str, str]:
    """The ``Key  Value`` lines of a text-mode ``describe`` (the first of each key)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^\s+(\S+)\s{2,}(.*?)\s*$", line)
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out
