"""ResetWorkflowExecution and DeleteWorkflowExecution (raw service calls).

What the real server (1.32) does, and these tests check:

* Reset to the first WorkflowTaskCompleted answers a new run id. The base run
  is TERMINATED (reason = the reset reason, identity "history-resetter"). The
  new run's history is the base's events up to that task's Started event,
  then WorkflowTaskFailed (cause RESET_WORKFLOW, failure message = reason,
  reset_workflow_failure_info, identity "history-service", base_run_id/
  new_run_id), then with the default reapply type the base run's later
  signals re-applied, then a new workflow task on the normal queue. The copied WorkflowExecutionStarted keeps the
  base run as original/first execution run id.
* RESET_REAPPLY_TYPE_NONE re-applies nothing.
* Resetting the base run again while the run made by the first reset is
  running is allowed: that run is terminated and a newer one started.
* An event id that is not a WorkflowTaskCompleted/ in range: INVALID_ARGUMENT.
* Delete of a running workflow: gone (NOT_FOUND) almost at once, history
  too, and the id can be started again. Delete of a closed run: the dev
  server removes it asynchronously (~30 s here), so it is polled with a
  deadline. Deleting an unknown workflow: NOT_FOUND.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import (
    EventType,
    ResetReapplyType,
    TaskQueueKind,
    WorkflowExecutionStatus,
    WorkflowTaskFailedCause,
)
from temporalio.api.workflowservice.v1 import (
    DeleteWorkflowExecutionRequest,
    ResetWorkflowExecutionRequest,
)
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from conftest import new_worker, unique
from history_golden import check_golden, event_names, wait_for_events

RESULT_TIMEOUT_S = 30
# The dev server deletes a closed run asynchronously (~30-35 s observed).
DELETE_CLOSED_DEADLINE_S = 60
DELETE_RUNNING_DEADLINE_S = 20
S = WorkflowExecutionStatus


@workflow.defn
class Collector:
    """Collects ``add`` signals until a ``done`` signal."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.items


def decode(payloads) -> list:
    conv = DataConverter.default.payload_converter
    return [conv.from_payload(p) for p in payloads]


async def collector_with_two_signals(client, task_queue):
    """A running Collector that got add("a") and add("b"), at its wait point."""
    handle = await client.start_workflow(
        Collector.run, id=unique("reset"), task_queue=task_queue
    )
    await wait_for_events(handle, [])
    for item in ("a", "b"):
        await handle.signal(Collector.add, item)
        await wait_for_events(handle, ["WORKFLOW_EXECUTION_SIGNALED"])
    return handle


async def reset(client, workflow_id, run_id, event_id, reapply=None, reason="test reset"):
    req = ResetWorkflowExecutionRequest(
        namespace="default",
        workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        reason=reason,
        workflow_task_finish_event_id=event_id,
        request_id=unique("reset-req"),
    )
    if reapply is not None:
        req.reset_reapply_type = reapply
    return await client.workflow_service.reset_workflow_execution(req)


def first_completed_task(events) -> int:
    return next(
        e.event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )


