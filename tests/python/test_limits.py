"""Temporal's default limits: payload size, pending activities, memo size.

What the real server (1.32, default dynamic config) does, and these tests
check:

* A ScheduleActivityTask command whose input is over the 2 MiB blob limit
  fails the workflow task (cause BAD_SCHEDULE_ACTIVITY_ATTRIBUTES, message
  "BadScheduleActivityAttributes: ScheduleActivityTaskCommandAttributes.Input
  exceeds size limit.") and the server then TERMINATES the workflow with that
  message as reason (identity "history-service"): the client sees a
  WorkflowFailureError caused by a TerminatedError. (The worker runs with
  ``disable_payload_error_limit`` so the SDK sends the command at all; a
  1 MiB input is fine.)
* Scheduling 2001 activities in one workflow task fails the task with cause
  PENDING_ACTIVITIES_LIMIT_EXCEEDED; nothing of the task is kept (no
  ActivityTaskScheduled, no pending activity) and the task is retried
  (attempt 2). 2000 activities are accepted.
* StartWorkflowExecution with a memo over 2 MiB: INVALID_ARGUMENT "Memo size
  exceeds limit."
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus, WorkflowTaskFailedCause
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import TerminatedError
from temporalio.service import RPCError, RPCStatusCode

from conftest import new_worker, unique
from history_golden import check_golden, event_names, wait_for_status

RESULT_TIMEOUT_S = 30
MIB = 1024 * 1024
TOO_BIG_INPUT = "BadScheduleActivityAttributes: ScheduleActivityTaskCommandAttributes.Input exceeds size limit."
S = WorkflowExecutionStatus


@activity.defn
async def measure(text: str) -> int:
    return len(text)


@workflow.defn
class MeasureText:
    @workflow.run
    async def run(self, size: int) -> int:
        return await workflow.execute_activity(
            measure, "x" * size, start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn
class ManyActivities:
    @workflow.run
    async def run(self, count: int, activity_queue: str) -> int:
        handles = [
            workflow.start_activity(
                measure,
                "y",
                task_queue=activity_queue,
                start_to_close_timeout=timedelta(minutes=5),
            )
            for _ in range(count)
        ]
        await asyncio.gather(*handles)
        return count


async def test_activity_input_over_2mb_terminates_workflow(client, task_queue):
    async with new_worker(
        client,
        task_queue,
        [MeasureText],
        [measure],
        disable_payload_error_limit=True,
    ):
        ok = await client.start_workflow(
            MeasureText.run, 1 * MIB, id=unique("input-1mb"), task_queue=task_queue
        )
        assert await asyncio.wait_for(ok.result(), RESULT_TIMEOUT_S) == 1 * MIB

        handle = await client.start_workflow(
            MeasureText.run, 2 * MIB + 100, id=unique("input-2mb"), task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    cause = err.value.cause
    assert isinstance(cause, TerminatedError), repr(cause)
    assert cause.message == TOO_BIG_INPUT

    desc = await handle.describe()
    assert desc.raw_description.workflow_execution_info.status == (
        S.WORKFLOW_EXECUTION_STATUS_TERMINATED
    )
    events = (await handle.fetch_history()).events
    assert event_names(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_EXECUTION_TERMINATED",
    ]
    failed = events[3].workflow_task_failed_event_attributes
    assert failed.cause == (
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES
    )
    assert failed.failure.message == TOO_BIG_INPUT
    assert failed.failure.HasField("server_failure_info")
    terminated = events[4].workflow_execution_terminated_event_attributes
    assert terminated.reason == TOO_BIG_INPUT
    assert terminated.identity == "history-service"
    await check_golden(
        client,
        "limit_activity_input_too_large",
        "the first workflow task schedules an activity with a 2 MiB + 100 byte "
        "input; the server fails the task and terminates the workflow",
        events,
    )


async def wait_for_history(handle, predicate, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    events = []
    while time.monotonic() < deadline:
        events = list((await handle.fetch_history()).events)
        if predicate(events):
            return events
        await asyncio.sleep(0.2)
    pytest.fail(f"{what} not seen within {timeout}s: {event_names(events)[:12]}")


async def test_pending_activities_limit(client, task_queue):
    # The activities go to queues nobody polls: they stay pending.
    async with new_worker(client, task_queue, [ManyActivities]):
        over = await client.start_workflow(
            ManyActivities.run,
            args=[2001, unique("nobody")],
            id=unique("acts-2001"),
            task_queue=task_queue,
        )
        at_limit = await client.start_workflow(
            ManyActivities.run,
            args=[2000, unique("nobody")],
            id=unique("acts-2000"),
            task_queue=task_queue,
        )

        events = await wait_for_history(
            over,
            lambda ev: any(
                e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in ev
            ),
            "WorkflowTaskFailed",
        )
        names = event_names(events)
        assert names[:4] == [
            "WORKFLOW_EXECUTION_STARTED",
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
            "WORKFLOW_TASK_FAILED",
        ], names
        failed = events[3].workflow_task_failed_event_attributes
        assert failed.cause == (
            WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_PENDING_ACTIVITIES_LIMIT_EXCEEDED
        )
        assert failed.failure.message == (
            "PendingActivitiesLimitExceeded: the number of pending activities, "
            "2000, has reached the per-workflow limit of 2000"
        )
        assert "ACTIVITY_TASK_SCHEDULED" not in names
        # The task is retried.
        retried = events[4] if len(events) > 4 else None
        assert retried is not None and retried.event_type == (
            EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
        ), names
        assert retried.workflow_task_scheduled_event_attributes.attempt == 2
        desc = await over.describe()
        assert len(desc.raw_description.pending_activities) == 0
        assert desc.raw_description.workflow_execution_info.status == (
            S.WORKFLOW_EXECUTION_STATUS_RUNNING
        )

        # Exactly the limit is fine: one task, 2000 scheduled activities.
        events = await wait_for_history(
            at_limit,
            lambda ev: any(
                e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in ev
            ),
            "WorkflowTaskCompleted",
        )
        names = event_names(events)
        assert names.count("ACTIVITY_TASK_SCHEDULED") == 2000
        assert "WORKFLOW_TASK_FAILED" not in names
        desc = await at_limit.describe()
        assert len(desc.raw_description.pending_activities) == 2000

        await over.terminate(reason="test done")
        await at_limit.terminate(reason="test done")
    await wait_for_status(client, over.id, S.WORKFLOW_EXECUTION_STATUS_TERMINATED)


async def test_memo_over_2mb_rejected(client, task_queue):
    with pytest.raises(RPCError) as err:
        await client.start_workflow(
            MeasureText.run,
            1,
            id=unique("memo-big"),
            task_queue=task_queue,
            memo={"blob": "z" * (2 * MIB + 10)},
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert err.value.message == "Memo size exceeds limit."

    # A large memo under the limit is stored.
    handle = await client.start_workflow(
        MeasureText.run,
        1,
        id=unique("memo-ok"),
        task_queue=task_queue,
        memo={"blob": "z" * (100 * 1024)},
    )
    desc = await handle.describe()
    assert await desc.memo_value("blob") == "z" * (100 * 1024)
    await handle.terminate(reason="test done")
