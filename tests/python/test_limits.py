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
* The same for a workflow result over 2 MiB, with (sic) the same cause and
  prefix: "BadScheduleActivityAttributes:
  CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit.".
* A RespondActivityTaskCompleted result over 2 MiB: the server records
  ActivityTaskFailed ("Complete result exceeds size limit.", a non-retryable
  server failure, retry state NON_RETRYABLE_FAILURE) at once, and the
  workflow fails with that ActivityError.
* Scheduling 2001 activities in one workflow task fails the task with cause
  PENDING_ACTIVITIES_LIMIT_EXCEEDED; nothing of the task is kept (no
  ActivityTaskScheduled, no pending activity) and the task is retried as a
  transient task (attempt 2: shown in history, never written); later
  attempts add no events and come at the 10 s workflow-task timeout, so 3 s
  later the history is unchanged and the attempt still 2. 2000 activities
  are accepted.
* StartWorkflowExecution with a memo over 2 MiB: INVALID_ARGUMENT "Memo size
  exceeds limit."; with an input over 2 MiB, and a signal with one:
  INVALID_ARGUMENT "Blob data size exceeds limit.".
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import (
    EventType,
    RetryState,
    WorkflowExecutionStatus,
    WorkflowTaskFailedCause,
)
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ServerError, TerminatedError
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


@activity.defn
async def make_text(size: int) -> str:
    return "r" * size


@workflow.defn
class ReturnText:
    @workflow.run
    async def run(self, size: int) -> str:
        return "w" * size


@workflow.defn
class TextFromActivity:
    @workflow.run
    async def run(self, size: int) -> int:
        text = await workflow.execute_activity(
            make_text,
            size,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return len(text)


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
    assert failed.failure.source == ""  # the server sets no source


async def test_workflow_result_over_2mb_terminates_workflow(client, task_queue):
    message = (
        "BadScheduleActivityAttributes: "
        "CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit."
    )
    async with new_worker(
        client, task_queue, [ReturnText], disable_payload_error_limit=True
    ):
        handle = await client.start_workflow(
            ReturnText.run, 2 * MIB + 100, id=unique("result-2mb"), task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    assert isinstance(err.value.cause, TerminatedError), repr(err.value.cause)
    assert err.value.cause.message == message
    events = (await handle.fetch_history()).events
    assert event_names(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_EXECUTION_TERMINATED",
    ]
    failed = events[3].workflow_task_failed_event_attributes
    # Sic: the real server reports every command blob-size violation with
    # the ScheduleActivity cause and prefix.
    assert failed.cause == (
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES
    )
    assert failed.failure.message == message
    terminated = events[4].workflow_execution_terminated_event_attributes
    assert (terminated.reason, terminated.identity) == (message, "history-service")


async def test_activity_result_over_2mb_fails_activity(client, task_queue):
    """The server turns a too-large RespondActivityTaskCompleted into a
    non-retryable activity failure (despite the retry policy)."""
    message = "Complete result exceeds size limit."
    async with new_worker(
        client,
        task_queue,
        [TextFromActivity],
        [make_text],
        disable_payload_error_limit=True,
    ):
        handle = await client.start_workflow(
            TextFromActivity.run,
            2 * MIB + 100,
            id=unique("activity-result-2mb"),
            task_queue=task_queue,
        )
        # Well under the 5 s start-to-close timeout: no timeout/retry cycle.
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), 4)
    act_err = err.value.cause
    assert isinstance(act_err, ActivityError), repr(act_err)
    assert act_err.retry_state is not None
    assert act_err.retry_state.name == "NON_RETRYABLE_FAILURE"
    assert isinstance(act_err.cause, ServerError), repr(act_err.cause)
    assert act_err.cause.message == message
    assert act_err.cause.non_retryable

    events = (await handle.fetch_history()).events
    assert event_names(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_FAILED",
    ]
    failed = events[6].activity_task_failed_event_attributes
    assert failed.failure.message == message
    assert failed.failure.server_failure_info.non_retryable
    assert failed.retry_state == RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
    assert events[5].activity_task_started_event_attributes.attempt == 1


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
        # A few seconds later: still the one persisted failure. The retry
        # is a transient task (attempt 2, shown but not written), and the
        # next attempt only comes when it times out (10 s): no hot loop
        # re-running the 2001 commands and growing the history.
        await asyncio.sleep(3)
        later = (await over.fetch_history()).events
        assert event_names(later) == [
            "WORKFLOW_EXECUTION_STARTED",
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
            "WORKFLOW_TASK_FAILED",
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
        ], event_names(later)[:20]
        desc = await over.describe()
        assert desc.raw_description.pending_workflow_task.attempt == 2
        assert len(desc.raw_description.pending_activities) == 0
        assert failed.failure.source == ""  # the server sets no source
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


async def test_start_and_signal_input_over_2mb_rejected(client, task_queue):
    with pytest.raises(RPCError) as err:
        await client.start_workflow(
            "MeasureText", "z" * (2 * MIB + 10), id=unique("input-big"), task_queue=task_queue
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert err.value.message == "Blob data size exceeds limit."

    handle = await client.start_workflow(
        MeasureText.run, 1, id=unique("signal-big"), task_queue=task_queue
    )
    with pytest.raises(RPCError) as err:
        await handle.signal("anything", "s" * (2 * MIB + 10))
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert err.value.message == "Blob data size exceeds limit."
    names = event_names((await handle.fetch_history()).events)
    assert "WORKFLOW_EXECUTION_SIGNALED" not in names
    await handle.terminate(reason="test done")
