"""Priority and fairness honoured by matching.

What the real server (1.32) does, and these tests check: activities waiting in a task queue's
backlog are handed to a worker lowest priority key first (1 is the highest; unset means the
middle key, 3), and in the order they were scheduled within one key. An activity without a
priority of its own takes its workflow's. Within one priority key, tasks of different fairness
keys take turns rather than one key's burst going first.

Each test fills a backlog with no activity worker polling, then starts a worker that runs one
activity at a time and records the order it got them in.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.enums.v1 import DescribeTaskQueueMode, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.common import Priority

import pytest

from conftest import new_worker, start_server, unique

# The real dev server splits a task queue into four partitions and orders each one alone; with
# one partition its backlog is ordered as a whole, as Endure's (one queue, no partitions) is.
ONE_PARTITION = [
    f"--dynamic-config-value={key}=1"
    for key in ("matching.numTaskqueueReadPartitions", "matching.numTaskqueueWritePartitions")
] + ["--dynamic-config-value=matching.enableFairness=true"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("server"), temporal_args=ONE_PARTITION)
    try:
        yield srv
    finally:
        srv.stop()

RESULT_TIMEOUT_S = 60

ran: list[str] = []


@activity.defn
async def record(label: str) -> str:
    ran.append(label)
    return label


@workflow.defn
class Backlog:
    """Schedules one activity per (label, priority key, fairness key), all at once."""

    @workflow.run
    async def run(self, queue: str, items: list[tuple[str, int, str]]) -> list[str]:
        handles = [
            workflow.start_activity(
                record,
                label,
                task_queue=queue,
                start_to_close_timeout=timedelta(seconds=30),
                priority=Priority(priority_key=key or None, fairness_key=fkey or None),
            )
            for label, key, fkey in items
        ]
        return list(await asyncio.gather(*handles))


async def wait_for_backlog(client, queue: str, n: int) -> None:
    """Until the activity queue's backlog holds all `n` tasks (none still on its way, to be
    handed straight to the worker when it starts)."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=queue),
        api_mode=DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_ENHANCED,
        task_queue_types=[TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY],
        report_stats=True,
    )
    backlog = 0
    for _ in range(200):
        r = await client.workflow_service.describe_task_queue(request)
        backlog = sum(
            t.stats.approximate_backlog_count
            for v in r.versions_info.values()
            for t in v.types_info.values()
        )
        if backlog >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{queue}: the backlog has {backlog} of {n} tasks")


async def run_backlog(client, task_queue: str, items, workflow_priority=None) -> list[str]:
    """Fills the backlog, then lets a one-at-a-time worker drain it; the order it ran them."""
    activity_queue = unique("prio-act")
    workflow_id = unique("prio")
    ran.clear()
    async with new_worker(client, task_queue, workflows=[Backlog]):
        handle = await client.start_workflow(
            Backlog.run,
            args=[activity_queue, items],
            id=workflow_id,
            task_queue=task_queue,
            priority=workflow_priority or Priority.default,
        )
        await wait_for_backlog(client, activity_queue, len(items))
        async with new_worker(
            client, activity_queue, activities=[record], max_concurrent_activities=1
        ):
            result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    assert sorted(result) == sorted(label for label, _, _ in items)
    print("order:", ran)
    return list(ran)


async def test_backlog_is_served_lowest_priority_key_first(client, task_queue):
    items = [
        ("p5", 5, ""),
        ("p1-a", 1, ""),
        ("unset-a", 0, ""),
        ("p2", 2, ""),
        ("p1-b", 1, ""),
        ("p4", 4, ""),
        ("unset-b", 0, ""),
    ]
    order = await run_backlog(client, task_queue, items)
    # Unset sits at 3, between 2 and 4.
    keys = [label.split("-")[0] for label in order]
    assert keys == ["p1", "p1", "p2", "unset", "unset", "p4", "p5"], order


async def test_activities_without_a_priority_take_their_workflows(client, task_queue):
    # The workflow runs at key 1: its unset activities go before the explicit 2 and 3.
    items = [("p3", 3, ""), ("unset", 0, ""), ("p2", 2, "")]
    order = await run_backlog(client, task_queue, items, Priority(priority_key=1))
    assert order == ["unset", "p2", "p3"]


async def test_fairness_keys_take_turns_within_a_priority(client, task_queue):
    # Tenant a's burst is queued before tenant b's tasks; b is not made to wait for all of it.
    items = [(f"a{i}", 0, "tenant-a") for i in range(6)] + [
        (f"b{i}", 0, "tenant-b") for i in range(3)
    ]
    order = await run_backlog(client, task_queue, items)
    first_b = min(i for i, label in enumerate(order) if label.startswith("b"))
    assert first_b <= 2, order
    # And the two take turns: b's three tasks are done before a's last three.
    last_b = max(i for i, label in enumerate(order) if label.startswith("b"))
    assert last_b <= 6, order
