"""Workflows that touch other workflows held by other replicas: child workflows (start, result,
parent close policy), signals and cancel requests to external workflows. Each of these runs its
target-side step on the replica holding the target (the internal CrossStep call)."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta

from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus
from temporalio.workflow import ParentClosePolicy

from endure_cluster import Cluster, connect, shard_of, start_cluster, workflow_ids
from endure_testing.histories import history_problems
from endure_testing.sdk import new_worker


@workflow.defn
class Child:
    @workflow.run
    async def run(self, x: int) -> int:
        return x * 2


@workflow.defn
class Sleeper:
    """Runs until cancelled or signalled; reports which."""

    def __init__(self) -> None:
        self.woken = ""

    @workflow.signal
    def wake(self, by: str) -> None:
        self.woken = by

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.wait_condition(lambda: bool(self.woken))
            return f"woken by {self.woken}"
        except asyncio.CancelledError:
            return "cancelled"


@workflow.defn
class Parent:
    """Starts children on given ids, signals one external workflow and cancels another."""

    @workflow.run
    async def run(self, args: list[str]) -> list[str]:
        child_ids, to_signal, to_cancel, abandoned = args[0].split(","), args[1], args[2], args[3]
        results = []
        for i, cid in enumerate(child_ids):
            results.append(str(await workflow.execute_child_workflow(Child.run, i + 1, id=cid)))
        await workflow.get_external_workflow_handle(to_signal).signal(Sleeper.wake, "parent")
        await workflow.get_external_workflow_handle(to_cancel).cancel()
        # A child left running when the parent completes: terminated by the close policy.
        await workflow.start_child_workflow(
            Sleeper.run, id=abandoned, parent_close_policy=ParentClosePolicy.TERMINATE
        )
        return results


async def test_children_signals_and_cancels_across_replicas(cluster: Cluster):
    r1, r2, r3 = await start_cluster(cluster, 3)
    ns_id = await asyncio.to_thread(cluster.db.namespace_id, "default")
    owners = await asyncio.to_thread(cluster.owners)
    stamp = int(time.time() * 1000)
    # The parent on one replica, every other workflow on shards held by other replicas.
    parent_id = f"xr-parent-{stamp}"
    parent_owner = owners[shard_of(ns_id, parent_id)]
    # Ids on shards that replicas other than the parent's own.
    others = workflow_ids(ns_id, f"xr-{stamp}", 6, lambda s: owners[s] != parent_owner)
    children, to_signal, to_cancel, abandoned = others[:3], others[3], others[4], others[5]
    clients = [await connect(r) for r in (r1, r2, r3)]
    task_queue = f"xr-{os.getpid()}-{stamp}"
    workers = [new_worker(c, task_queue, [Parent, Child, Sleeper]) for c in clients]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        c1, c2, c3 = clients
        signalled = await c2.start_workflow(Sleeper.run, id=to_signal, task_queue=task_queue)
        cancelled = await c3.start_workflow(Sleeper.run, id=to_cancel, task_queue=task_queue)
        parent = await c1.start_workflow(
            Parent.run,
            [",".join(children), to_signal, to_cancel, abandoned],
            id=parent_id,
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=60),
        )
        assert await asyncio.wait_for(parent.result(), 45) == ["2", "4", "6"]
        assert await asyncio.wait_for(signalled.result(), 20) == "woken by parent"
        assert await asyncio.wait_for(cancelled.result(), 20) == "cancelled"
        for cid, want in zip(children, (2, 4, 6)):
            assert await c3.get_workflow_handle(cid).result() == want
        # The parent close policy reached the abandoned child on its own replica.
        async def terminated() -> bool:
            d = await c2.get_workflow_handle(abandoned).describe()
            return d.status == WorkflowExecutionStatus.TERMINATED

        deadline = time.monotonic() + 20
        while not await terminated():
            assert time.monotonic() < deadline, "the abandoned child was not terminated by its parent's close policy"
            await asyncio.sleep(0.2)
        for wf in [parent_id, *children, to_signal, to_cancel]:
            events = list((await c1.get_workflow_handle(wf).fetch_history()).events)
            problems = history_problems(wf, events)
            assert not problems, "\n".join(problems)
    finally:
        for w in workers:
            await w.shutdown()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
