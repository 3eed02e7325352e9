"""Helpers for the cluster suite: replicas of `endure server start` sharing one PostgreSQL
database, the shard lease table, routing probes and history checks.

Servers, databases and shard placement come from the shared harness (tests/support,
``endure_testing``): a replica is an :class:`~endure_testing.servers.EndureServer`, and every
shard question is answered by the binary itself (``endure debug shards``).

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
from endure_testing.postgres import Database
from endure_testing.servers import EndureServer

RESULTS_DIR = Path(__file__).resolve().parent / "results"

SHARDS = 16
SETTLE_TIMEOUT_S = 30.0


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


# ---------------------------------------------------------------------------
# Replicas


class Replica(EndureServer):
    """One `endure server start` process of a cluster: JSON logs at info, `SHARDS` shards,
    `/readyz` on its own HTTP port; `extra_env` overrides any ENDURE_* setting."""

    def __init__(self, index: int, db: Database, log_dir: Path, extra_env: dict[str, str] | None = None):
        settings = {
            "ENDURE_LOG_FORMAT": "json",
            "ENDURE_LOG_LEVEL": "info",
            "ENDURE_CLUSTER_SHARDS": str(SHARDS),
            **(extra_env or {}),
        }
        super().__init__(f"replica{index}", log_dir / f"replica{index}.log", db, settings)
        self.index = index


class Cluster:
    """Replicas of one database. Teardown (conftest) SIGKILLs them all."""

    def __init__(self, db: Database, log_dir: Path):
        self.db = db
        self.log_dir = log_dir
        self.replicas: list[Replica] = []

    def add(self, extra_env: dict[str, str] | None = None) -> Replica:
        r = Replica(len(self.replicas) + 1, self.db, self.log_dir, extra_env)
        self.replicas.append(r)
        return r

    def start(self, n: int, extra_env: dict[str, str] | None = None, settle: bool = True) -> list[Replica]:
        """Start `n` replicas together, wait for /readyz 200 on each and (by default) for the
        shard assignment to settle."""
        new = [self.add(extra_env) for _ in range(n)]
        for r in new:
            r.spawn()
        for r in new:
            r.wait_ready()
        if settle:
            self.wait_settled()
        return new

    def running(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive()]

    def by_member(self, member_id: str) -> Replica | None:
        return next((r for r in self.replicas if r.member_id == member_id), None)

    def owners(self) -> dict[int, str]:
        return {s: o for s, (o, _) in self.db.leases().items()}

    def shards_of(self, replica: Replica) -> list[int]:
        return sorted(s for s, o in self.owners().items() if o == replica.member_id)

    def wait_settled(
        self, members: list[Replica] | None = None, timeout: float = SETTLE_TIMEOUT_S
    ) -> dict[int, str]:
        """Waits until every shard is owned by a live member, each of `members` (default: the
        running replicas) is live and owns a shard, and the assignment is the rendezvous one
        (or, if it does not match it, has been stable for 3 s)."""
        members = members if members is not None else self.running()
        want = {r.member_id for r in members}
        deadline = time.monotonic() + timeout
        last: dict[int, str] | None = None
        stable_since = time.monotonic()
        problem = "never checked"
        while time.monotonic() < deadline:
            owners = self.owners()
            live = self.db.live_members()
            if owners != last:
                last, stable_since = owners, time.monotonic()
            problem = _assignment_problem(owners, live, want)
            if problem is None:
                desired = shards.owners(sorted(live), owners)
                if desired == owners or time.monotonic() - stable_since >= 3.0:
                    return owners
                problem = f"assignment {owners} is not yet the rendezvous one {desired}"
            time.sleep(0.1)
        pytest.fail(
            f"shard assignment did not settle within {timeout:.0f}s: {problem}\n{self.diagnostics()}",
            pytrace=False,
        )

    def diagnostics(self, tail: int = 40) -> str:
        parts = []
        try:
            parts.append(f"shards: {self.db.leases()}")
            parts.append(
                "members: "
                + str(self.db.query("SELECT id, expires_at > now(), expires_at FROM cluster_members ORDER BY id"))
            )
        except Exception as e:  # noqa: BLE001 - diagnostics must not raise
            parts.append(f"(could not read the cluster tables: {e})")
        for r in self.replicas:
            state = "running" if r.alive() else f"exited ({r.proc.returncode if r.proc else 'never started'})"
            parts.append(f"{r.name} grpc={r.address} member={r.member_id}: {state}")
            parts.append(r.log_tail(tail))
        return "\n".join(parts)

    def kill_all(self) -> None:
        for r in self.replicas:
            r.force_kill()


def _assignment_problem(owners: dict[int, str], live: set[str], want: set[str]) -> str | None:
    if len(owners) != SHARDS:
        return f"{len(owners)} shard rows, expected {SHARDS}"
    missing = want - live
    if missing:
        return f"members {sorted(missing)} are not live (live: {sorted(live)})"
    orphans = {s: o for s, o in owners.items() if o not in live}
    if orphans:
        return f"shards not owned by a live member: {orphans}"
    idle = [m for m in want if m not in owners.values()]
    if idle:
        return f"members owning no shard: {idle}"
    return None


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
# History checks


def history_problems(workflow_id: str, events: list, expect_completed: bool = True) -> list[str]:
    """What is wrong with one run's history (empty: nothing). Checks contiguous event ids, one
    start and one completion, no activity scheduled twice under one activity id, every activity
    event referring to an existing scheduled event, and exactly one TimerStarted and one
    TimerFired per timer id."""
    from temporalio.api.enums.v1 import EventType as ET

    problems: list[str] = []
    ids = [e.event_id for e in events]
    if ids != list(range(1, len(ids) + 1)):
        problems.append(f"event ids not contiguous from 1: {ids}")
    types = [e.event_type for e in events]
    n_started = types.count(ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    n_completed = types.count(ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
    if n_started != 1:
        problems.append(f"{n_started} WorkflowExecutionStarted events")
    if expect_completed:
        if n_completed != 1:
            problems.append(f"{n_completed} WorkflowExecutionCompleted events")
        elif types[-1] != ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            problems.append(f"last event is {ET.Name(types[-1])}, not WorkflowExecutionCompleted")
    scheduled: dict[int, str] = {}  # scheduled event id -> activity id
    activity_ids: dict[str, int] = {}
    started_for: dict[int, int] = {}
    closed_for: dict[int, int] = {}
    timers_started: dict[str, int] = {}
    timer_started_ids: dict[int, str] = {}
    timers_fired: dict[str, int] = {}
    for e in events:
        t = e.event_type
        if t == ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            aid = e.activity_task_scheduled_event_attributes.activity_id
            if aid in activity_ids:
                problems.append(f"activity id {aid!r} scheduled twice (events {activity_ids[aid]}, {e.event_id})")
            activity_ids[aid] = e.event_id
            scheduled[e.event_id] = aid
        elif t == ET.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            sid = e.activity_task_started_event_attributes.scheduled_event_id
            if sid not in scheduled:
                problems.append(f"ActivityTaskStarted {e.event_id} refers to unknown scheduled event {sid}")
            started_for[sid] = started_for.get(sid, 0) + 1
        elif t in (
            ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            ET.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
            ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
        ):
            attrs = {
                ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
                ET.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
                ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
                ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
            }[t]
            sid = getattr(e, attrs).scheduled_event_id
            if sid not in scheduled:
                problems.append(f"{ET.Name(t)} {e.event_id} refers to unknown scheduled event {sid}")
            closed_for[sid] = closed_for.get(sid, 0) + 1
        elif t == ET.EVENT_TYPE_TIMER_STARTED:
            tid = e.timer_started_event_attributes.timer_id
            timers_started[tid] = timers_started.get(tid, 0) + 1
            timer_started_ids[e.event_id] = tid
        elif t == ET.EVENT_TYPE_TIMER_FIRED:
            a = e.timer_fired_event_attributes
            timers_fired[a.timer_id] = timers_fired.get(a.timer_id, 0) + 1
            if timer_started_ids.get(a.started_event_id) != a.timer_id:
                problems.append(
                    f"TimerFired {e.event_id} (timer {a.timer_id!r}) refers to started event {a.started_event_id}, "
                    "which is not that timer's TimerStarted"
                )
    for sid, n in started_for.items():
        if n > 1:
            problems.append(f"activity scheduled at {sid} has {n} ActivityTaskStarted events")
    for sid, n in closed_for.items():
        if n > 1:
            problems.append(f"activity scheduled at {sid} closed {n} times")
    for tid, n in timers_started.items():
        if n != 1:
            problems.append(f"timer {tid!r} started {n} times")
    for tid in set(timers_started) | set(timers_fired):
        fired = timers_fired.get(tid, 0)
        if expect_completed and fired != 1:
            problems.append(f"timer {tid!r} fired {fired} times")
        elif fired > 1:
            problems.append(f"timer {tid!r} fired {fired} times")
    return [f"{workflow_id}: {p}" for p in problems]


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
