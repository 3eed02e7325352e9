"""Continue-as-new: a run closes with WorkflowExecutionContinuedAsNew and the
server starts the next run of the same workflow id, linked to it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import (
    ContinueAsNewInitiator,
    EventType,
    WorkflowExecutionStatus,
)
from temporalio.client import WorkflowContinuedAsNewError

from conftest import new_worker, unique
from history_golden import check_golden, event_names

RESULT_TIMEOUT_S = 60


@workflow.defn
class Countdown:
    """Continues as new ``remaining`` times; each run appends what it saw."""

    @workflow.run
    async def run(self, remaining: int, trail: list[dict[str, Any]]) -> list[dict[str, Any]]:
        info = workflow.info()
        trail = trail + [
            {
                "run_id": info.run_id,
                "continued_run_id": info.continued_run_id,
                "first_execution_run_id": info.first_execution_run_id,
                "attempt": info.attempt,
                "memo": dict(workflow.memo()),
                "remaining": remaining,
            }
        ]
        if remaining > 0:
            workflow.continue_as_new(args=[remaining - 1, trail])
        return trail


@workflow.defn
class Finisher:
    @workflow.run
    async def run(self, note: str) -> dict[str, Any]:
        info = workflow.info()
        return {
            "note": note,
            "workflow_type": info.workflow_type,
            "continued_run_id": info.continued_run_id,
        }


@workflow.defn
class HandOver:
    """Continues as new into another workflow type."""

    @workflow.run
    async def run(self, note: str) -> dict[str, Any]:
        workflow.continue_as_new(note + " handed over", workflow=Finisher.run)


def started_attrs(history):
    first = history.events[0]
    assert first.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    return first.workflow_execution_started_event_attributes


async def test_continue_as_new_chain(client, task_queue):
    wf_id = unique("can")
    memo = {"owner": "endure-tests", "n": 7}
    async with new_worker(client, task_queue, [Countdown]):
        handle = await client.start_workflow(
            Countdown.run,
            args=[3, []],
            id=wf_id,
            task_queue=task_queue,
            memo=memo,
        )
        # The handle follows the run chain to the last run's result.
        trail = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)

    run_ids = [t["run_id"] for t in trail]
    assert [t["remaining"] for t in trail] == [3, 2, 1, 0]
    assert len(set(run_ids)) == 4, run_ids
    assert run_ids[0] == handle.first_execution_run_id

    for i, t in enumerate(trail):
        # workflow.info() in each run
        assert t["first_execution_run_id"] == run_ids[0]
        assert t["continued_run_id"] == (run_ids[i - 1] if i else None)
        assert t["attempt"] == 1
        # The memo is carried over to every new run.
        assert t["memo"] == memo, f"run {i}: memo {t['memo']!r}"

    # Following the chain stops at the first run when asked not to.
    with pytest.raises(WorkflowContinuedAsNewError) as err:
        await handle.result(follow_runs=False)
    assert err.value.new_execution_run_id == run_ids[1]

    histories = [
        await client.get_workflow_handle(wf_id, run_id=r).fetch_history() for r in run_ids
    ]
    for i, history in enumerate(histories):
        started = started_attrs(history)
        assert started.workflow_type.name == "Countdown"
        assert started.original_execution_run_id == run_ids[i]
        assert started.first_execution_run_id == run_ids[0]
        assert started.attempt == 1
        assert set(started.memo.fields) == set(memo)
        if i == 0:
            assert started.continued_execution_run_id == ""
            assert started.initiator == (
                ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_UNSPECIFIED
            )
        else:
            assert started.continued_execution_run_id == run_ids[i - 1]
            assert started.initiator == (
                ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW
            )
            assert started.task_queue.name == task_queue

        last = history.events[-1]
        if i < 3:
            assert last.event_type == (
                EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            ), event_names(history.events)
            can = last.workflow_execution_continued_as_new_event_attributes
            assert can.new_execution_run_id == run_ids[i + 1]
            assert can.workflow_type.name == "Countdown"
            assert can.task_queue.name == task_queue
            # The new run's input is the continue-as-new command's input.
            assert len(can.input.payloads) == 2
        else:
            assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
            assert (
                last.workflow_execution_completed_event_attributes.new_execution_run_id
                == ""
            )

    # Describe: the workflow id resolves to the last run; old runs are closed
    # as CONTINUED_AS_NEW.
    desc = await client.get_workflow_handle(wf_id).describe()
    assert desc.run_id == run_ids[-1]
    assert desc.raw_description.workflow_execution_info.status == (
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
    )
    first_desc = await client.get_workflow_handle(wf_id, run_id=run_ids[0]).describe()
    assert first_desc.raw_description.workflow_execution_info.status == (
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
    )

    await check_golden(
        client,
        "continue_as_new_first_run",
        "first run of a workflow that continues as new 3 times",
        histories[0].events,
    )
    await check_golden(
        client,
        "continue_as_new_last_run",
        "last run of a workflow that continued as new 3 times",
        histories[-1].events,
    )


async def test_continue_as_new_to_another_workflow_type(client, task_queue):
    wf_id = unique("can-type")
    async with new_worker(client, task_queue, [HandOver, Finisher]):
        handle = await client.start_workflow(
            HandOver.run, "baton", id=wf_id, task_queue=task_queue
        )
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    assert result == {
        "note": "baton handed over",
        "workflow_type": "Finisher",
        "continued_run_id": handle.first_execution_run_id,
    }
    history = await client.get_workflow_handle(wf_id).fetch_history()
    started = started_attrs(history)
    assert started.workflow_type.name == "Finisher"
    assert started.continued_execution_run_id == handle.first_execution_run_id
