"""Child workflows: result, failure, start failure on a running id, parent
close policies, the child's view of its parent, and the parent's history."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import (
    EventType,
    ParentClosePolicy as ProtoParentClosePolicy,
    RetryState,
    StartChildWorkflowExecutionFailedCause,
    WorkflowExecutionStatus,
)
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import (
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)

from conftest import new_worker, unique
from history_golden import (
    check_golden,
    event_names,
    events_of,
    wait_for_events,
    wait_for_status,
)

RESULT_TIMEOUT_S = 60
S = WorkflowExecutionStatus


def parent_info() -> list[str] | None:
    p = workflow.info().parent
    return [p.namespace, p.workflow_id, p.run_id] if p else None


@workflow.defn
class Child:
    @workflow.run
    async def run(self, name: str) -> dict[str, Any]:
        return {"greeting": f"hi {name}", "parent": parent_info()}


@workflow.defn
class FailingChild:
    @workflow.run
    async def run(self, name: str) -> None:
        raise ApplicationError(f"child {name} broke", type="ChildBroke")


@workflow.defn
class GatedChild:
    """Waits until released by a signal; reports cancellation if it sees one."""

    def __init__(self) -> None:
        self.released = False

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.run
    async def run(self) -> dict[str, Any]:
        await workflow.wait_condition(lambda: self.released)
        return {"released": True, "parent": parent_info()}


@workflow.defn
class Parent:
    @workflow.run
    async def run(self, child_id: str) -> dict[str, Any]:
        child = await workflow.execute_child_workflow(Child.run, "kid", id=child_id)
        return {"child": child, "me": [workflow.info().workflow_id, workflow.info().run_id]}


@workflow.defn
class ParentOfFailing:
    @workflow.run
    async def run(self, child_id: str) -> dict[str, Any]:
        try:
            await workflow.execute_child_workflow(FailingChild.run, "bob", id=child_id)
        except ChildWorkflowError as e:
            cause = e.cause
            return {
                "error": type(e).__name__,
                "workflow_id": e.workflow_id,
                "workflow_type": e.workflow_type,
                "retry_state": e.retry_state.name if e.retry_state else None,
                "cause": type(cause).__name__,
                "cause_message": getattr(cause, "message", str(cause)),
                "cause_type": getattr(cause, "type", None),
            }
        return {"error": None}


@workflow.defn
class ParentUnhandledChildFailure:
    @workflow.run
    async def run(self, child_id: str) -> None:
        await workflow.execute_child_workflow(FailingChild.run, "carl", id=child_id)


@workflow.defn
class ParentOfDuplicate:
    @workflow.run
    async def run(self, child_id: str) -> dict[str, Any]:
        try:
            await workflow.start_child_workflow(GatedChild.run, id=child_id)
        except WorkflowAlreadyStartedError as e:
            return {
                "error": type(e).__name__,
                "workflow_id": e.workflow_id,
                "workflow_type": e.workflow_type,
            }
        return {"error": None}


@workflow.defn
class ParentThatLeaves:
    """Starts a child that waits forever and completes right away."""

    @workflow.run
    async def run(self, child_id: str, policy: str) -> str:
        handle = await workflow.start_child_workflow(
            GatedChild.run,
            id=child_id,
            parent_close_policy=workflow.ParentClosePolicy[policy],
        )
        return handle.first_execution_run_id or ""


@workflow.defn
class ParentWaitingForGatedChild:
    @workflow.run
    async def run(self, child_id: str) -> dict[str, Any]:
        return await workflow.execute_child_workflow(GatedChild.run, id=child_id)


WORKFLOWS = [
    Child,
    FailingChild,
    GatedChild,
    Parent,
    ParentOfFailing,
    ParentUnhandledChildFailure,
    ParentOfDuplicate,
    ParentThatLeaves,
    ParentWaitingForGatedChild,
]


async def test_child_result_and_parent_info(client, task_queue):
    parent_id, child_id = unique("parent"), unique("child")
    async with new_worker(client, task_queue, WORKFLOWS):
        handle = await client.start_workflow(
            Parent.run, child_id, id=parent_id, task_queue=task_queue
        )
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    parent_run = handle.first_execution_run_id
    assert result == {
        "child": {"greeting": "hi kid", "parent": ["default", parent_id, parent_run]},
        "me": [parent_id, parent_run],
    }

    history = await handle.fetch_history()
    [initiated] = events_of(history.events, "START_CHILD_WORKFLOW_EXECUTION_INITIATED")
    attrs = initiated.start_child_workflow_execution_initiated_event_attributes
    assert attrs.workflow_id == child_id
    assert attrs.workflow_type.name == "Child"
    assert attrs.task_queue.name == task_queue  # inherited from the parent
    [started] = events_of(history.events, "CHILD_WORKFLOW_EXECUTION_STARTED")
    child_run = started.child_workflow_execution_started_event_attributes.workflow_execution.run_id
    assert started.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id == child_id
    [completed] = events_of(history.events, "CHILD_WORKFLOW_EXECUTION_COMPLETED")
    c = completed.child_workflow_execution_completed_event_attributes
    assert c.workflow_execution.run_id == child_run
    assert c.initiated_event_id == initiated.event_id
    assert c.started_event_id == started.event_id

    # The child's side: started event and describe point at the parent.
    child_history = await client.get_workflow_handle(child_id).fetch_history()
    child_started = child_history.events[0].workflow_execution_started_event_attributes
    assert child_started.parent_workflow_namespace == "default"
    assert child_started.parent_workflow_execution.workflow_id == parent_id
    assert child_started.parent_workflow_execution.run_id == parent_run
    assert child_started.parent_initiated_event_id == initiated.event_id
    desc = await client.get_workflow_handle(child_id).describe()
    assert desc.run_id == child_run
    assert desc.parent_id == parent_id
    assert desc.parent_run_id == parent_run
    assert desc.status is not None and desc.status.name == "COMPLETED"


async def test_child_failure_raises_child_workflow_error(client, task_queue):
    parent_id, child_id = unique("parent-f"), unique("child-f")
    async with new_worker(client, task_queue, WORKFLOWS):
        handle = await client.start_workflow(
            ParentOfFailing.run, child_id, id=parent_id, task_queue=task_queue
        )
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    assert result == {
        "error": "ChildWorkflowError",
        "workflow_id": child_id,
        "workflow_type": "FailingChild",
        "retry_state": "RETRY_POLICY_NOT_SET",
        "cause": "ApplicationError",
        "cause_message": "child bob broke",
        "cause_type": "ChildBroke",
    }
    history = await handle.fetch_history()
    [failed] = events_of(history.events, "CHILD_WORKFLOW_EXECUTION_FAILED")
    attrs = failed.child_workflow_execution_failed_event_attributes
    assert attrs.failure.message == "child bob broke"
    assert attrs.retry_state == RetryState.RETRY_STATE_RETRY_POLICY_NOT_SET
    assert attrs.workflow_execution.workflow_id == child_id


async def test_unhandled_child_failure_fails_the_parent(client, task_queue):
    parent_id, child_id = unique("parent-u"), unique("child-u")
    async with new_worker(client, task_queue, WORKFLOWS):
        handle = await client.start_workflow(
            ParentUnhandledChildFailure.run, child_id, id=parent_id, task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    child_err = err.value.cause
    assert isinstance(child_err, ChildWorkflowError)
    assert child_err.workflow_id == child_id
    assert isinstance(child_err.cause, ApplicationError)
    assert child_err.cause.message == "child carl broke"


async def test_child_start_fails_when_id_is_running(client, task_queue):
    parent_id, child_id = unique("parent-dup"), unique("child-dup")
    async with new_worker(client, task_queue, WORKFLOWS):
        running = await client.start_workflow(
            GatedChild.run, id=child_id, task_queue=task_queue
        )
        handle = await client.start_workflow(
            ParentOfDuplicate.run, child_id, id=parent_id, task_queue=task_queue
        )
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
        assert result == {
            "error": "WorkflowAlreadyStartedError",
            "workflow_id": child_id,
            "workflow_type": "GatedChild",
        }
        # The running workflow is untouched: it is not the parent's child.
        desc = await running.describe()
        assert desc.run_id == running.first_execution_run_id
        assert desc.status is not None and desc.status.name == "RUNNING"
        assert not desc.parent_id
        await running.terminate(reason="test done")

    history = await handle.fetch_history()
    [failed] = events_of(history.events, "START_CHILD_WORKFLOW_EXECUTION_FAILED")
    attrs = failed.start_child_workflow_execution_failed_event_attributes
    assert attrs.cause == (
        StartChildWorkflowExecutionFailedCause.START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS
    )
    assert attrs.workflow_id == child_id
    await check_golden(
        client,
        "child_start_failed_already_running",
        "parent starts a child whose workflow id is already running; the start "
        "fails and the parent completes",
        history.events,
    )


async def run_parent_that_leaves(
    client, task_queue, policy: str
) -> tuple[str, str, str, str]:
    """Runs ParentThatLeaves; returns (parent id, parent run, child id, child run)."""
    parent_id, child_id = unique(f"parent-{policy.lower()}"), unique(f"child-{policy.lower()}")
    handle = await client.start_workflow(
        ParentThatLeaves.run, args=[child_id, policy], id=parent_id, task_queue=task_queue
    )
    child_run = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    assert child_run
    history = await handle.fetch_history()
    [initiated] = events_of(history.events, "START_CHILD_WORKFLOW_EXECUTION_INITIATED")
    assert initiated.start_child_workflow_execution_initiated_event_attributes.parent_close_policy == (
        ProtoParentClosePolicy.Value(f"PARENT_CLOSE_POLICY_{policy}")
    )
    return parent_id, handle.first_execution_run_id, child_id, child_run


async def test_parent_close_policies(client, task_queue):
    async with new_worker(client, task_queue, WORKFLOWS):
        (_, _, term_id, term_run), cancel, (_, _, abandon_id, abandon_run) = (
            await asyncio.gather(
                run_parent_that_leaves(client, task_queue, "TERMINATE"),
                run_parent_that_leaves(client, task_queue, "REQUEST_CANCEL"),
                run_parent_that_leaves(client, task_queue, "ABANDON"),
            )
        )

        # TERMINATE: the child is terminated when the parent completes.
        await wait_for_status(
            client, term_id, S.WORKFLOW_EXECUTION_STATUS_TERMINATED, run_id=term_run
        )
        term_history = await client.get_workflow_handle(term_id).fetch_history()
        terminated = term_history.events[-1]
        assert terminated.event_type == (
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
        )
        assert terminated.workflow_execution_terminated_event_attributes.reason == (
            "by parent close policy"
        )

        # REQUEST_CANCEL: the child is asked to cancel, sees it and ends
        # canceled (GatedChild does not catch the cancellation).
        cancel_parent_id, cancel_parent_run, cancel_id, cancel_run = cancel
        await wait_for_status(
            client, cancel_id, S.WORKFLOW_EXECUTION_STATUS_CANCELED, run_id=cancel_run
        )
        cancel_history = await client.get_workflow_handle(cancel_id).fetch_history()
        names = event_names(cancel_history.events)
        assert names[-1] == "WORKFLOW_EXECUTION_CANCELED", names
        [requested] = events_of(cancel_history.events, "WORKFLOW_EXECUTION_CANCEL_REQUESTED")
        # The request comes from the parent.
        by = requested.workflow_execution_cancel_requested_event_attributes
        assert by.external_workflow_execution.workflow_id == cancel_parent_id
        assert by.external_workflow_execution.run_id == cancel_parent_run

        # ABANDON: the child keeps running after the parent closed and can
        # still complete normally.
        abandoned = client.get_workflow_handle(abandon_id)
        await asyncio.sleep(1.0)
        desc = await abandoned.describe()
        assert desc.status is not None and desc.status.name == "RUNNING"
        assert desc.run_id == abandon_run
        await abandoned.signal(GatedChild.release)
        result = await asyncio.wait_for(abandoned.result(), RESULT_TIMEOUT_S)
        assert result["released"] is True
        assert result["parent"][1].startswith("parent-abandon")


async def test_parent_and_child_histories(client, task_queue):
    parent_id, child_id = unique("parent-g"), unique("child-g")
    async with new_worker(client, task_queue, WORKFLOWS):
        handle = await client.start_workflow(
            ParentWaitingForGatedChild.run, child_id, id=parent_id, task_queue=task_queue
        )
        # Both at their wait points before the child is released, so the
        # event order is deterministic.
        await wait_for_events(handle, ["CHILD_WORKFLOW_EXECUTION_STARTED"])
        child = client.get_workflow_handle(child_id)
        await wait_for_events(child, [])
        await child.signal(GatedChild.release)
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    assert result == {
        "released": True,
        "parent": ["default", parent_id, handle.first_execution_run_id],
    }
    await check_golden(
        client,
        "child_parent_history",
        "parent executes a child and waits for its result; the child completes "
        "when signaled",
        (await handle.fetch_history()).events,
    )
    await check_golden(
        client,
        "child_child_history",
        "the child of child_parent_history: waits for a signal and completes",
        (await child.fetch_history()).events,
    )
