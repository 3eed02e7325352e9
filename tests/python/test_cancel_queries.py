"""Queries while a workflow cancels its activity, validated against the real dev server.

A workflow schedules an activity (never started: no worker polls its queue; started and
heartbeating; started and silent) and cancels it (TRY_CANCEL, WAIT_CANCELLATION_COMPLETED,
ABANDON; through the activity's handle, or by cancelling the workflow itself) while a client
queries it. On the real server every query is answered:

* queries that reach an idle workflow go to the worker as "legacy" query tasks with
  ``started_event_id`` 0 (an empty history on the sticky queue), which the SDK's core treats as
  query-only tasks: it queues any number of them behind the run's current work. A task that
  looks like a workflow task instead (a started event id, events past the last completed
  workflow task) takes the run's single buffered-task slot and replaces the one waiting
  there, whose query is then never answered;
* a query held for a workflow task that the worker fails stays held and rides the retried
  task;
* cancelling an activity that never started records ActivityTaskCanceled and schedules a
  workflow task, so a workflow waiting for the cancellation (WAIT_CANCELLATION_COMPLETED)
  goes on.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import EventType, QueryResultType, TaskQueueKind
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.taskqueue.v1 import StickyExecutionAttributes, TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueRequest,
    QueryWorkflowRequest,
    RespondQueryTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

from conftest import new_worker, unique

TIMEOUT_S = 10
# Each query of a burst gives up after this; the real server answers all of them at once.
QUERY_RPC_TIMEOUT = timedelta(seconds=4)
BURST = 6
QUERY_HANDLER_S = 0.1

# What the test lets the activities of a workflow do, by workflow id.
ENTERED: dict[str, asyncio.Event] = {}
RELEASE: dict[str, asyncio.Event] = {}


def gates(key: str) -> tuple[asyncio.Event, asyncio.Event]:
    ENTERED[key] = asyncio.Event()
    RELEASE[key] = asyncio.Event()
    return ENTERED[key], RELEASE[key]


@activity.defn
async def heartbeating(key: str) -> str:
    """Heartbeats until cancelled; acknowledges the cancellation once released."""
    ENTERED[key].set()
    try:
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        await RELEASE[key].wait()
        raise


@activity.defn
async def silent(key: str) -> str:
    """Never heartbeats, so never learns of a cancellation; finishes once released."""
    ENTERED[key].set()
    await RELEASE[key].wait()
    return "finished"


CANCELLATION_TYPES = {
    "try_cancel": ActivityCancellationType.TRY_CANCEL,
    "wait_cancellation_completed": ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    "abandon": ActivityCancellationType.ABANDON,
}


@workflow.defn
class CancelsItsActivity:
    def __init__(self) -> None:
        self.stage = "started"
        self.go = False
        self.finish = False

    @workflow.query
    def stage_now(self) -> str:
        # A handler that takes a moment, as a real one computing its answer would: the next
        # queries reach the worker while it runs (the unsandboxed runner allows the sleep).
        time.sleep(QUERY_HANDLER_S)
        return self.stage

    @workflow.signal
    def cancel_activity(self) -> None:
        self.go = True

    @workflow.signal
    def finish_up(self) -> None:
        self.finish = True

    @workflow.run
    async def run(self, kind: str, cancellation: str, activity_queue: str, via: str) -> str:
        handle = workflow.start_activity(
            "heartbeating" if kind == "unstarted" else kind,
            workflow.info().workflow_id,
            task_queue=activity_queue or None,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=5) if kind == "heartbeating" else None,
            cancellation_type=CANCELLATION_TYPES[cancellation],
        )
        self.stage = "activity scheduled"
        if via == "handle":
            await workflow.wait_condition(lambda: self.go)
            handle.cancel()
            self.stage = "cancel requested"
        # Otherwise the workflow's own cancellation reaches the activity it awaits; the
        # workflow takes it as handled and stays open.
        try:
            await handle
            self.stage = "activity finished"
        except ActivityError:
            self.stage = "activity cancelled"
        await workflow.wait_condition(lambda: self.finish)
        return self.stage


STAGES_AFTER_CANCEL = {
    "activity scheduled",  # cancelling the workflow: until its cancellation resolves
    "cancel requested",
    "activity cancelled",
    "activity finished",
}


async def burst_of_queries(handle: WorkflowHandle, n: int = BURST) -> list[str]:
    """`n` queries at once; what each returned, or the error it failed with."""

    async def one() -> str:
        try:
            return await handle.query(CancelsItsActivity.stage_now, rpc_timeout=QUERY_RPC_TIMEOUT)
        except Exception as e:  # noqa: BLE001 — reported by the assertion
            return f"error: {type(e).__name__}: {e}"

    return list(await asyncio.gather(*(one() for _ in range(n))))


@pytest.mark.parametrize("via", ["handle", "workflow_cancel"])
@pytest.mark.parametrize("cancellation", list(CANCELLATION_TYPES))
@pytest.mark.parametrize("kind", ["unstarted", "heartbeating", "silent"])
async def test_queries_while_an_activity_is_cancelled_are_all_answered(
    client: Client, task_queue: str, kind: str, cancellation: str, via: str
):
    """Right after the cancellation, with the workflow waiting (no workflow task pending),
    `BURST` concurrent queries are all answered (one after the other: each handler takes
    `QUERY_HANDLER_S`). On Endure some time out: its query tasks carry the last started event
    id and the whole history, so the worker's core takes each for a workflow task, and one
    arriving while another waits behind the run's current work replaces it; the replaced
    task's query is never answered."""
    workflow_id = unique("cancel-queries")
    entered, release = gates(workflow_id)
    activity_queue = unique("nobody-polls") if kind == "unstarted" else ""
    async with new_worker(
        client, task_queue, [CancelsItsActivity], [heartbeating, silent]
    ):
        try:
            handle = await client.start_workflow(
                CancelsItsActivity.run,
                args=[kind, cancellation, activity_queue, via],
                id=workflow_id,
                task_queue=task_queue,
            )
            if kind != "unstarted":
                await asyncio.wait_for(entered.wait(), TIMEOUT_S)
            assert await asyncio.wait_for(
                handle.query(CancelsItsActivity.stage_now), TIMEOUT_S
            ) == "activity scheduled"

            if via == "handle":
                await handle.signal(CancelsItsActivity.cancel_activity)
            else:
                await handle.cancel()
            # Sent right behind the cancellation: waits for the workflow task it caused.
            after = await asyncio.wait_for(handle.query(CancelsItsActivity.stage_now), TIMEOUT_S)
            assert after in STAGES_AFTER_CANCEL
            await asyncio.sleep(0.5)

            answers = await burst_of_queries(handle)
            assert [a for a in answers if a not in STAGES_AFTER_CANCEL] == []
        finally:
            release.set()
            await asyncio.sleep(0.2)
            desc = await handle.describe()
            if desc.status is not None and desc.status.name == "RUNNING":
                await handle.terminate("test over")


