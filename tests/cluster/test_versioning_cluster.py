"""Worker versioning across replicas: a deployment held by one replica routes the tasks of a
task queue matched on another; the routing survives kill -9 of the deployment's holder.

Three replicas on one PostgreSQL database (default settings). A Worker Deployment is the system
run ``temporal-sys-worker-deployment:<name>`` on that id's shard; the task queue's matching is
on the owner of the queue's shard (placement asked of the binary, ``endure debug shards``). The
names are picked so that the two are on DIFFERENT replicas: a versioned SDK worker's polls are
forwarded to the queue's owner, which registers the version with the deployment's owner
(internal RegisterVersion) and applies the routing that owner answers; a routing change
(SetWorkerDeploymentCurrentVersion) commits on the deployment's owner and reaches the queue's
owner at its pollers' next registration (ARCHITECTURE.md, "Worker versioning"), re-placing the
tasks waiting there. Workers, clients and runs are placed so that the polls, the deployment
RPCs, the starts and the task dispatch all cross replicas.

* ``test_routing_follows_the_deployment_across_replicas``: a v1 worker (on the deployment's
  owner, its polls forwarded to the queue's owner) is registered (DescribeWorkerDeploymentVersion
  through the queue's owner lists the queue); v1 made current through the third replica; a
  Pinned and an AutoUpgrade run (each waiting for signals) complete their first task on v1
  (within 20 s: the routing has to reach the queue's owner, the tasks wait until it does). A
  v2 worker registers; v2 made current; once the queue's owner routes to v2 (DescribeTaskQueue,
  within 20 s of the change) the AutoUpgrade run's next task completes on v2, a new run's first
  task on v2, the Pinned run's next task on v1 (told that its target moved).
* ``test_routing_survives_kill9_of_the_deployment_owner``: v1 made current before its worker
  polls the queue (so its first registration brings the routing); a run completes on v1; the
  deployment's owner is SIGKILLed; once a survivor holds its shard a new run still completes on
  v1, the deployment (described through a survivor) still has both versions and its routing,
  and v2 made current through a survivor commits on the new owner (previous version v1) and
  reaches the queue's owner with v2's first registration there: the next new run completes on
  v2, the earlier ones finish on v1.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.deployment.v1 import WorkerDeploymentOptions
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as WDV
from temporalio.api.enums.v1 import EventType, TaskQueueType, WorkerVersioningMode
from temporalio.api.enums.v1 import VersioningBehavior as VB
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentVersionRequest,
    PollWorkflowTaskQueueRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

from endure_cluster import Cluster, Replica, connect, queue_shard, shard_of, start_cluster, workflow_ids
from endure_testing.sdk import new_worker

NS = "default"
WAIT_S = 20.0
# A routing change reaches the queue's owner at its pollers' next registration (about 5 s).
ROUTING_LIMIT_S = 20.0
TAKEOVER_LIMIT_S = 20.0
PINNED = VB.VERSIONING_BEHAVIOR_PINNED
AUTO_UPGRADE = VB.VERSIONING_BEHAVIOR_AUTO_UPGRADE
UNVERSIONED = "__unversioned__"


# ---------------------------------------------------------------- workflows


def build_id() -> str | None:
    """The build id of the worker running the current workflow task."""
    v = workflow.info().get_current_deployment_version()
    return v.build_id if v else None


class _Stepper:
    """Records the build id of every workflow task; ``step`` wakes it, ``finish`` ends it."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []
        self.steps = 0
        self.done = False

    async def body(self) -> list:
        self.seen.append(build_id())
        while not self.done:
            steps = self.steps
            await workflow.wait_condition(lambda: self.done or self.steps > steps)
            self.seen.append(build_id())
        return self.seen


@workflow.defn(name="VcPinned", versioning_behavior=VersioningBehavior.PINNED)
class VcPinned(_Stepper):
    @workflow.signal
    def step(self) -> None:
        self.steps += 1

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> list:
        return await self.body()


