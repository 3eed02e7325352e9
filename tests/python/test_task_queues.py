"""DescribeTaskQueue pollers, ListTaskQueuePartitions and ShutdownWorker.

What the real server (1.32) does, and these tests check:

* DescribeTaskQueue (workflow and activity types) lists the worker's pollers
  with its identity and a recent last_access_time; the worker's sticky queue
  (kind STICKY) lists it too; a queue nobody polled has no pollers.
* ListTaskQueuePartitions answers partitions for both types, the root
  partition's key being the queue name, each with an owner host (the dev
  server answers 4 per type, even for a queue never used).
* ShutdownWorker: the SDK calls it when a worker stops (with its sticky
  queue); a direct call answers an empty response; a second worker then
  continues the workflow right away.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType, TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    ListTaskQueuePartitionsRequest,
    ShutdownWorkerRequest,
    ShutdownWorkerResponse,
)

from conftest import new_worker, unique
from history_golden import wait_for_events

RESULT_TIMEOUT_S = 30
POLLER_DEADLINE_S = 10
TAKEOVER_DEADLINE_S = 5.0

WF = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
ACT = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY


@activity.defn
async def double(x: int) -> int:
    return 2 * x


@workflow.defn
class DoubleThenWait:
    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, x: int) -> int:
        y = await workflow.execute_activity(
            double, x, start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.wait_condition(lambda: self.go)
        return y


async def describe(client, queue: TaskQueue, kind: int):
    return await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace="default", task_queue=queue, task_queue_type=kind)
    )


async def pollers_of(client, queue: TaskQueue, kind: int, identity: str):
    """Until DescribeTaskQueue lists a poller with ``identity``."""
    deadline = time.monotonic() + POLLER_DEADLINE_S
    pollers = []
    while time.monotonic() < deadline:
        pollers = list((await describe(client, queue, kind)).pollers)
        if any(p.identity == identity for p in pollers):
            return pollers
        await asyncio.sleep(0.2)
    raise AssertionError(
        f"no poller {identity!r} on {queue.name} ({TaskQueueType.Name(kind)}): {pollers}"
    )


def assert_recent(poller) -> None:
    assert poller.HasField("last_access_time")
    age = time.time() - poller.last_access_time.ToDatetime().timestamp()
    assert -5 < age < 60, f"last_access_time {age:.1f}s ago"


async def test_describe_task_queue_lists_pollers(client, task_queue):
    untouched = unique("nobody-polls")
    async with new_worker(
        client, task_queue, [DoubleThenWait], [double], identity="described-worker"
    ):
        handle = await client.start_workflow(
            DoubleThenWait.run, 21, id=unique("describe-tq"), task_queue=task_queue
        )
        await wait_for_events(handle, ["ACTIVITY_TASK_COMPLETED"])
        normal = TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL)
        for kind in (WF, ACT):
            pollers = await pollers_of(client, normal, kind, "described-worker")
            [mine] = [p for p in pollers if p.identity == "described-worker"]
            assert_recent(mine)

        # The worker's sticky queue, as recorded in history.
        sticky_name = next(
            e.workflow_task_scheduled_event_attributes.task_queue.name
            for e in (await handle.fetch_history()).events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
            and e.workflow_task_scheduled_event_attributes.task_queue.kind
            == TaskQueueKind.TASK_QUEUE_KIND_STICKY
        )
        sticky = TaskQueue(
            name=sticky_name,
            kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY,
            normal_name=task_queue,
        )
        [mine] = [
            p
            for p in await pollers_of(client, sticky, WF, "described-worker")
            if p.identity == "described-worker"
        ]
        assert_recent(mine)

        for kind in (WF, ACT):
            assert list((await describe(client, TaskQueue(name=untouched), kind)).pollers) == []

        await handle.signal(DoubleThenWait.proceed)
        assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S) == 42


async def test_list_task_queue_partitions(client, task_queue):
    async with new_worker(client, task_queue, [DoubleThenWait], [double]):
        handle = await client.start_workflow(
            DoubleThenWait.run, 1, id=unique("partitions"), task_queue=task_queue
        )
        await wait_for_events(handle, ["ACTIVITY_TASK_COMPLETED"])
        resp = await client.workflow_service.list_task_queue_partitions(
            ListTaskQueuePartitionsRequest(
                namespace="default", task_queue=TaskQueue(name=task_queue)
            )
        )
        await handle.terminate(reason="test done")
    for partitions in (resp.workflow_task_queue_partitions, resp.activity_task_queue_partitions):
        assert len(partitions) >= 1
        keys = [p.key for p in partitions]
        assert task_queue in keys, keys
        for p in partitions:
            assert p.owner_host_name, p


async def test_worker_shutdown_then_second_worker_continues(client, task_queue):
    async with new_worker(
        client, task_queue, [DoubleThenWait], [double], identity="leaving-worker"
    ):
        handle = await client.start_workflow(
            DoubleThenWait.run, 5, id=unique("shutdown"), task_queue=task_queue
        )
        await wait_for_events(handle, ["ACTIVITY_TASK_COMPLETED"])
    # Leaving the block shut the worker down (the SDK called ShutdownWorker)
    # without an error. A direct call is answered too.
    sticky_name = next(
        e.workflow_task_scheduled_event_attributes.task_queue.name
        for e in (await handle.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
        and e.workflow_task_scheduled_event_attributes.task_queue.kind
        == TaskQueueKind.TASK_QUEUE_KIND_STICKY
    )
    resp = await client.workflow_service.shutdown_worker(
        ShutdownWorkerRequest(
            namespace="default",
            sticky_task_queue=sticky_name,
            identity="leaving-worker",
            reason="test shutdown",
        )
    )
    assert resp == ShutdownWorkerResponse()

    started = time.monotonic()
    await handle.signal(DoubleThenWait.proceed)
    async with new_worker(
        client, task_queue, [DoubleThenWait], [double], identity="second-worker"
    ):
        assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S) == 10
        elapsed = time.monotonic() - started
    assert elapsed < TAKEOVER_DEADLINE_S, f"second worker took {elapsed:.1f}s"
    identities = [
        e.workflow_task_started_event_attributes.identity
        for e in (await handle.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    ]
    assert identities[-1] == "second-worker"
    assert set(identities[:-1]) == {"leaving-worker"}