async def test_reset_to_first_workflow_task(client, task_queue):
    async with new_worker(client, task_queue, [Collector]):
        handle = await collector_with_two_signals(client, task_queue)
        base_run = handle.first_execution_run_id
        base_events = list((await handle.fetch_history()).events)
        finish_id = first_completed_task(base_events)
        assert finish_id == 4

        response = await reset(client, handle.id, base_run, finish_id)
        new_run = response.run_id
        assert new_run and new_run != base_run

        # The base run is terminated by the reset.
        base = client.get_workflow_handle(handle.id, run_id=base_run)
        desc = await base.describe()
        assert desc.raw_description.workflow_execution_info.status == (
            S.WORKFLOW_EXECUTION_STATUS_TERMINATED
        )
        base_after = (await base.fetch_history()).events
        assert event_names(base_after) == event_names(base_events) + [
            "WORKFLOW_EXECUTION_TERMINATED"
        ]
        term = base_after[-1].workflow_execution_terminated_event_attributes
        assert term.reason == "test reset"
        assert term.identity == "history-resetter"

        # The workflow id now points at the new run; it takes one more
        # signal to finish and sees both re-applied signals.
        current = await client.get_workflow_handle(handle.id).describe()
        assert current.run_id == new_run
        new = client.get_workflow_handle(handle.id, run_id=new_run)
        await wait_for_events(new, ["WORKFLOW_TASK_FAILED"])
        await new.signal(Collector.finish)
        assert await asyncio.wait_for(new.result(), RESULT_TIMEOUT_S) == ["a", "b"]

    events = (await new.fetch_history()).events
    # Copied prefix: the base's events before the reset point's Completed.
    for copied, original in zip(events[:3], base_events[:3]):
        assert copied.event_type == original.event_type
    started = events[0].workflow_execution_started_event_attributes
    base_started = base_events[0].workflow_execution_started_event_attributes
    assert started.workflow_type.name == "Collector"
    assert started.task_queue.name == task_queue
    assert started.original_execution_run_id == base_run
    assert started.first_execution_run_id == base_started.first_execution_run_id == base_run

    failed = events[3]
    assert failed.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    f = failed.workflow_task_failed_event_attributes
    assert f.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
    assert f.scheduled_event_id == 2 and f.started_event_id == 3
    assert f.base_run_id == base_run
    assert f.new_run_id == new_run
    assert f.failure.message == "test reset"
    assert f.failure.HasField("reset_workflow_failure_info")
    assert f.identity == "history-service"

    signals = [
        e.workflow_execution_signaled_event_attributes
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert [(s.signal_name, decode(s.input.payloads)) for s in signals] == [
        ("add", ["a"]),
        ("add", ["b"]),
        ("finish", []),
    ]
    # The task after the reset goes to the normal queue.
    after_reset = events[6].workflow_task_scheduled_event_attributes
    assert events[6].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    assert after_reset.task_queue.kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL
    assert after_reset.task_queue.name == task_queue
    await check_golden(
        client,
        "reset_first_task_new_run",
        "Collector got two signals; reset to the first WorkflowTaskCompleted "
        "(default reapply: signals); then a finish signal completes the new run",
        events,
    )
    await check_golden(
        client,
        "reset_first_task_base_run",
        "the base run of reset_first_task_new_run, terminated by the reset",
        base_after,
    )
    assert f.failure.source == ""  # the server sets no source


async def test_reset_without_reapplying_signals(client, task_queue):
    async with new_worker(client, task_queue, [Collector]):
        handle = await collector_with_two_signals(client, task_queue)
        base_events = (await handle.fetch_history()).events
        response = await reset(
            client,
            handle.id,
            handle.first_execution_run_id,
            first_completed_task(base_events),
            reapply=ResetReapplyType.RESET_REAPPLY_TYPE_NONE,
        )
        new = client.get_workflow_handle(handle.id, run_id=response.run_id)
        await wait_for_events(new, ["WORKFLOW_TASK_FAILED"])
        await new.signal(Collector.finish)
        assert await asyncio.wait_for(new.result(), RESULT_TIMEOUT_S) == []
    events = (await new.fetch_history()).events
    assert event_names(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    f = events[3].workflow_task_failed_event_attributes
    assert f.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
    assert f.new_run_id == response.run_id


async def test_reset_an_older_run_replaces_the_current_one(client, task_queue):
    """Resetting the (terminated) base run again while the run made by the
    first reset is running: the real server accepts it, terminates the
    current run and starts another one from the base."""
    async with new_worker(client, task_queue, [Collector]):
        handle = await collector_with_two_signals(client, task_queue)
        base_run = handle.first_execution_run_id
        first = await reset(client, handle.id, base_run, 4, reason="first reset")
        first_handle = client.get_workflow_handle(handle.id, run_id=first.run_id)
        await wait_for_events(first_handle, ["WORKFLOW_TASK_FAILED"])

        second = await reset(client, handle.id, base_run, 4, reason="second reset")
        assert second.run_id not in ("", base_run, first.run_id)

        desc = await first_handle.describe()
        assert desc.raw_description.workflow_execution_info.status == (
            S.WORKFLOW_EXECUTION_STATUS_TERMINATED
        )
        first_events = (await first_handle.fetch_history()).events
        assert event_names(first_events)[-1] == "WORKFLOW_EXECUTION_TERMINATED"
        term = first_events[-1].workflow_execution_terminated_event_attributes
        assert (term.reason, term.identity) == ("second reset", "history-resetter")
        current = await client.get_workflow_handle(handle.id).describe()
        assert current.run_id == second.run_id

        new = client.get_workflow_handle(handle.id, run_id=second.run_id)
        await wait_for_events(new, ["WORKFLOW_TASK_FAILED"])
        await new.signal(Collector.finish)
        assert await asyncio.wait_for(new.result(), RESULT_TIMEOUT_S) == ["a", "b"]
    f = (await new.fetch_history()).events[3].workflow_task_failed_event_attributes
    assert f.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
    assert f.base_run_id == base_run
    assert f.new_run_id == second.run_id
    assert f.failure.message == "second reset"


async def test_reset_with_invalid_event_id(client, task_queue):
    async with new_worker(client, task_queue, [Collector]):
        handle = await collector_with_two_signals(client, task_queue)
        run_id = handle.first_execution_run_id
        last = len((await handle.fetch_history()).events)
        # 0 and past the end: out of range; 2 (WorkflowTaskScheduled) and 5
        # (a signal): not the end of a workflow task.
        for bad in (0, last + 100, 2, 5):
            with pytest.raises(RPCError) as err:
                await reset(client, handle.id, run_id, bad)
            assert err.value.status == RPCStatusCode.INVALID_ARGUMENT, (
                f"event id {bad}: {err.value.status!r} {err.value.message}"
            )
        # Nothing happened to the workflow.
        desc = await client.get_workflow_handle(handle.id).describe()
        assert desc.run_id == run_id
        assert desc.raw_description.workflow_execution_info.status == (
            S.WORKFLOW_EXECUTION_STATUS_RUNNING
        )
        assert len((await handle.fetch_history()).events) == last
        await handle.terminate(reason="test done")


async def delete(client, workflow_id, run_id=""):
    return await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace="default",
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        )
    )


