"""Helpers for the cluster suite: replicas of `endure server start` sharing one PostgreSQL
database, the shard lease table and routing probes (history checks: ``endure_testing.histories``).

Servers, databases, shard placement and the cluster itself come from the shared harness
(tests/support, ``endure_testing``): a replica is an :class:`~endure_testing.cluster.Replica`
(an :class:`~endure_testing.servers.EndureServer`), the :class:`~endure_testing.cluster.Cluster`
starts them and waits for the shard assignment to settle, and every shard question is answered
by the binary itself (``endure debug shards``).

Fixtures live in conftest.py; this module holds plain classes and functions so test modules
can import them (``from endure_cluster import ...``).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pytest

from endure_testing import shards
from endure_testing.cluster import SHARDS, Cluster, Replica  # noqa: F401 - the suite's names

RESULTS_DIR = Path(__file__).resolve().parent / "results"


# ---------------------------------------------------------------------------
# Shard placement (asked of the binary: `endure debug shards`)


def shard_of(namespace_id: str, workflow_id: str, shard_count: int = SHARDS) -> int:
    return shards.shard_of(shard_count, namespace_id, workflow_id)


def queue_shard(namespace_id: str, queue: str, shard_count: int = SHARDS) -> int:
    """The shard whose owner hosts a task queue's matching (cross-replica matching: pollers
    are forwarded there)."""
    return shards.queue_shard(shard_count, namespace_id, queue)


def workflow_ids(
    namespace_id: str, prefix: str, count: int, where: Callable[[int], bool], shard_count: int = SHARDS
) -> list[str]:
    """The first `count` ids ``<prefix>-<k>`` whose shard satisfies `where`."""
    return shards.workflow_ids(shard_count, namespace_id, prefix, count, where)


def wait_until(pred: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(interval)


def write_result(name: str, data: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


# ---------------------------------------------------------------------------
# Routing: does every replica know where every shard is?


def probe_ids(namespace_id: str, shard_count: int = SHARDS) -> dict[int, str]:
    """One workflow id per shard (the first ``route-probe-<k>`` that hashes to it), for routing
    probes."""
    ids: dict[int, str] = {}
    k = 0
    while len(ids) < shard_count:
        batch = [f"route-probe-{i}" for i in range(k, k + 256)]
        k += 256
        for wf, shard in zip(batch, shards.shards_of(shard_count, namespace_id, batch)):
            ids.setdefault(shard, wf)
    return ids


async def unroutable(replicas: list[Replica], namespace_id: str) -> dict[str, list[int]]:
    """Per replica, the shards for which a workflow RPC is not served (answered UNAVAILABLE,
    "moving between replicas") right now: DescribeWorkflowExecution of a workflow that does
    not exist must answer NOT_FOUND through every replica, for every shard."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
    from temporalio.client import Client
    from temporalio.service import RPCError, RPCStatusCode

    ids = probe_ids(namespace_id)
    out: dict[str, list[int]] = {}
    for r in replicas:
        client = await Client.connect(r.address)
        bad = []
        for shard, wf in sorted(ids.items()):
            try:
                await client.workflow_service.describe_workflow_execution(
                    DescribeWorkflowExecutionRequest(
                        namespace="default", execution=WorkflowExecution(workflow_id=wf)
                    ),
                    retry=False,
                    timeout=timedelta(seconds=3),
                )
            except RPCError as e:
                if e.status != RPCStatusCode.NOT_FOUND:
                    bad.append(shard)
        if bad:
            out[r.name] = bad
    return out


async def wait_routable(cluster: "Cluster", replicas: list[Replica] | None = None, timeout: float = 20.0) -> float:
    """Waits until every replica routes a workflow RPC of every shard (see `unroutable`);
    returns how long that took."""
    import asyncio

    replicas = replicas if replicas is not None else cluster.running()
    ns = await asyncio.to_thread(cluster.db.namespace_id, "default")
    began = time.monotonic()
    while True:
        gone = [r.name for r in replicas if not r.alive()]
        if gone:
            pytest.fail(f"{gone} exited while waiting for routing.\n{cluster.diagnostics()}", pytrace=False)
        bad = await unroutable(replicas, ns)
        if not bad:
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            pytest.fail(
                f"replicas still answer UNAVAILABLE for shards {bad} {timeout:.0f}s after the lease "
                f"table settled (stale routing).\n{cluster.diagnostics()}",
                pytrace=False,
            )
        await asyncio.sleep(0.2)


async def start_cluster(cluster: "Cluster", n: int, extra_env: dict[str, str] | None = None) -> list[Replica]:
    """Starts `n` replicas, waits for /readyz, a settled lease table, and routing that works
    through every replica for every shard. Prints how long routing lagged behind the leases."""
    import asyncio

    began = time.monotonic()
    replicas = await asyncio.to_thread(cluster.start, n, extra_env)
    settled = time.monotonic() - began
    lag = await wait_routable(cluster, replicas)
    print(
        f"\n[cluster] {n} replicas ready and leases settled in {settled:.1f}s; "
        f"routing consistent {lag:.1f}s later"
    )
    return replicas


async def connect(replica: Replica, role: str = "client"):
    """A client on `replica`'s gRPC port. Its identity (also its workers' identity, recorded in
    WorkflowTaskStarted/ActivityTaskStarted events) names the replica: "<role>@<replica>"."""
    from temporalio.client import Client

    return await Client.connect(replica.address, identity=f"{role}@{replica.name}")
