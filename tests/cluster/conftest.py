"""Fixtures of the cluster suite: several `endure server start` replicas sharing one fresh
PostgreSQL database per test.

Needs ENDURE_TEST_POSTGRES_URL (`eval "$(bash scripts/postgres.sh start)"`) and the binary
(`cargo build -p endure`, or ENDURE_BIN); without them every test FAILS (never skips).

Each test gets its own database (dropped WITH (FORCE) afterwards) and its replicas' JSON logs
in tests/cluster/results/logs/<test>/. Replicas run in their own process groups and are
SIGKILLed in teardown whatever happened. When a test fails, the shard table and the tail of
every replica's log are attached to the report.
"""

from __future__ import annotations

import os
import shutil
from typing import Iterator

import pytest

from endure_cluster import RESULTS_DIR, Cluster
from endure_testing.postgres import Database, postgres_url
from endure_testing.sdk import quiet_core_logs
from endure_testing.servers import endure_bin

_CLUSTERS = pytest.StashKey[list]()


# The SDK's core logs every retried RPC at WARN: hundreds of lines during a failover.
quiet_core_logs()


@pytest.fixture
def database() -> Iterator[Database]:
    """A fresh, empty database (dropped afterwards)."""
    url = postgres_url()
    endure_bin()  # fail early, before creating anything
    db = Database(url)
    db.create()
    try:
        yield db
    finally:
        if os.environ.get("ENDURE_TEST_KEEP_DATABASE") == "1":
            print(f"\n[cluster] kept database {db.url}")
        else:
            db.drop()


@pytest.fixture
def cluster(request: pytest.FixtureRequest, database: Database) -> Iterator[Cluster]:
    """An empty cluster on a fresh database; `cluster.start(n)` starts replicas."""
    log_dir = RESULTS_DIR / "logs" / _safe(request.node.name)
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    c = Cluster(database, log_dir)
    request.node.stash.setdefault(_CLUSTERS, []).append(c)
    try:
        yield c
    finally:
        c.kill_all()


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for c in item.stash.get(_CLUSTERS, []):
            try:
                report.sections.append(("cluster state and replica logs", c.diagnostics()))
            except Exception as e:  # noqa: BLE001
                report.sections.append(("cluster state and replica logs", f"unavailable: {e!r}"))