async def wait_until_gone(client, workflow_id, run_id, deadline_s) -> float:
    """Poll DescribeWorkflowExecution until NOT_FOUND; returns seconds taken."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id or None)
    started = time.monotonic()
    while True:
        try:
            await handle.describe()
        except RPCError as e:
            assert e.status == RPCStatusCode.NOT_FOUND, f"{e.status!r} {e.message}"
            return time.monotonic() - started
        if time.monotonic() - started > deadline_s:
            pytest.fail(f"workflow {workflow_id} still describable {deadline_s}s after delete")
        await asyncio.sleep(0.25)


async def test_delete_workflow_execution(client, task_queue):
    async with new_worker(client, task_queue, [Collector]):
        # A closed run, deleted by id and run id.
        closed = await client.start_workflow(
            Collector.run, id=unique("delete-closed"), task_queue=task_queue
        )
        await closed.signal(Collector.finish)
        assert await asyncio.wait_for(closed.result(), RESULT_TIMEOUT_S) == []
        await delete(client, closed.id, closed.first_execution_run_id)

        # A running one, deleted by id only.
        running = await client.start_workflow(
            Collector.run, id=unique("delete-running"), task_queue=task_queue
        )
        await wait_for_events(running, [])
        await delete(client, running.id)

        gone_closed, gone_running = await asyncio.gather(
            wait_until_gone(
                client, closed.id, closed.first_execution_run_id, DELETE_CLOSED_DEADLINE_S
            ),
            wait_until_gone(client, running.id, "", DELETE_RUNNING_DEADLINE_S),
        )

        for handle in (closed, running):
            with pytest.raises(RPCError) as err:
                await handle.fetch_history()
            assert err.value.status == RPCStatusCode.NOT_FOUND
            with pytest.raises(RPCError) as err:
                await delete(client, handle.id)
            assert err.value.status == RPCStatusCode.NOT_FOUND

        # The deleted running workflow's id is free again.
        again = await client.start_workflow(
            Collector.run, id=running.id, task_queue=task_queue
        )
        assert again.first_execution_run_id != running.first_execution_run_id
        await again.signal(Collector.finish)
        assert await asyncio.wait_for(again.result(), RESULT_TIMEOUT_S) == []

    with pytest.raises(RPCError) as err:
        await delete(client, unique("never-existed"))
    assert err.value.status == RPCStatusCode.NOT_FOUND
    print(f"closed run gone after {gone_closed:.1f}s, running after {gone_running:.1f}s")