@workflow.defn(name="VcAuto", versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class VcAuto(_Stepper):
    @workflow.signal
    def step(self) -> None:
        self.steps += 1

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> list:
        return await self.body()


WORKFLOWS = [VcPinned, VcAuto]


# ---------------------------------------------------------------- placement


def deployment_run(name: str) -> str:
    """The workflow id of a deployment's system run (its shard's key)."""
    return f"temporal-sys-worker-deployment:{name}"


@dataclass
class Placement:
    ns_id: str
    owners: dict[int, str]
    task_queue: str
    deployment: str
    queue_owner: Replica  # the task queue's matching
    dep_owner: Replica  # the deployment's system run
    third: Replica  # neither


async def placement(cluster: Cluster, replicas: list[Replica], stamp: int) -> Placement:
    """A task queue and a deployment whose system run is on another replica than the queue."""
    ns_id = await asyncio.to_thread(cluster.db.namespace_id, NS)
    owners = await asyncio.to_thread(cluster.owners)
    tq = f"vc-tq-{stamp}"
    queue_owner = cluster.by_member(owners[queue_shard(ns_id, tq)])
    assert queue_owner is not None, owners
    dep = next(
        d
        for d in (f"vc-dep-{stamp}-{k}" for k in range(1000))
        if owners[shard_of(ns_id, deployment_run(d))] != queue_owner.member_id
    )
    dep_owner = cluster.by_member(owners[shard_of(ns_id, deployment_run(dep))])
    assert dep_owner is not None and dep_owner is not queue_owner, owners
    [third] = [r for r in replicas if r is not queue_owner and r is not dep_owner]
    print(
        f"\n[versioning] task queue {tq} on {queue_owner.name}, deployment {dep} "
        f"(shard {shard_of(ns_id, deployment_run(dep))}) on {dep_owner.name}, third {third.name}"
    )
    return Placement(ns_id, owners, tq, dep, queue_owner, dep_owner, third)


def ids_on(p: Placement, replica: Replica, prefix: str, count: int) -> list[str]:
    """`count` workflow ids on `replica`'s shards."""
    return workflow_ids(p.ns_id, prefix, count, lambda s: p.owners[s] == replica.member_id)


# ---------------------------------------------------------------- helpers


def versioned_worker(client: Client, task_queue: str, deployment: str, build: str):
    return new_worker(
        client,
        task_queue,
        workflows=WORKFLOWS,
        deployment_config=WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(deployment, build), use_worker_versioning=True
        ),
    )


def wdv(deployment: str, build: str) -> WDV:
    return WDV(deployment_name=deployment, build_id=build)


async def eventually(check, what: str, timeout: float = WAIT_S, interval: float = 0.1, detail=None):
    """Polls an async check until it returns a truthy value; `detail` (async) adds to the failure."""
    deadline = time.monotonic() + timeout
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            extra = f"; {await detail()}" if detail else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}{extra}")
        await asyncio.sleep(interval)


async def unless_unavailable(call, what: str):
    """A raw call made after a takeover, retried while it is UNAVAILABLE (as the SDKs' clients
    retry it): a replica whose view of the shard's owner still names the dead replica forwards
    there and answers UNAVAILABLE until it re-reads the leases."""

    async def attempt():
        try:
            return await call()
        except RPCError as e:
            if e.status == RPCStatusCode.UNAVAILABLE:
                return None
            raise

    return await eventually(attempt, what)


async def describe_version(client: Client, deployment: str, build: str):
    return await client.workflow_service.describe_worker_deployment_version(
        DescribeWorkerDeploymentVersionRequest(namespace=NS, deployment_version=wdv(deployment, build))
    )


async def wait_version(client: Client, deployment: str, build: str, task_queue: str):
    """Until the version is registered with `task_queue` (its worker polled)."""

    async def registered():
        try:
            d = await describe_version(client, deployment, build)
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
            return None
        return d if task_queue in {q.name for q in d.version_task_queues} else None

    return await eventually(registered, f"version {deployment}:{build} registered with {task_queue}")


