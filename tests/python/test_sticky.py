"""Sticky execution: later workflow tasks go to the worker's sticky queue; a
replacement worker continues the workflow promptly; ResetStickyTaskQueue.

What the real server (1.32) records, and these tests check:

* The first WorkflowTaskScheduled has the normal queue (kind NORMAL, no
  normal_name). Once the worker completed a task with sticky attributes, the
  next ones have the worker's sticky queue: kind STICKY, normal_name = the
  workflow's task queue.
* When the worker shuts down (the SDK calls ShutdownWorker with its sticky
  queue) and a new worker starts, the next task is still recorded on the old
  sticky queue but is handed to the new worker at once (no waiting for the
  10 s sticky schedule-to-start timeout, no WorkflowTaskTimedOut).
* ResetStickyTaskQueue answers an empty response on a running workflow; the
  next task is scheduled on the normal queue, and the one after that is
  sticky again (the worker re-registers its sticky queue). On a closed
  workflow it fails with NOT_FOUND "workflow execution already completed",
  on an unknown one with NOT_FOUND.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, TaskQueueKind
from temporalio.api.workflowservice.v1 import (
    ResetStickyTaskQueueRequest,
    ResetStickyTaskQueueResponse,
)
from temporalio.service import RPCError, RPCStatusCode

from conftest import new_worker, unique
from history_golden import check_golden, wait_for_events

RESULT_TIMEOUT_S = 30
# Python workers ask for a 10 s sticky schedule-to-start timeout: a server
# that only falls back to the normal queue after that timeout is too slow.
TAKEOVER_DEADLINE_S = 5.0

@workflow.defn
class SignalCounter:
    def __init__(self) -> None:
        self.count = 0

    @workflow.signal
    def bump(self) -> None:
        self.count += 1

    @workflow.run
    async def run(self, wanted: int) -> int:
        await workflow.wait_condition(lambda: self.count >= wanted)
        return self.count


def scheduled_queues(events) -> list:
    return [
        e.workflow_task_scheduled_event_attributes.task_queue
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    ]


def started_identities(events) -> list[str]:
    return [
        e.workflow_task_started_event_attributes.identity
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    ]


def kinds(queues) -> list[str]:
    return [TaskQueueKind.Name(q.kind) for q in queues]


async def test_later_tasks_go_to_the_sticky_queue(client, task_queue):
    async with new_worker(client, task_queue, [SignalCounter], identity="sticky-one"):
        handle = await client.start_workflow(
            SignalCounter.run, 2, id=unique("sticky"), task_queue=task_queue
        )
        await wait_for_events(handle, [])
        await handle.signal(SignalCounter.bump)
        await wait_for_events(handle, ["WORKFLOW_EXECUTION_SIGNALED"])
        await handle.signal(SignalCounter.bump)
        assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S) == 2

    events = (await handle.fetch_history()).events
    queues = scheduled_queues(events)
    assert kinds(queues) == ["TASK_QUEUE_KIND_NORMAL"] + ["TASK_QUEUE_KIND_STICKY"] * 2
    first, *later = queues
    assert first.name == task_queue
    assert first.normal_name == ""
    for q in later:
        assert q.name and q.name != task_queue
        assert q.normal_name == task_queue
    # One worker, one sticky queue.
    assert len({q.name for q in later}) == 1
    assert started_identities(events) == ["sticky-one"] * 3


async def test_new_worker_continues_after_worker_stopped(client, task_queue):
    async with new_worker(client, task_queue, [SignalCounter], identity="first-worker"):
        handle = await client.start_workflow(
            SignalCounter.run, 1, id=unique("sticky-replaced"), task_queue=task_queue
        )
        await wait_for_events(handle, [])
    # The first worker is gone (it called ShutdownWorker for its sticky queue).
    started = time.monotonic()
    await handle.signal(SignalCounter.bump)
    async with new_worker(client, task_queue, [SignalCounter], identity="second-worker"):
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
        elapsed = time.monotonic() - started
    assert result == 1
    assert elapsed < TAKEOVER_DEADLINE_S, (
        f"the new worker got the task only after {elapsed:.1f}s"
    )

    events = (await handle.fetch_history()).events
    assert started_identities(events) == ["first-worker", "second-worker"]
    queues = scheduled_queues(events)
    # The real server records the task on the old sticky queue and hands it
    # to the new worker through the normal queue.
    assert kinds(queues) == ["TASK_QUEUE_KIND_NORMAL", "TASK_QUEUE_KIND_STICKY"]
    assert queues[1].normal_name == task_queue
    await check_golden(
        client,
        "sticky_worker_replaced",
        "first workflow task on worker one, which then stops; a signal; a new "
        "worker completes the workflow",
        events,
    )


async def reset_sticky(client, workflow_id: str):
    return await client.workflow_service.reset_sticky_task_queue(
        ResetStickyTaskQueueRequest(
            namespace="default", execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )


async def test_reset_sticky_task_queue(client, task_queue):
    async with new_worker(client, task_queue, [SignalCounter], identity="sticky-reset"):
        handle = await client.start_workflow(
            SignalCounter.run, 3, id=unique("sticky-reset"), task_queue=task_queue
        )
        await wait_for_events(handle, [])
        await handle.signal(SignalCounter.bump)
        await wait_for_events(handle, ["WORKFLOW_EXECUTION_SIGNALED"])

        response = await reset_sticky(client, handle.id)
        assert response == ResetStickyTaskQueueResponse()

        await handle.signal(SignalCounter.bump)
        # (the signal is in history when the call returns, so this waits
        # for the task that handles it)
        await wait_for_events(handle, ["WORKFLOW_EXECUTION_SIGNALED"])
        await handle.signal(SignalCounter.bump)
        assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S) == 3

    events = (await handle.fetch_history()).events
    queues = scheduled_queues(events)
    assert kinds(queues) == [
        "TASK_QUEUE_KIND_NORMAL",
        "TASK_QUEUE_KIND_STICKY",
        "TASK_QUEUE_KIND_NORMAL",  # right after ResetStickyTaskQueue
        "TASK_QUEUE_KIND_STICKY",  # the worker asked for stickiness again
    ]
    assert queues[2].name == task_queue
    assert queues[1].name == queues[3].name
    assert started_identities(events) == ["sticky-reset"] * 4

    # Closed and unknown workflows.
    with pytest.raises(RPCError) as err:
        await reset_sticky(client, handle.id)
    assert err.value.status == RPCStatusCode.NOT_FOUND
    assert err.value.message == "workflow execution already completed"
    with pytest.raises(RPCError) as err:
        await reset_sticky(client, unique("no-such-workflow"))
    assert err.value.status == RPCStatusCode.NOT_FOUND
