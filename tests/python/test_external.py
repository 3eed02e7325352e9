"""Signals and cancel requests from one workflow to another
(SignalExternalWorkflowExecution / RequestCancelExternalWorkflowExecution
commands), including to workflows that do not exist or have completed."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.api.enums.v1 import (
    CancelExternalWorkflowExecutionFailedCause,
    EventType,
    SignalExternalWorkflowExecutionFailedCause,
)

from conftest import new_worker, unique
from history_golden import check_golden, event_names, wait_for_events

RESULT_TIMEOUT_S = 60


@workflow.defn
class Receiver:
    """Waits for a signal; if cancelled instead, says so and completes."""

    def __init__(self) -> None:
        self.value: str | None = None

    @workflow.signal
    def deliver(self, value: str) -> None:
        self.value = value

    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.wait_condition(lambda: self.value is not None)
        except asyncio.CancelledError:
            return "observed cancellation"
        return f"got {self.value}"


@workflow.defn
class Quick:
    @workflow.run
    async def run(self) -> str:
        return "done"


def describe_error(e: BaseException) -> dict[str, Any]:
    return {
        "class": type(e).__name__,
        "message": getattr(e, "message", str(e)),
        "type": getattr(e, "type", None),
        "non_retryable": getattr(e, "non_retryable", None),
    }


@workflow.defn
class SignalSender:
    @workflow.run
    async def run(self, target_id: str, value: str) -> dict[str, Any]:
        try:
            await workflow.get_external_workflow_handle(target_id).signal(
                Receiver.deliver, value
            )
        except Exception as e:  # noqa: BLE001 - the test inspects it
            return {"ok": False, "error": describe_error(e)}
        return {"ok": True}


@workflow.defn
class CancelSender:
    @workflow.run
    async def run(self, target_id: str) -> dict[str, Any]:
        try:
            await workflow.get_external_workflow_handle(target_id).cancel()
        except Exception as e:  # noqa: BLE001 - the test inspects it
            return {"ok": False, "error": describe_error(e)}
        return {"ok": True}


WORKFLOWS = [Receiver, Quick, SignalSender, CancelSender]


def one_event(history, event_type: int):
    found = [e for e in history.events if e.event_type == event_type]
    assert len(found) == 1, (EventType.Name(event_type), event_names(history.events))
    return found[0]


async def test_signal_external_workflow(client, task_queue):
    target_id, sender_id = unique("ext-target"), unique("ext-signaler")
    async with new_worker(client, task_queue, WORKFLOWS):
        target = await client.start_workflow(
            Receiver.run, id=target_id, task_queue=task_queue
        )
        await wait_for_events(target, [])
        sender = await client.start_workflow(
            SignalSender.run, args=[target_id, "hello from a workflow"],
            id=sender_id, task_queue=task_queue,
        )
        assert await asyncio.wait_for(sender.result(), RESULT_TIMEOUT_S) == {"ok": True}
        assert await asyncio.wait_for(target.result(), RESULT_TIMEOUT_S) == (
            "got hello from a workflow"
        )

    sender_history = await sender.fetch_history()
    initiated = one_event(
        sender_history,
        EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    )
    ia = initiated.signal_external_workflow_execution_initiated_event_attributes
    assert ia.workflow_execution.workflow_id == target_id
    assert ia.signal_name == "deliver"
    signaled = one_event(
        sender_history, EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED
    )
    sa = signaled.external_workflow_execution_signaled_event_attributes
    assert sa.initiated_event_id == initiated.event_id
    assert sa.workflow_execution.workflow_id == target_id

    target_history = await target.fetch_history()
    got = one_event(target_history, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
    ga = got.workflow_execution_signaled_event_attributes
    assert ga.signal_name == "deliver"
    assert ga.external_workflow_execution.workflow_id == sender_id
    assert ga.external_workflow_execution.run_id == sender.first_execution_run_id

    await check_golden(
        client,
        "external_signal_sender",
        "a workflow signals another running workflow",
        sender_history.events,
    )
    await check_golden(
        client,
        "external_signal_target",
        "the workflow signaled by external_signal_sender (waiting at the time)",
        target_history.events,
    )


async def test_signal_external_workflow_that_does_not_exist(client, task_queue):
    sender_id = unique("ext-signaler-404")
    async with new_worker(client, task_queue, WORKFLOWS):
        sender = await client.start_workflow(
            SignalSender.run, args=[unique("no-such-workflow"), "lost"],
            id=sender_id, task_queue=task_queue,
        )
        result = await asyncio.wait_for(sender.result(), RESULT_TIMEOUT_S)
    assert result == {
        "ok": False,
        "error": {
            "class": "ApplicationError",
            "message": "Unable to signal external workflow because it was not found",
            "type": "ExternalWorkflowExecutionNotFound",
            "non_retryable": False,
        },
    }
    history = await sender.fetch_history()
    failed = one_event(
        history, EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED
    )
    assert failed.signal_external_workflow_execution_failed_event_attributes.cause == (
        SignalExternalWorkflowExecutionFailedCause.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND
    )
    await check_golden(
        client,
        "external_signal_not_found",
        "a workflow signals a workflow id that does not exist",
        history.events,
    )


async def test_signal_external_workflow_that_completed(client, task_queue):
    target_id = unique("ext-target-done")
    async with new_worker(client, task_queue, WORKFLOWS):
        target = await client.start_workflow(Quick.run, id=target_id, task_queue=task_queue)
        assert await asyncio.wait_for(target.result(), RESULT_TIMEOUT_S) == "done"
        sender = await client.start_workflow(
            SignalSender.run, args=[target_id, "too late"],
            id=unique("ext-signaler-late"), task_queue=task_queue,
        )
        result = await asyncio.wait_for(sender.result(), RESULT_TIMEOUT_S)
    assert result["ok"] is False
    assert result["error"]["class"] == "ApplicationError"
    assert result["error"]["message"] == (
        "Unable to signal external workflow because it was not found"
    )
    history = await sender.fetch_history()
    failed = one_event(
        history, EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED
    )
    assert failed.signal_external_workflow_execution_failed_event_attributes.cause == (
        SignalExternalWorkflowExecutionFailedCause.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND
    )


async def test_cancel_external_workflow(client, task_queue):
    target_id, sender_id = unique("ext-cancel-target"), unique("ext-canceler")
    async with new_worker(client, task_queue, WORKFLOWS):
        target = await client.start_workflow(
            Receiver.run, id=target_id, task_queue=task_queue
        )
        await wait_for_events(target, [])
        sender = await client.start_workflow(
            CancelSender.run, target_id, id=sender_id, task_queue=task_queue
        )
        assert await asyncio.wait_for(sender.result(), RESULT_TIMEOUT_S) == {"ok": True}
        # The target observes the cancellation (and completes on its own terms).
        assert await asyncio.wait_for(target.result(), RESULT_TIMEOUT_S) == (
            "observed cancellation"
        )

    sender_history = await sender.fetch_history()
    initiated = one_event(
        sender_history,
        EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    )
    ia = initiated.request_cancel_external_workflow_execution_initiated_event_attributes
    assert ia.workflow_execution.workflow_id == target_id
    requested = one_event(
        sender_history,
        EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
    )
    ra = requested.external_workflow_execution_cancel_requested_event_attributes
    assert ra.initiated_event_id == initiated.event_id
    assert ra.workflow_execution.workflow_id == target_id

    target_history = await target.fetch_history()
    cr = one_event(
        target_history, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
    ).workflow_execution_cancel_requested_event_attributes
    assert cr.external_workflow_execution.workflow_id == sender_id
    assert cr.external_workflow_execution.run_id == sender.first_execution_run_id
    assert cr.external_initiated_event_id == initiated.event_id

    await check_golden(
        client,
        "external_cancel_sender",
        "a workflow requests cancellation of another running workflow",
        sender_history.events,
    )
    await check_golden(
        client,
        "external_cancel_target",
        "the workflow canceled by external_cancel_sender: it catches the "
        "cancellation and completes",
        target_history.events,
    )


async def test_cancel_external_workflow_that_does_not_exist(client, task_queue):
    sender_id = unique("ext-canceler-404")
    async with new_worker(client, task_queue, WORKFLOWS):
        sender = await client.start_workflow(
            CancelSender.run, unique("no-such-workflow"), id=sender_id,
            task_queue=task_queue,
        )
        result = await asyncio.wait_for(sender.result(), RESULT_TIMEOUT_S)
    assert result == {
        "ok": False,
        "error": {
            "class": "ApplicationError",
            "message": "Unable to cancel external workflow because not found",
            "type": "ExternalWorkflowExecutionNotFound",
            "non_retryable": False,
        },
    }
    history = await sender.fetch_history()
    failed = one_event(
        history, EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED
    )
    assert failed.request_cancel_external_workflow_execution_failed_event_attributes.cause == (
        CancelExternalWorkflowExecutionFailedCause.CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND
    )
    await check_golden(
        client,
        "external_cancel_not_found",
        "a workflow requests cancellation of a workflow id that does not exist",
        history.events,
    )
