"""Workflow Update: results, validator rejections, history, deduplication,
updates before any worker polls, waiting for the ACCEPTED stage, and updates
on closed workflows.

What the real server (1.32) does, and these tests check:

* An update on a workflow sitting at a wait point runs in a speculative
  workflow task. If the update is accepted, the task is written to history
  (Scheduled/Started/Completed) followed by WorkflowExecutionUpdateAccepted
  and, once the handler returns, WorkflowExecutionUpdateCompleted. If the
  validator rejects it, NOTHING is written: the speculative task vanishes.
* The accepted event carries the update id as protocol_instance_id, the
  request message id ``<update id>/request``, the original request (update id,
  handler name) and, as accepted_request_sequencing_event_id, the id of the
  WorkflowTaskScheduled event of the task that delivered it. The completed
  event points back at the accepted event.
* A second update with the same id returns the first one's result and adds
  nothing to history. A REJECTED update is not remembered at all: polling
  for its id answers NOT_FOUND ``update "<id>" not found`` and a new update
  with that id runs normally.
* An update sent before any worker polls waits for the first workflow task
  and is delivered with it.
* Updating a closed workflow fails with NOT_FOUND "workflow execution
  already completed".
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio import workflow
from temporalio.client import (
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from conftest import new_worker, unique
from history_golden import check_golden, event_names, events_of, wait_for_events

RESULT_TIMEOUT_S = 30


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.values: list[int] = []
        self.released = False
        self.finished = False

    @workflow.update
    async def add(self, value: int) -> int:
        self.values.append(value)
        return sum(self.values)

    @add.validator
    def validate_add(self, value: int) -> None:
        if value < 0:
            raise ValueError(f"negative value {value} rejected")

    @workflow.update
    async def gated(self, tag: str) -> str:
        await workflow.wait_condition(lambda: self.released)
        return f"{tag} released"

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.signal
    def finish(self) -> None:
        self.finished = True

    @workflow.run
    async def run(self) -> list[int]:
        await workflow.wait_condition(lambda: self.finished)
        return self.values


def id_and_type(events) -> list[tuple[int, str]]:
    return list(zip([e.event_id for e in events], event_names(events)))


def check_update_events(events, update_id: str, handler: str, result) -> None:
    """Exactly one accepted/completed pair for ``update_id``, linked properly."""
    accepted = [
        e
        for e in events_of(events, "WORKFLOW_EXECUTION_UPDATE_ACCEPTED")
        if e.workflow_execution_update_accepted_event_attributes.protocol_instance_id
        == update_id
    ]
    completed = [
        e
        for e in events_of(events, "WORKFLOW_EXECUTION_UPDATE_COMPLETED")
        if e.workflow_execution_update_completed_event_attributes.meta.update_id
        == update_id
    ]
    assert len(accepted) == 1, f"update {update_id}: {len(accepted)} accepted events"
    assert len(completed) == 1, f"update {update_id}: {len(completed)} completed events"
    acc_event, done_event = accepted[0], completed[0]
    acc = acc_event.workflow_execution_update_accepted_event_attributes
    assert acc.accepted_request_message_id == f"{update_id}/request"
    assert acc.accepted_request.meta.update_id == update_id
    assert acc.accepted_request.input.name == handler
    # The request is sequenced on the workflow task that delivered it.
    scheduled_before = [
        e.event_id
        for e in events_of(events, "WORKFLOW_TASK_SCHEDULED")
        if e.event_id < acc_event.event_id
    ]
    assert acc.accepted_request_sequencing_event_id == scheduled_before[-1]
    done = done_event.workflow_execution_update_completed_event_attributes
    assert done.accepted_event_id == acc_event.event_id
    assert done_event.event_id > acc_event.event_id
    assert done.outcome.HasField("success")
    [payload] = done.outcome.success.payloads
    assert DataConverter.default.payload_converter.from_payload(payload) == result


async def start_at_wait_point(client, task_queue) -> WorkflowHandle:
    handle = await client.start_workflow(
        Counter.run, id=unique("upd"), task_queue=task_queue
    )
    await wait_for_events(handle, [])
    return handle


async def test_update_result_dedup_and_history(client, task_queue):
    async with new_worker(client, task_queue, [Counter]):
        handle = await start_at_wait_point(client, task_queue)

        assert await handle.execute_update(Counter.add, 5) == 5
        assert await handle.execute_update(Counter.add, 7, id="add-seven") == 12
        events_after_first = (await handle.fetch_history()).events

        # Same update id again: the first result, nothing new in history
        # (the handler does not run again, or the sum would be 19).
        assert await handle.execute_update(Counter.add, 7, id="add-seven") == 12
        assert await handle.get_update_handle("add-seven").result() == 12
        other_handle = client.get_workflow_handle(handle.id)
        assert await other_handle.get_update_handle_for(Counter.add, "add-seven").result() == 12
        assert id_and_type((await handle.fetch_history()).events) == id_and_type(
            events_after_first
        )

        await handle.signal(Counter.finish)
        assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S) == [5, 7]

    events = (await handle.fetch_history()).events
    check_update_events(events, "add-seven", "add", 12)
    [first_id] = [
        e.workflow_execution_update_accepted_event_attributes.protocol_instance_id
        for e in events_of(events, "WORKFLOW_EXECUTION_UPDATE_ACCEPTED")
        if e.workflow_execution_update_accepted_event_attributes.protocol_instance_id
        != "add-seven"
    ]
    check_update_events(events, first_id, "add", 5)
    await check_golden(
        client,
        "update_accepted_completed",
        "workflow at its wait point gets update add(5), then add(7) with id "
        "add-seven twice (deduplicated), then a finish signal",
        events,
    )


async def test_validator_rejection_leaves_no_trace(client, task_queue):
    async with new_worker(client, task_queue, [Counter]):
        handle = await start_at_wait_point(client, task_queue)
        before = (await handle.fetch_history()).events

        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(Counter.add, -3, id="rejected-one")
        cause = err.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "ValueError"
        assert cause.message == "negative value -3 rejected"

        # Give a misbehaving server time to write something.
        await asyncio.sleep(0.5)
        after = (await handle.fetch_history()).events
        assert id_and_type(after) == id_and_type(before), (
            f"rejected update left a trace:\nbefore {event_names(before)}\n"
            f"after  {event_names(after)}"
        )
        desc = await handle.describe()
        assert not desc.raw_description.HasField("pending_workflow_task")

        # The workflow is fine and the next update starts right after the
        # pre-rejection history: no gap in event ids.
        assert await handle.execute_update(Counter.add, 4, id="accepted-one") == 4
        events = (await handle.fetch_history()).events
        assert [e.event_id for e in events] == list(range(1, len(events) + 1))
        assert event_names(events[len(before):]) == [
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
            "WORKFLOW_TASK_COMPLETED",
            "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
            "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
        ]
        check_update_events(events, "accepted-one", "add", 4)
        for e in events_of(events, "WORKFLOW_EXECUTION_UPDATE_ACCEPTED"):
            assert (
                e.workflow_execution_update_accepted_event_attributes.protocol_instance_id
                != "rejected-one"
            )
        await handle.signal(Counter.finish)
        assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S) == [4]


async def test_rejected_update_id_is_not_remembered(client, task_queue):
    """A rejected update leaves nothing behind, not even its id: the same id
    can be used again (and is then accepted), and before that polling for
    it answers NOT_FOUND."""
    async with new_worker(client, task_queue, [Counter]):
        handle = await start_at_wait_point(client, task_queue)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(Counter.add, -1, id="try-again")

        with pytest.raises(RPCError) as err:
            await asyncio.wait_for(
                handle.get_update_handle("try-again").result(), RESULT_TIMEOUT_S
            )
        assert err.value.status == RPCStatusCode.NOT_FOUND
        assert err.value.message == 'update "try-again" not found'
        with pytest.raises(RPCError) as err:
            await asyncio.wait_for(
                handle.get_update_handle("never-sent").result(), RESULT_TIMEOUT_S
            )
        assert err.value.status == RPCStatusCode.NOT_FOUND
        assert err.value.message == 'update "never-sent" not found'

        assert await handle.execute_update(Counter.add, 2, id="try-again") == 2
        await handle.signal(Counter.finish)
        assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S) == [2]
    events = (await handle.fetch_history()).events
    check_update_events(events, "try-again", "add", 2)


async def test_update_before_any_worker_polls(client, task_queue):
    handle = await client.start_workflow(
        Counter.run, id=unique("upd-early"), task_queue=task_queue
    )
    pending = asyncio.create_task(handle.execute_update(Counter.add, 3, id="early"))
    await asyncio.sleep(1.5)
    assert not pending.done(), "update completed with no worker"
    async with new_worker(client, task_queue, [Counter]):
        assert await asyncio.wait_for(pending, RESULT_TIMEOUT_S) == 3
        await handle.signal(Counter.finish)
        assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S) == [3]
    events = (await handle.fetch_history()).events
    check_update_events(events, "early", "add", 3)
    await check_golden(
        client,
        "update_before_worker",
        "update add(3) sent before any worker polls; delivered with the first "
        "workflow task; then a finish signal",
        events,
    )


async def test_wait_for_accepted_stage(client, task_queue):
    async with new_worker(client, task_queue, [Counter]):
        handle = await start_at_wait_point(client, task_queue)
        update = await asyncio.wait_for(
            handle.start_update(
                Counter.gated,
                "door",
                id="gated-1",
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            ),
            RESULT_TIMEOUT_S,
        )
        assert update.id == "gated-1"
        names = event_names((await handle.fetch_history()).events)
        assert names.count("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 1, names
        assert "WORKFLOW_EXECUTION_UPDATE_COMPLETED" not in names, names

        # The handler is blocked on the signal: no result yet.
        result = asyncio.create_task(update.result())
        done, _ = await asyncio.wait({result}, timeout=1.0)
        assert not done, "update result arrived before the release signal"
        names = event_names((await handle.fetch_history()).events)
        assert "WORKFLOW_EXECUTION_UPDATE_COMPLETED" not in names, names

        await handle.signal(Counter.release)
        assert await asyncio.wait_for(result, RESULT_TIMEOUT_S) == "door released"
        # A fresh handle by id sees the same outcome.
        again = client.get_workflow_handle(handle.id).get_update_handle("gated-1")
        assert await again.result() == "door released"

        await handle.signal(Counter.finish)
        assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S) == []
    events = (await handle.fetch_history()).events
    check_update_events(events, "gated-1", "gated", "door released")
    await check_golden(
        client,
        "update_accepted_then_completed",
        "update waits for a signal: accepted, then the release signal, then "
        "completed; then a finish signal",
        events,
    )


async def test_update_on_completed_workflow_fails(client, task_queue):
    async with new_worker(client, task_queue, [Counter]):
        handle = await start_at_wait_point(client, task_queue)
        await handle.signal(Counter.finish)
        assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S) == []
        history_len = len((await handle.fetch_history()).events)

        with pytest.raises(RPCError) as err:
            await asyncio.wait_for(
                handle.execute_update(Counter.add, 1), RESULT_TIMEOUT_S
            )
        assert err.value.status == RPCStatusCode.NOT_FOUND
        assert err.value.message == "workflow execution already completed"

        with pytest.raises(RPCError) as err:
            await asyncio.wait_for(
                handle.start_update(
                    Counter.add, 1, wait_for_stage=WorkflowUpdateStage.ACCEPTED
                ),
                RESULT_TIMEOUT_S,
            )
        assert err.value.status == RPCStatusCode.NOT_FOUND
        assert err.value.message == "workflow execution already completed"
        assert len((await handle.fetch_history()).events) == history_len