@pytest.mark.parametrize("cancellation", ["try_cancel", "wait_cancellation_completed"])
async def test_query_held_for_a_failed_workflow_task_rides_its_retry(
    client: Client, task_queue: str, cancellation: str
):
    """The workflow task that cancels the activity fails once (the worker's workflow code
    raises). A query sent while that task was pending is held for it; the real server keeps
    it held when the task fails and hands it to the retried task, which answers it. Endure
    moved the query into the failed task and never answers it."""
    workflow_id = unique("fail-once")
    async with new_worker(client, task_queue, [FailsOnceAfterCancelling]):
        handle = await client.start_workflow(
            FailsOnceAfterCancelling.run,
            args=[cancellation, unique("nobody-polls")],
            id=workflow_id,
            task_queue=task_queue,
        )
        assert await asyncio.wait_for(
            handle.query(FailsOnceAfterCancelling.stage_now), TIMEOUT_S
        ) == "activity scheduled"
    # No worker now: the signal's workflow task waits, and the query with it.
    await handle.signal(FailsOnceAfterCancelling.cancel_activity)
    pending_query = asyncio.create_task(
        handle.query(FailsOnceAfterCancelling.stage_now, rpc_timeout=timedelta(seconds=8))
    )
    await asyncio.sleep(0.5)
    assert not pending_query.done()
    try:
        async with new_worker(client, task_queue, [FailsOnceAfterCancelling]):
            # The retried task answers it: TRY_CANCEL has resolved the activity in that task,
            # WAIT_CANCELLATION_COMPLETED is still waiting for its ActivityTaskCanceled.
            assert await asyncio.wait_for(pending_query, TIMEOUT_S) == (
                "activity cancelled" if cancellation == "try_cancel" else "cancel requested"
            )
            assert workflow_id in FAILED_ONCE
            history = [e async for e in handle.fetch_history_events()]
            assert [
                e.event_type
                for e in history
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            ] == [EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    finally:
        pending_query.cancel()
        await handle.terminate("test over")


FAILED_ONCE: set[str] = set()


@workflow.defn
class FailsOnceAfterCancelling:
    def __init__(self) -> None:
        self.stage = "started"
        self.go = False

    @workflow.query
    def stage_now(self) -> str:
        return self.stage

    @workflow.signal
    def cancel_activity(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, cancellation: str, activity_queue: str) -> str:
        handle = workflow.start_activity(
            "never_runs",
            task_queue=activity_queue,
            start_to_close_timeout=timedelta(seconds=60),
            cancellation_type=CANCELLATION_TYPES[cancellation],
        )
        self.stage = "activity scheduled"
        await workflow.wait_condition(lambda: self.go)
        handle.cancel()
        self.stage = "cancel requested"
        if workflow.info().workflow_id not in FAILED_ONCE:
            FAILED_ONCE.add(workflow.info().workflow_id)
            raise RuntimeError("this workflow task fails once")
        try:
            await handle
        except ActivityError:
            self.stage = "activity cancelled"
        await workflow.wait_condition(lambda: False)
        return self.stage


@pytest.mark.parametrize("via", ["handle", "workflow_cancel"])
async def test_waiting_for_the_cancellation_of_an_activity_that_never_started(
    client: Client, task_queue: str, via: str
):
    """WAIT_CANCELLATION_COMPLETED on an activity nobody picked up: the real server records
    ActivityTaskCanceled and schedules a workflow task in the same completion, so the workflow
    resumes at once. Endure schedules no workflow task: the workflow waits for an event that
    never comes, and its result with it."""
    workflow_id = unique("never-started")
    gates(workflow_id)
    async with new_worker(client, task_queue, [CancelsItsActivity]):
        handle = await client.start_workflow(
            CancelsItsActivity.run,
            args=["unstarted", "wait_cancellation_completed", unique("nobody-polls"), via],
            id=workflow_id,
            task_queue=task_queue,
        )
        try:
            assert await asyncio.wait_for(
                handle.query(CancelsItsActivity.stage_now), TIMEOUT_S
            ) == "activity scheduled"
            # Told to finish first: it returns as soon as the cancellation resolves.
            await handle.signal(CancelsItsActivity.finish_up)
            if via == "handle":
                await handle.signal(CancelsItsActivity.cancel_activity)
            else:
                await handle.cancel()
            assert await asyncio.wait_for(handle.result(), TIMEOUT_S) == "activity cancelled"
            events = [
                EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
                async for e in handle.fetch_history_events()
            ]
            i = events.index("ACTIVITY_TASK_CANCELED")
            assert events[i - 1] == "ACTIVITY_TASK_CANCEL_REQUESTED"
            assert events[i + 1 : i + 4] == [
                "WORKFLOW_TASK_SCHEDULED",
                "WORKFLOW_TASK_STARTED",
                "WORKFLOW_TASK_COMPLETED",
            ]
        finally:
            desc = await handle.describe()
            if desc.status is not None and desc.status.name == "RUNNING":
                await handle.terminate("test over")


async def test_query_task_for_an_idle_workflow_is_query_only(client: Client):
    """Raw worker calls: a query to a workflow with no workflow task pending reaches the
    worker with `started_event_id` 0 (what the SDKs' core reads as a query-only task); on the
    normal queue with the whole history, on a polled sticky queue with none."""
    svc = client.workflow_service
    task_queue = unique("raw-query")
    sticky_queue = f"{task_queue}-sticky"
    workflow_id = unique("raw-query")
    await svc.start_workflow_execution(
        StartWorkflowExecutionRequest(
            namespace="default",
            workflow_id=workflow_id,
            workflow_type=WorkflowType(name="RawQueried"),
            task_queue=TaskQueue(name=task_queue),
            request_id=str(uuid.uuid4()),
        )
    )

    async def poll(queue: TaskQueue):
        return await svc.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(namespace="default", task_queue=queue, identity="raw"),
            timeout=timedelta(seconds=TIMEOUT_S),
        )

    async def answer(task) -> None:
        await svc.respond_query_task_completed(
            RespondQueryTaskCompletedRequest(
                namespace="default",
                task_token=task.task_token,
                completed_type=QueryResultType.QUERY_RESULT_TYPE_ANSWERED,
                query_result=Payloads(
                    payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b'"idle"')]
                ),
            )
        )

    def query():
        return asyncio.create_task(
            svc.query_workflow(
                QueryWorkflowRequest(
                    namespace="default",
                    execution=WorkflowExecution(workflow_id=workflow_id),
                    query=WorkflowQuery(query_type="state"),
                ),
                timeout=timedelta(seconds=TIMEOUT_S),
            )
        )

    normal = TaskQueue(name=task_queue)
    first = await poll(normal)
    # Completed without stickiness: the query task goes to the normal queue.
    await svc.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=first.task_token, identity="raw"
        )
    )
    pending = query()
    task = await poll(normal)
    assert task.query.query_type == "state"
    assert task.started_event_id == 0
    assert task.previous_started_event_id == first.started_event_id
    assert [e.event_id for e in task.history.events] == [1, 2, 3, 4]
    await answer(task)
    assert (await pending).query_result.payloads[0].data == b'"idle"'

    # With a sticky queue being polled: the query task goes there, with no history.
    await svc.signal_workflow_execution(
        SignalWorkflowExecutionRequest(
            namespace="default",
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            signal_name="wake",
            identity="raw",
        )
    )
    second = await poll(normal)
    await svc.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace="default",
            task_token=second.task_token,
            identity="raw",
            sticky_attributes=StickyExecutionAttributes(
                worker_task_queue=TaskQueue(
                    name=sticky_queue,
                    kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY,
                    normal_name=task_queue,
                ),
                schedule_to_start_timeout=Duration(seconds=10),
            ),
        )
    )
    sticky_poll = asyncio.create_task(
        poll(
            TaskQueue(
                name=sticky_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY, normal_name=task_queue
            )
        )
    )
    await asyncio.sleep(0.5)
    pending = query()
    task = await sticky_poll
    assert task.query.query_type == "state"
    assert task.started_event_id == 0
    assert list(task.history.events) == []
    await answer(task)
    assert (await pending).query_result.payloads[0].data == b'"idle"'
    await client.get_workflow_handle(workflow_id).terminate("test over")
