"""Workflow retry policies: a failed run is retried as a new run of the same
workflow id (WorkflowExecutionFailed with retry_state IN_PROGRESS and
new_execution_run_id), until it succeeds or the policy gives up."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import (
    ContinueAsNewInitiator,
    EventType,
    RetryState,
    WorkflowExecutionStatus,
)
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import HistoryEventFilterType
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import WorkflowContinuedAsNewError, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from conftest import new_worker, unique
from history_golden import check_golden, event_names

RESULT_TIMEOUT_S = 60


@workflow.defn
class FailUntilAttempt:
    @workflow.run
    async def run(self, succeed_on: int) -> dict[str, Any]:
        info = workflow.info()
        if info.attempt < succeed_on:
            raise ApplicationError(f"failing attempt {info.attempt}", type="Flaky")
        return {
            "attempt": info.attempt,
            "run_id": info.run_id,
            "continued_run_id": info.continued_run_id,
            "first_execution_run_id": info.first_execution_run_id,
            "max_attempts": info.retry_policy.maximum_attempts
            if info.retry_policy
            else None,
        }


@workflow.defn
class FailForGood:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError(
            f"permanent on attempt {workflow.info().attempt}",
            type="Permanent",
            non_retryable=True,
        )


POLICY = dict(initial_interval=timedelta(seconds=1), backoff_coefficient=1.0)


def close_event(history):
    return history.events[-1]


def started(history):
    first = history.events[0]
    assert first.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    return first.workflow_execution_started_event_attributes


async def run_chain(client, wf_id: str, first_run_id: str) -> list:
    """The histories of all runs, following new_execution_run_id links."""
    histories = []
    run_id = first_run_id
    while run_id:
        assert len(histories) < 10, "run chain too long"
        history = await client.get_workflow_handle(wf_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = close_event(history)
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            run_id = last.workflow_execution_failed_event_attributes.new_execution_run_id
        else:
            run_id = ""
    return histories


async def test_failed_runs_are_retried_until_success(client, task_queue):
    wf_id = unique("wf-retry")
    async with new_worker(client, task_queue, [FailUntilAttempt]):
        t0 = time.monotonic()
        handle = await client.start_workflow(
            FailUntilAttempt.run,
            3,
            id=wf_id,
            task_queue=task_queue,
            retry_policy=RetryPolicy(maximum_attempts=5, **POLICY),
        )
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
        elapsed = time.monotonic() - t0

    assert result["attempt"] == 3
    assert result["max_attempts"] == 5
    assert result["first_execution_run_id"] == handle.first_execution_run_id
    # Two retries, 1 s backoff each.
    assert elapsed >= 1.8, f"retries did not wait for the backoff ({elapsed:.2f}s)"

    histories = await run_chain(client, wf_id, handle.first_execution_run_id)
    assert len(histories) == 3, [event_names(h.events) for h in histories]
    run_ids = [h.events[0].workflow_execution_started_event_attributes.original_execution_run_id for h in histories]
    assert run_ids[0] == handle.first_execution_run_id
    assert run_ids[2] == result["run_id"]
    assert result["continued_run_id"] == run_ids[1]

    for i, history in enumerate(histories):
        attrs = started(history)
        assert attrs.attempt == i + 1
        assert attrs.first_execution_run_id == run_ids[0]
        assert attrs.retry_policy.maximum_attempts == 5
        if i == 0:
            assert attrs.continued_execution_run_id == ""
            assert not attrs.HasField("continued_failure")
        else:
            assert attrs.continued_execution_run_id == run_ids[i - 1]
            assert attrs.initiator == (
                ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_RETRY
            )
            # The previous run's failure is carried to the retry.
            assert attrs.continued_failure.message == f"failing attempt {i}"
            backoff = attrs.first_workflow_task_backoff.ToTimedelta()
            assert timedelta(seconds=0.5) <= backoff <= timedelta(seconds=2), backoff

        last = close_event(history)
        if i < 2:
            assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
            failed = last.workflow_execution_failed_event_attributes
            assert failed.retry_state == RetryState.RETRY_STATE_IN_PROGRESS
            assert failed.new_execution_run_id == run_ids[i + 1]
            assert failed.failure.message == f"failing attempt {i + 1}"
            assert failed.failure.application_failure_info.type == "Flaky"
        else:
            assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED

    for i, status in enumerate(
        [
            WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED,
            WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED,
            WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED,
        ]
    ):
        desc = await client.get_workflow_handle(wf_id, run_id=run_ids[i]).describe()
        assert desc.raw_description.workflow_execution_info.status == status

    await check_golden(
        client,
        "workflow_retry_failed_run",
        "first run of a workflow with a retry policy fails; a retry is scheduled",
        histories[0].events,
    )
    await check_golden(
        client,
        "workflow_retry_final_run",
        "third attempt of a workflow with a retry policy succeeds",
        histories[2].events,
    )


async def test_retries_exhausted(client, task_queue):
    wf_id = unique("wf-retry-max")
    async with new_worker(client, task_queue, [FailUntilAttempt]):
        handle = await client.start_workflow(
            FailUntilAttempt.run,
            99,
            id=wf_id,
            task_queue=task_queue,
            retry_policy=RetryPolicy(maximum_attempts=2, **POLICY),
        )
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    cause = err.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message == "failing attempt 2"
    assert cause.type == "Flaky"

    histories = await run_chain(client, wf_id, handle.first_execution_run_id)
    assert len(histories) == 2, [event_names(h.events) for h in histories]
    first = close_event(histories[0]).workflow_execution_failed_event_attributes
    assert first.retry_state == RetryState.RETRY_STATE_IN_PROGRESS
    last = close_event(histories[1])
    assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    failed = last.workflow_execution_failed_event_attributes
    assert failed.retry_state == RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED
    assert failed.new_execution_run_id == ""
    assert started(histories[1]).attempt == 2

    desc = await client.get_workflow_handle(wf_id).describe()
    assert desc.run_id == first.new_execution_run_id
    assert desc.raw_description.workflow_execution_info.status == (
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED
    )
    await check_golden(
        client,
        "workflow_retry_exhausted",
        "last attempt (2 of 2) of a workflow with a retry policy fails",
        histories[1].events,
    )


async def test_non_retryable_failure_is_not_retried(client, task_queue):
    wf_id = unique("wf-retry-nonretryable")
    async with new_worker(client, task_queue, [FailForGood]):
        handle = await client.start_workflow(
            FailForGood.run,
            id=wf_id,
            task_queue=task_queue,
            retry_policy=RetryPolicy(maximum_attempts=5, **POLICY),
        )
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    assert isinstance(err.value.cause, ApplicationError)
    assert err.value.cause.message == "permanent on attempt 1"
    history = await handle.fetch_history()
    failed = close_event(history).workflow_execution_failed_event_attributes
    assert failed.retry_state == RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
    assert failed.new_execution_run_id == ""
    desc = await client.get_workflow_handle(wf_id).describe()
    assert desc.run_id == handle.first_execution_run_id


async def test_retried_run_close_event_reads_as_continued_as_new(client, task_queue):
    """The real server answers a CLOSE_EVENT history request for a run that
    failed and was retried with a WorkflowExecutionContinuedAsNew event
    (new_execution_run_id and the failure), not the WorkflowExecutionFailed
    of the full history: the SDK's result(follow_runs=False) raises
    WorkflowContinuedAsNewError rather than WorkflowFailureError."""
    wf_id = unique("wf-retry-close")
    async with new_worker(client, task_queue, [FailUntilAttempt]):
        handle = await client.start_workflow(
            FailUntilAttempt.run,
            2,
            id=wf_id,
            task_queue=task_queue,
            retry_policy=RetryPolicy(maximum_attempts=3, **POLICY),
        )
        run1 = handle.first_execution_run_id
        with pytest.raises(WorkflowContinuedAsNewError) as err:
            await asyncio.wait_for(handle.result(follow_runs=False), RESULT_TIMEOUT_S)
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    assert result["attempt"] == 2
    assert err.value.new_execution_run_id == result["run_id"]

    full = await client.get_workflow_handle(wf_id, run_id=run1).fetch_history()
    assert full.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    close_only = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace="default",
            execution=WorkflowExecution(workflow_id=wf_id, run_id=run1),
            history_event_filter_type=HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
        )
    )
    [event] = close_only.history.events
    assert event.event_type == (
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    ), EventType.Name(event.event_type)
    assert event.event_id == full.events[-1].event_id
    can = event.workflow_execution_continued_as_new_event_attributes
    assert can.new_execution_run_id == result["run_id"]
    assert can.failure.message == "failing attempt 1"