async def seed_version(client: Client, deployment: str, build: str, task_queue: str) -> None:
    """A version's raw poll of `task_queue` (ends empty at its 3 s deadline): the version exists."""
    await client.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(
            namespace=NS,
            task_queue=TaskQueue(name=task_queue),
            identity=f"seed-{build}",
            deployment_options=WorkerDeploymentOptions(
                deployment_name=deployment,
                build_id=build,
                worker_versioning_mode=WorkerVersioningMode.WORKER_VERSIONING_MODE_VERSIONED,
            ),
        ),
        timeout=timedelta(seconds=3),
    )


async def set_current(client: Client, deployment: str, build: str):
    return await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(namespace=NS, deployment_name=deployment, build_id=build)
    )


async def queue_current(client: Client, task_queue: str) -> str:
    """The current build id as the task queue's owner routes it (DescribeTaskQueue is served
    by the queue's owner): "" while it routes to unversioned workers or knows no deployment."""
    r = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=NS,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    vi = r.versioning_info
    return vi.current_deployment_version.build_id if r.HasField("versioning_info") else ""


async def wait_queue_routing(client: Client, task_queue: str, build: str, since: float, label: str) -> float:
    """Until the queue's owner routes to `build`; the lag from `since` (the routing change)."""

    async def routed():
        return await queue_current(client, task_queue) == build

    await eventually(
        routed,
        f"the owner of {task_queue} to route to {build}",
        timeout=ROUTING_LIMIT_S,
        detail=lambda: routing_detail(client, task_queue),
    )
    lag = time.time() - since
    print(f"[{label}] the queue's owner routes to {build} {lag:.1f}s after the change")
    return lag


async def routing_detail(client: Client, task_queue: str) -> str:
    try:
        return f"the queue's owner routes to {await queue_current(client, task_queue)!r}"
    except RPCError as e:
        return f"DescribeTaskQueue failed: {e}"


async def history(handle: WorkflowHandle) -> list[HistoryEvent]:
    return [e async for e in handle.fetch_history_events()]


def of_type(events: list[HistoryEvent], t: int) -> list[HistoryEvent]:
    return [e for e in events if e.event_type == t]


