"""Cron workflows (``cron_schedule`` on start): the first workflow task waits
for the next scheduled time (first_workflow_task_backoff on the started
event), and each run that closes starts the next run of the same workflow id.

The "* * * * *" test only checks the started event and terminates (waiting
for the minute boundary would take up to 60 s); the run-to-run behaviour is
checked with "@every 2s", which the real server accepts.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import (
    ContinueAsNewInitiator,
    EventType,
    WorkflowExecutionStatus,
)
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import HistoryEventFilterType
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import WorkflowContinuedAsNewError, WorkflowFailureError

from conftest import new_worker, unique
from history_golden import check_golden, event_names, wait_for_status

RESULT_TIMEOUT_S = 30


@workflow.defn
class CronJob:
    @workflow.run
    async def run(self) -> dict[str, Any]:
        info = workflow.info()
        return {
            "cron_schedule": info.cron_schedule,
            "run_id": info.run_id,
            "continued_run_id": info.continued_run_id,
            "first_execution_run_id": info.first_execution_run_id,
            "attempt": info.attempt,
        }


def started(history):
    first = history.events[0]
    assert first.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    return first.workflow_execution_started_event_attributes


async def test_every_minute_cron_waits_for_the_minute_boundary(client, task_queue):
    wf_id = unique("cron-minute")
    # No worker: nothing may run before the first scheduled time anyway.
    handle = await client.start_workflow(
        CronJob.run, id=wf_id, task_queue=task_queue, cron_schedule="* * * * *"
    )
    history = await handle.fetch_history()
    attrs = started(history)
    assert attrs.cron_schedule == "* * * * *"
    backoff = attrs.first_workflow_task_backoff.ToTimedelta()
    assert timedelta(0) < backoff <= timedelta(seconds=60), backoff

    # The first workflow task is due at the next minute boundary.
    due = history.events[0].event_time.ToDatetime() + backoff
    off = due.timestamp() % 60
    assert min(off, 60 - off) < 1.0, f"first task due at {due} (not on a minute)"

    desc = await handle.describe()
    info = desc.raw_description.workflow_execution_info
    assert info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    exec_off = info.execution_time.ToDatetime().timestamp() % 60
    assert min(exec_off, 60 - exec_off) < 1.0, info.execution_time.ToDatetime()
    if backoff > timedelta(seconds=3):
        # The workflow task is not scheduled before the backoff elapses.
        assert event_names(history.events) == ["WORKFLOW_EXECUTION_STARTED"]

    await handle.terminate(reason="cron test done")
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    desc = await client.get_workflow_handle(wf_id).describe()
    # Terminating a cron workflow does not start another run.
    assert desc.run_id == handle.first_execution_run_id
    assert desc.raw_description.workflow_execution_info.status == (
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED
    )


def decoded_result(close_event) -> Any:
    payload = close_event.workflow_execution_completed_event_attributes.result.payloads[0]
    return json.loads(payload.data)


async def test_cron_runs_again_after_each_run(client, task_queue):
    wf_id = unique("cron-every")
    async with new_worker(client, task_queue, [CronJob]):
        handle = await client.start_workflow(
            CronJob.run, id=wf_id, task_queue=task_queue, cron_schedule="@every 2s"
        )
        run1 = handle.first_execution_run_id
        await wait_for_status(
            client,
            wf_id,
            WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED,
            run_id=run1,
        )
        history1 = await client.get_workflow_handle(wf_id, run_id=run1).fetch_history()
        closed = history1.events[-1]
        assert closed.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
        assert decoded_result(closed) == {
            "cron_schedule": "@every 2s",
            "run_id": run1,
            "continued_run_id": None,
            "first_execution_run_id": run1,
            "attempt": 1,
        }
        attrs1 = started(history1)
        backoff1 = attrs1.first_workflow_task_backoff.ToTimedelta()
        assert timedelta(0) < backoff1 <= timedelta(seconds=2), backoff1
        assert attrs1.cron_schedule == "@every 2s"
        run2 = closed.workflow_execution_completed_event_attributes.new_execution_run_id
        assert run2 and run2 != run1

        await wait_for_status(
            client,
            wf_id,
            WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED,
            run_id=run2,
        )
        history2 = await client.get_workflow_handle(wf_id, run_id=run2).fetch_history()
        second = decoded_result(history2.events[-1])
        assert second["run_id"] == run2
        assert second["cron_schedule"] == "@every 2s"
        assert second["continued_run_id"] == run1
        assert second["first_execution_run_id"] == run1
        assert second["attempt"] == 1
        attrs2 = started(history2)
        assert attrs2.cron_schedule == "@every 2s"
        assert attrs2.continued_execution_run_id == run1
        assert attrs2.first_execution_run_id == run1
        assert attrs2.initiator == (
            ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
        )
        assert attrs2.task_queue.name == task_queue
        backoff2 = attrs2.first_workflow_task_backoff.ToTimedelta()
        assert timedelta(0) < backoff2 <= timedelta(seconds=2), backoff2

        # And a third run is already waiting for its turn.
        run3 = history2.events[-1].workflow_execution_completed_event_attributes.new_execution_run_id
        assert run3 and run3 not in (run1, run2)
        desc = await client.get_workflow_handle(wf_id).describe()
        assert desc.run_id == run3
        await client.get_workflow_handle(wf_id).terminate(reason="cron test done")
        await wait_for_status(
            client,
            wf_id,
            WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED,
            run_id=run3,
        )

    await check_golden(
        client, "cron_first_run", "first run of an '@every 2s' cron workflow", history1.events
    )
    await check_golden(
        client, "cron_second_run", "second run of an '@every 2s' cron workflow", history2.events
    )


async def test_cron_run_result_reads_as_continued_as_new(client, task_queue):
    """The real server answers a CLOSE_EVENT history request for a cron run
    with a WorkflowExecutionContinuedAsNew event (new_execution_run_id and
    last_completion_result), not the WorkflowExecutionCompleted in the full
    history: the SDK's result(follow_runs=False) raises
    WorkflowContinuedAsNewError (and follow_runs=True never ends)."""
    wf_id = unique("cron-result")
    async with new_worker(client, task_queue, [CronJob]):
        handle = await client.start_workflow(
            CronJob.run, id=wf_id, task_queue=task_queue, cron_schedule="@every 2s"
        )
        run1 = handle.first_execution_run_id
        with pytest.raises(WorkflowContinuedAsNewError) as err:
            await asyncio.wait_for(handle.result(follow_runs=False), RESULT_TIMEOUT_S)
        full = await client.get_workflow_handle(wf_id, run_id=run1).fetch_history()
        run2 = full.events[-1].workflow_execution_completed_event_attributes.new_execution_run_id
        assert run2
        assert err.value.new_execution_run_id == run2

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
        assert can.new_execution_run_id == run2
        assert json.loads(can.last_completion_result.payloads[0].data)["run_id"] == run1
        await client.get_workflow_handle(wf_id).terminate(reason="cron test done")