def tasks_completed(events: list[HistoryEvent]):
    return [
        e.workflow_task_completed_event_attributes
        for e in of_type(events, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    ]


async def wait_tasks(handle: WorkflowHandle, n: int, client: Client, task_queue: str) -> list[HistoryEvent]:
    """Until `n` workflow tasks completed; the history."""

    async def done():
        events = await history(handle)
        return events if len(tasks_completed(events)) >= n else None

    async def detail():
        names = [EventType.Name(e.event_type) for e in await history(handle)]
        return f"history {names}; {await routing_detail(client, task_queue)}"

    return await eventually(
        done, f"{handle.id}: {n} completed workflow tasks", timeout=WAIT_S, interval=0.05, detail=detail
    )


def builds_of(events: list[HistoryEvent]) -> list[tuple[int, str]]:
    return [(t.versioning_behavior, t.deployment_version.build_id) for t in tasks_completed(events)]


def target_changed(events: list[HistoryEvent]) -> list[bool]:
    return [
        e.workflow_task_started_event_attributes.target_worker_deployment_version_changed
        for e in of_type(events, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    ]


# ---------------------------------------------------------------- tests


async def test_routing_follows_the_deployment_across_replicas(cluster: Cluster):
    replicas = await start_cluster(cluster, 3)
    stamp = int(time.time() * 1000)
    p = await placement(cluster, replicas, stamp)
    dep, tq = p.deployment, p.task_queue
    # A: the worker's replica (the deployment's owner: its polls go on to the queue's owner,
    # which registers back here). B: describes (the queue's owner). C: routing changes, starts.
    worker_client = await connect(p.dep_owner, role="worker")
    b = await connect(p.queue_owner)
    c = await connect(p.third)
    # The runs live on C's shards: their tasks are offered to the queue's owner remotely.
    pinned_id, auto_id, fresh_id = ids_on(p, p.third, f"vc-{stamp}", 3)

    async with versioned_worker(worker_client, tq, dep, "v1"):
        await wait_version(b, dep, "v1", tq)
        first = await set_current(c, dep, "v1")
        set_v1 = time.time()
        assert first.previous_version == UNVERSIONED, first

        pinned = await b.start_workflow("VcPinned", id=pinned_id, task_queue=tq)
        auto = await b.start_workflow("VcAuto", id=auto_id, task_queue=tq)
        for handle, behavior in ((pinned, PINNED), (auto, AUTO_UPGRADE)):
            events = await wait_tasks(handle, 1, c, tq)
            assert builds_of(events) == [(behavior, "v1")], (handle.id, builds_of(events))
            (done,) = tasks_completed(events)
            assert (done.deployment_version, done.worker_deployment_name) == (wdv(dep, "v1"), dep)
        print(f"[versioning] first tasks completed on v1 {time.time() - set_v1:.1f}s after v1 was made current")

        async with versioned_worker(worker_client, tq, dep, "v2"):
            await wait_version(b, dep, "v2", tq)
            second = await set_current(c, dep, "v2")
            set_v2 = time.time()
            assert second.previous_deployment_version == wdv(dep, "v1"), second
            await wait_queue_routing(c, tq, "v2", set_v2, "versioning")

            # The AutoUpgrade run moves to v2 at its next task; the Pinned run stays on v1.
            await auto.signal("step")
            auto_events = await wait_tasks(auto, 2, c, tq)
            assert builds_of(auto_events) == [(AUTO_UPGRADE, "v1"), (AUTO_UPGRADE, "v2")], builds_of(auto_events)
            assert tasks_completed(auto_events)[1].deployment_version == wdv(dep, "v2")
            print(
                f"[versioning] AutoUpgrade run's next task completed on v2 "
                f"{time.time() - set_v2:.1f}s after the change"
            )

            fresh = await b.start_workflow("VcPinned", id=fresh_id, task_queue=tq)
            fresh_events = await wait_tasks(fresh, 1, c, tq)
            assert builds_of(fresh_events) == [(PINNED, "v2")], builds_of(fresh_events)

            await pinned.signal("step")
            pinned_events = await wait_tasks(pinned, 2, c, tq)
            assert builds_of(pinned_events) == [(PINNED, "v1"), (PINNED, "v1")], builds_of(pinned_events)
            assert target_changed(pinned_events) == [False, True], target_changed(pinned_events)
            assert target_changed(auto_events) == [False, False], target_changed(auto_events)

            vi = (await auto.describe()).raw_description.workflow_execution_info.versioning_info
            assert (vi.behavior, vi.deployment_version, vi.revision_number) == (AUTO_UPGRADE, wdv(dep, "v2"), 2), vi
            vi = (await pinned.describe()).raw_description.workflow_execution_info.versioning_info
            assert (vi.behavior, vi.deployment_version, vi.revision_number) == (PINNED, wdv(dep, "v1"), 1), vi

            for handle in (pinned, auto, fresh):
                await handle.signal("finish")
            results = {
                h.id: await asyncio.wait_for(h.result(), timeout=WAIT_S) for h in (pinned, auto, fresh)
            }
    assert results == {
        pinned_id: ["v1", "v1", "v1"],
        auto_id: ["v1", "v2", "v2"],
        fresh_id: ["v2", "v2"],
    }, results


async def test_routing_survives_kill9_of_the_deployment_owner(cluster: Cluster):
    replicas = await start_cluster(cluster, 3)
    stamp = int(time.time() * 1000)
    p = await placement(cluster, replicas, stamp)
    dep, tq, victim = p.deployment, p.task_queue, p.dep_owner
    survivors = [r for r in replicas if r is not victim]
    # Worker and clients on the survivors; the runs on the third replica's shards.
    worker_client = await connect(p.third, role="worker")
    client = await connect(p.queue_owner)
    other = await connect(p.third)
    before_id, after_id, moved_id = ids_on(p, p.third, f"vc-kill-{stamp}", 3)

    # Each routing change is made before the version it names polls the task queue, so that
    # version's first registration (answered by the deployment's owner) brings it to the
    # queue's owner: how soon a change reaches a queue already polled is the first test's
    # subject, this one is about the deployment outliving its owner. Both versions first poll
    # another queue (a raw poll that ends empty) to exist.
    await asyncio.gather(*(seed_version(client, dep, build, f"vc-seed-{stamp}") for build in ("v1", "v2")))
    await set_current(other, dep, "v1")
    async with versioned_worker(worker_client, tq, dep, "v1"):
        await wait_version(client, dep, "v1", tq)
        before = await client.start_workflow("VcPinned", id=before_id, task_queue=tq)
        assert builds_of(await wait_tasks(before, 1, other, tq)) == [(PINNED, "v1")]

        victim_shards = await asyncio.to_thread(cluster.shards_of, victim)
        dep_shard = shard_of(p.ns_id, deployment_run(dep))
        kill_at = await asyncio.to_thread(victim.kill9)
        print(f"[versioning-kill] kill -9 {victim.name} ({victim.member_id}, shards {victim_shards})")
        new_owner = None
        while time.time() - kill_at < TAKEOVER_LIMIT_S:
            o = (await asyncio.to_thread(cluster.owners)).get(dep_shard)
            if o and o != victim.member_id:
                new_owner = o
                break
            await asyncio.sleep(0.1)
        taken_at = time.time()
        assert new_owner is not None, (
            f"shard {dep_shard} still {victim.member_id}'s {TAKEOVER_LIMIT_S:.0f}s after the kill"
        )
        assert new_owner in {r.member_id for r in survivors}, new_owner
        print(
            f"[versioning-kill] deployment shard {dep_shard} owned by {cluster.by_member(new_owner).name} "
            f"{taken_at - kill_at:.1f}s after the kill"
        )

        # A new run still goes to the current version.
        after = await client.start_workflow("VcPinned", id=after_id, task_queue=tq)
        assert builds_of(await wait_tasks(after, 1, other, tq)) == [(PINNED, "v1")]

        # The new owner holds the deployment as it was (described through a survivor; the
        # routing may lag the lease a moment).
        d = (
            await unless_unavailable(
                lambda: client.workflow_service.describe_worker_deployment(
                    DescribeWorkerDeploymentRequest(namespace=NS, deployment_name=dep)
                ),
                f"deployment {dep} described after the takeover",
            )
        ).worker_deployment_info
        rc = d.routing_config
        assert (rc.current_deployment_version, rc.revision_number) == (wdv(dep, "v1"), 1), rc
        assert sorted(s.deployment_version.build_id for s in d.version_summaries) == ["v1", "v2"], d
        v = await unless_unavailable(
            lambda: describe_version(other, dep, "v1"), f"version v1 described through {p.third.name}"
        )
        assert tq in {q.name for q in v.version_task_queues}, v

        # A routing change commits on the new owner (which knew the previous one), and v2's
        # first poll of the queue, registered with the new owner, brings it to the queue's owner.
        r = await unless_unavailable(lambda: set_current(other, dep, "v2"), f"v2 made current through {p.third.name}")
        set_v2 = time.time()
        assert r.previous_deployment_version == wdv(dep, "v1"), r
        async with versioned_worker(worker_client, tq, dep, "v2"):
            await wait_version(client, dep, "v2", tq)
            await wait_queue_routing(client, tq, "v2", set_v2, "versioning-kill")
            moved = await client.start_workflow("VcPinned", id=moved_id, task_queue=tq)
            assert builds_of(await wait_tasks(moved, 1, other, tq)) == [(PINNED, "v2")]

            for h in (before, after, moved):
                await h.signal("finish")
            results = {h.id: await asyncio.wait_for(h.result(), timeout=WAIT_S) for h in (before, after, moved)}
    assert results == {before_id: ["v1", "v1"], after_id: ["v1", "v1"], moved_id: ["v2", "v2"]}, results
