"""Activity operations: PauseActivity, UnpauseActivity, ResetActivity,
UpdateActivityOptions (WorkflowService RPCs), their ``*ActivityExecution``
successors, and the CLI's ``temporal activity pause|unpause|reset|update-options``.

Validated against the real dev server (Temporal 1.32.0, CLI 1.9.1, temporalio
1.35); the research note behind every assertion is summarised here:

* None of the operations writes a history event; they change the pending
  activity only (DescribeWorkflowExecution's ``pending_activities``).
* Pause of a scheduled activity: state PAUSED, ``paused``, ``pause_info`` with
  ``pause_time`` and ``manual{identity, reason}`` (empty strings when not
  given, the CLI sends ``temporal-cli:<user>@<host>``); its task is not
  dispatched. Pause of a started activity: state PAUSE_REQUESTED; the running
  attempt's RecordActivityTaskHeartbeat answers ``activity_paused=true``; the
  Python SDK cancels the activity with ``cancellation_details().paused`` and
  fails the attempt with ApplicationError type ``ActivityPause``. A failure
  while paused counts the attempt (attempt+1, even past ``maximum_attempts``)
  but no retry is dispatched and the activity does not fail; a completion
  while paused completes normally. While paused no activity timeout fires
  (start-to-close, heartbeat, schedule-to-close); overdue ones fire right
  after unpause. The workflow gets the ``TemporalPauseInfo`` search attribute
  ``["property:activityType=<type>"]`` while something is paused.
* Unpause: no-op on an activity that is not paused; dispatches a waiting
  activity now (also one that was in retry backoff), or at a random time
  within ``jitter``; keeps the attempt unless ``reset_attempts``.
* Reset: attempt back to 1; an activity waiting (backoff, or paused without
  ``keep_paused``) is dispatched now; ``keep_paused`` keeps it paused;
  ``reset_heartbeat`` clears the heartbeat details for the next attempt;
  ``restore_original_options`` restores the options of the scheduled event.
  A running attempt 1 gets ``activity_reset=true`` on heartbeat (the SDK fails
  it with ``ActivityReset`` and the retry runs as attempt 2); a running attempt
  > 1 loses its task token (the mutable state's attempt is 1 now): heartbeat
  and completion by token answer NOT_FOUND, the by-id calls still work.
* UpdateActivityOptions: mask paths in snake_case or camelCase
  (``task_queue.name``, the four timeouts, ``retry_policy`` and its four
  scalar fields, ``priority``...); the old RPC ignores unknown paths, the
  ``*Execution`` RPC rejects them. Changes apply to the pending activity at
  once: a waiting task moves to the new task queue, a shorter heartbeat
  timeout applies to the running attempt, a new retry interval reschedules a
  waiting retry.
* The CLI 1.9.1 calls PauseActivityExecution, UnpauseActivityExecution,
  ResetActivityExecution and UpdateActivityExecutionOptions (not the
  deprecated RPCs): e.g. pausing a paused activity fails there with
  FAILED_PRECONDITION "activity is already paused" while PauseActivity is a
  no-op.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Optional

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio import activity, workflow
from temporalio.api.activity.v1 import ActivityOptions
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.common.v1 import Priority as PriorityProto
from temporalio.api.common.v1 import RetryPolicy as RetryPolicyProto
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import (
    EventType,
    PendingActivityState,
    RetryState,
    TaskQueueKind,
    TimeoutType,
)
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    PauseActivityExecutionRequest,
    PauseActivityRequest,
    PollActivityTaskQueueRequest,
    PollActivityTaskQueueResponse,
    RecordActivityTaskHeartbeatByIdRequest,
    RecordActivityTaskHeartbeatRequest,
    ResetActivityExecutionRequest,
    ResetActivityRequest,
    RespondActivityTaskCompletedByIdRequest,
    RespondActivityTaskCompletedRequest,
    RespondActivityTaskFailedRequest,
    UnpauseActivityExecutionRequest,
    UnpauseActivityRequest,
    UpdateActivityExecutionOptionsRequest,
    UpdateActivityOptionsRequest,
)
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.converter import PayloadConverter
from temporalio.exceptions import ActivityError
from temporalio.service import RPCError, RPCStatusCode

from conftest import new_worker, unique
from endure_testing.servers import ServerProcess, temporal_bin

NS = "default"
S = PendingActivityState
NOT_FOUND_DETAIL = "type.googleapis.com/temporal.api.errordetails.v1.NotFoundFailure"
NO_PENDING = (
    "Can't find pending activity with such ID. Invalid activityID or activity already completed"
)
CLI_TIMEOUT_S = 60


# ---------------------------------------------------------------- workflows


@dataclass
class ActSpec:
    """One activity the workflow schedules (on its own task queue)."""

    activity_type: str
    task_queue: str
    start_to_close: float = 30.0
    schedule_to_close: float = 0.0
    heartbeat: float = 0.0
    initial_interval: float = 0.2
    maximum_attempts: int = 0


def _secs(s: float) -> Optional[timedelta]:
    return timedelta(seconds=s) if s else None


@workflow.defn(name="ActOpsOne")
class ActOpsOne:
    """Runs activity ``a1`` as the spec says and returns its result."""

    @workflow.run
    async def run(self, spec: ActSpec) -> Any:
        return await workflow.execute_activity(
            spec.activity_type,
            "input",
            activity_id="a1",
            task_queue=spec.task_queue,
            start_to_close_timeout=_secs(spec.start_to_close),
            schedule_to_close_timeout=_secs(spec.schedule_to_close),
            heartbeat_timeout=_secs(spec.heartbeat),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=spec.initial_interval),
                backoff_coefficient=1.0,
                maximum_attempts=spec.maximum_attempts,
            ),
        )


@workflow.defn(name="ActOpsThree")
class ActOpsThree:
    """a1 and a2 of type OpsTypeA, b1 of type OpsTypeB, in parallel (nobody runs them)."""

    @workflow.run
    async def run(self, activity_queue: str) -> list:
        def one(act_type: str, act_id: str):
            return workflow.execute_activity(
                act_type,
                act_id,
                activity_id=act_id,
                task_queue=activity_queue,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=1.0),
            )

        return list(
            await asyncio.gather(
                one("OpsTypeA", "a1"), one("OpsTypeA", "a2"), one("OpsTypeB", "b1")
            )
        )


# ---------------------------------------------------------------- activities

# workflow id -> what the SDK activity saw (activities run in the test's loop).
STARTS: dict[str, list[tuple[int, list]]] = {}  # (attempt, heartbeat details)
CANCELS: dict[str, list[tuple[int, Any]]] = {}  # (attempt, cancellation details)
RELEASED: set[str] = set()  # workflow ids whose running activity may return


@activity.defn(name="OpsHeartbeater")
async def ops_heartbeater(_arg: str) -> str:
    """Heartbeats ``"<attempt>:<n>"`` every 0.1 s until its workflow id is released."""
    info = activity.info()
    STARTS.setdefault(info.workflow_id, []).append((info.attempt, list(info.heartbeat_details)))
    n = 0
    try:
        while info.workflow_id not in RELEASED:
            activity.heartbeat(f"{info.attempt}:{n}")
            n += 1
            await asyncio.sleep(0.1)
        return f"done on attempt {info.attempt}"
    except asyncio.CancelledError:
        CANCELS.setdefault(info.workflow_id, []).append(
            (info.attempt, activity.cancellation_details())
        )
        raise


@activity.defn(name="OpsQuick")
async def ops_quick(_arg: str) -> str:
    info = activity.info()
    STARTS.setdefault(info.workflow_id, []).append((info.attempt, list(info.heartbeat_details)))
    return f"quick on attempt {info.attempt}"


# ---------------------------------------------------------------- helpers


def ex(wf_id: str, run_id: str = "") -> WorkflowExecution:
    return WorkflowExecution(workflow_id=wf_id, run_id=run_id)


def dur(seconds: float) -> Duration:
    d = Duration()
    d.FromTimedelta(timedelta(seconds=seconds))
    return d


def json_payloads(*values: Any) -> Payloads:
    return Payloads(
        payloads=[
            Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(v).encode())
            for v in values
        ]
    )


def decode(payloads: Payloads) -> list:
    return [json.loads(p.data) for p in payloads.payloads]


def fail_request(token: bytes, message: str) -> RespondActivityTaskFailedRequest:
    return RespondActivityTaskFailedRequest(
        namespace=NS,
        task_token=token,
        identity="raw-worker",
        failure=Failure(message=message, application_failure_info=ApplicationFailureInfo(type="RawFailure")),
    )


async def expect_error(call: Awaitable) -> RPCError:
    try:
        resp = await call
    except RPCError as e:
        return e
    pytest.fail(f"expected an RPC error, the call succeeded with: {resp}")


def assert_error(err: RPCError, status: RPCStatusCode, message: str, details: Optional[list] = None) -> None:
    got = (err.status.name, err.message, [d.type_url for d in err.grpc_status.details])
    assert err.status == status, got
    assert err.message == message, got
    if details is not None:
        assert [d.type_url for d in err.grpc_status.details] == details, got


async def pending(client: Client, wf_id: str) -> dict[str, PendingActivityInfo]:
    resp = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=NS, execution=ex(wf_id))
    )
    return {p.activity_id: p for p in resp.pending_activities}


async def pending_one(client: Client, wf_id: str, act_id: str = "a1") -> PendingActivityInfo:
    acts = await pending(client, wf_id)
    assert act_id in acts, f"no pending activity {act_id} in {list(acts)}"
    return acts[act_id]


async def search_attributes(client: Client, wf_id: str) -> dict[str, Any]:
    resp = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=NS, execution=ex(wf_id))
    )
    fields = resp.workflow_execution_info.search_attributes.indexed_fields
    conv = PayloadConverter.default
    return {k: conv.from_payloads([v])[0] for k, v in fields.items()}


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last value: {last!r}")
        await asyncio.sleep(0.1)


async def wait_state(
    client: Client, wf_id: str, state: int, act_id: str = "a1", attempt: Optional[int] = None, timeout: float = 10.0
) -> PendingActivityInfo:
    async def check():
        acts = await pending(client, wf_id)
        p = acts.get(act_id)
        if p is not None and p.state == state and (attempt is None or p.attempt == attempt):
            return p
        return None

    return await eventually(
        check, f"activity {act_id} of {wf_id} in {S.Name(state)} (attempt {attempt})", timeout
    )


async def history_types(handle: WorkflowHandle) -> list[int]:
    return [e.event_type for e in (await handle.fetch_history()).events]


async def poll_task(
    client: Client, task_queue: str, seconds: float = 15.0
) -> Optional[PollActivityTaskQueueResponse]:
    """A raw activity poll with a gRPC deadline (the server answers empty before it);
    None when no task came."""
    try:
        resp = await client.workflow_service.poll_activity_task_queue(
            PollActivityTaskQueueRequest(
                namespace=NS, task_queue=TaskQueue(name=task_queue), identity="raw-worker"
            ),
            timeout=timedelta(seconds=seconds),
        )
    except RPCError as e:
        if e.status == RPCStatusCode.DEADLINE_EXCEEDED:
            return None
        raise
    return resp if resp.task_token else None


async def must_poll(client: Client, task_queue: str, seconds: float = 15.0) -> PollActivityTaskQueueResponse:
    task = await poll_task(client, task_queue, seconds)
    assert task is not None, f"no activity task on {task_queue} within {seconds}s"
    return task


async def start_one(client: Client, spec: ActSpec, wf_tq: str, prefix: str) -> WorkflowHandle:
    return await client.start_workflow(ActOpsOne.run, spec, id=unique(prefix), task_queue=wf_tq)


async def terminate_quietly(handle: WorkflowHandle) -> None:
    try:
        await handle.terminate("test cleanup")
    except RPCError:
        pass


def ts(p_time) -> datetime:
    return p_time.ToDatetime(tzinfo=timezone.utc)


def pause(client: Client, wf_id: str, **kw):
    return client.workflow_service.pause_activity(PauseActivityRequest(namespace=NS, execution=ex(wf_id), **kw))


def unpause(client: Client, wf_id: str, **kw):
    return client.workflow_service.unpause_activity(UnpauseActivityRequest(namespace=NS, execution=ex(wf_id), **kw))


def reset(client: Client, wf_id: str, **kw):
    return client.workflow_service.reset_activity(ResetActivityRequest(namespace=NS, execution=ex(wf_id), **kw))


def update_options(client: Client, wf_id: str, options: ActivityOptions, paths: list[str], **kw):
    return client.workflow_service.update_activity_options(
        UpdateActivityOptionsRequest(
            namespace=NS,
            execution=ex(wf_id),
            activity_options=options,
            update_mask=FieldMask(paths=paths),
            **kw,
        )
    )


# ---------------------------------------------------------------- pause / unpause


async def test_pause_scheduled_activity_holds_dispatch_until_unpause(client, task_queue):
    act_tq = task_queue + "-act"
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("OpsQuick", act_tq), task_queue, "pause-sched")
        wf_id = handle.id
        await wait_state(client, wf_id, S.PENDING_ACTIVITY_STATE_SCHEDULED)
        before_events = await history_types(handle)

        before = datetime.now(timezone.utc)
        resp = await pause(client, wf_id, id="a1", identity="ops-tester", reason="maintenance window")
        after = datetime.now(timezone.utc)
        assert resp.ByteSize() == 0

        p = await pending_one(client, wf_id)
        assert p.state == S.PENDING_ACTIVITY_STATE_PAUSED
        assert p.paused is True
        assert p.attempt == 1
        assert p.pause_info.manual.identity == "ops-tester"
        assert p.pause_info.manual.reason == "maintenance window"
        assert before - timedelta(seconds=1) <= ts(p.pause_info.pause_time) <= after + timedelta(seconds=1)
        # Pausing writes no history event.
        assert await history_types(handle) == before_events
        # The workflow is searchable by what is paused.
        assert (await search_attributes(client, wf_id)).get("TemporalPauseInfo") == [
            "property:activityType=OpsQuick"
        ]

        # A worker for the activity gets nothing while it is paused.
        async with new_worker(client, act_tq, activities=[ops_quick]):
            await asyncio.sleep(2.0)
            assert wf_id not in STARTS
            p = await pending_one(client, wf_id)
            assert p.state == S.PENDING_ACTIVITY_STATE_PAUSED

            await unpause(client, wf_id, id="a1", identity="ops-tester")
            result = await asyncio.wait_for(handle.result(), timeout=15)

    assert result == "quick on attempt 1"
    assert STARTS[wf_id] == [(1, [])]
    assert "TemporalPauseInfo" not in await search_attributes(client, wf_id)
    types = await history_types(handle)
    assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 1
    assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED) == 1
    assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 1


async def test_pause_running_activity_sdk_sees_pause_and_retry_waits(client, task_queue):
    act_tq = task_queue + "-act"
    spec = ActSpec("OpsHeartbeater", act_tq, heartbeat=1.0, initial_interval=0.2)
    async with new_worker(client, task_queue, [ActOpsOne]), new_worker(
        client, act_tq, activities=[ops_heartbeater]
    ):
        handle = await start_one(client, spec, task_queue, "pause-running")
        wf_id = handle.id
        await wait_state(client, wf_id, S.PENDING_ACTIVITY_STATE_STARTED)
        await eventually(lambda: _has_heartbeat(client, wf_id), "a first heartbeat")

        await pause(client, wf_id, id="a1", reason="stop it")
        p = await pending_one(client, wf_id)
        # Still running on the worker: the pause is only requested (unless the
        # worker's next heartbeat already came back and failed the attempt).
        assert (p.state, p.attempt) in {
            (S.PENDING_ACTIVITY_STATE_PAUSE_REQUESTED, 1),
            (S.PENDING_ACTIVITY_STATE_PAUSED, 2),
        }
        assert p.paused is True
        assert p.pause_info.manual.reason == "stop it"
        assert p.pause_info.manual.identity == ""

        # The next heartbeat answers activity_paused: the SDK cancels the activity
        # and fails the attempt; the attempt is counted but no retry is dispatched.
        p = await wait_state(client, wf_id, S.PENDING_ACTIVITY_STATE_PAUSED, attempt=2)
        assert [(a, d.paused, d.reset, d.cancel_requested) for a, d in CANCELS[wf_id]] == [
            (1, True, False, False)
        ]
        assert p.paused is True
        assert p.last_failure.message == "Unhandled activity cancel error produced by activity pause"
        assert p.last_failure.application_failure_info.type == "ActivityPause"
        kept_details = decode(p.heartbeat_details)
        assert kept_details and kept_details[0].startswith("1:")
        await asyncio.sleep(1.5)  # 0.2 s retry interval: would have retried by now
        assert [a for a, _ in STARTS[wf_id]] == [1]
        assert (await pending_one(client, wf_id)).state == S.PENDING_ACTIVITY_STATE_PAUSED

        RELEASED.add(wf_id)
        await unpause(client, wf_id, id="a1")
        result = await asyncio.wait_for(handle.result(), timeout=15)

    assert result == "done on attempt 2"
    # Attempt 2 got the heartbeat details attempt 1 left.
    assert STARTS[wf_id] == [(1, []), (2, kept_details)]
    history = (await handle.fetch_history()).events
    started = [e.activity_task_started_event_attributes for e in history
               if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert [s.attempt for s in started] == [2]
    # Unpause forgets the last failure: the started event carries none.
    assert not started[0].HasField("last_failure")


async def _has_heartbeat(client: Client, wf_id: str) -> bool:
    p = (await pending(client, wf_id)).get("a1")
    return p is not None and len(p.heartbeat_details.payloads) > 0


async def test_heartbeat_flags_and_completion_while_paused(client, task_queue):
    act_tq = task_queue + "-act"
    ws = client.workflow_service
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("RawAct", act_tq, heartbeat=10.0), task_queue, "pause-raw")
        wf_id = handle.id
        task = await must_poll(client, act_tq)
        assert task.attempt == 1

        hb = await ws.record_activity_task_heartbeat(
            RecordActivityTaskHeartbeatRequest(namespace=NS, task_token=task.task_token, details=json_payloads("d1"))
        )
        assert (hb.cancel_requested, hb.activity_paused, hb.activity_reset) == (False, False, False)

        await pause(client, wf_id, id="a1")
        hb = await ws.record_activity_task_heartbeat(
            RecordActivityTaskHeartbeatRequest(namespace=NS, task_token=task.task_token, details=json_payloads("d2"))
        )
        assert (hb.cancel_requested, hb.activity_paused, hb.activity_reset) == (False, True, False)
        p = await pending_one(client, wf_id)
        assert p.state == S.PENDING_ACTIVITY_STATE_PAUSE_REQUESTED
        assert decode(p.heartbeat_details) == ["d2"]  # heartbeats are still recorded

        # Completing while paused completes the activity as usual.
        await ws.respond_activity_task_completed(
            RespondActivityTaskCompletedRequest(namespace=NS, task_token=task.task_token, result=json_payloads("finished"))
        )
        assert await asyncio.wait_for(handle.result(), timeout=15) == "finished"

    types = await history_types(handle)
    assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 1
    assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED) == 0


async def test_failure_while_paused_counts_attempt_and_unpause_resets_attempts(client, task_queue):
    act_tq = task_queue + "-act"
    ws = client.workflow_service
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("RawAct", act_tq), task_queue, "pause-fail")
        wf_id = handle.id
        task = await must_poll(client, act_tq)
        await pause(client, wf_id, id="a1")
        await ws.respond_activity_task_failed(fail_request(task.task_token, "boom 1"))

        p = await pending_one(client, wf_id)
        assert p.state == S.PENDING_ACTIVITY_STATE_PAUSED
        assert p.attempt == 2
        assert p.last_failure.message == "boom 1"
        # The 0.2 s retry is not dispatched while paused.
        assert await poll_task(client, act_tq, 3) is None

        await ws.unpause_activity(UnpauseActivityRequest(namespace=NS, execution=ex(wf_id), id="a1", reset_attempts=True))
        p = await pending_one(client, wf_id)
        assert p.paused is False
        assert not p.HasField("pause_info")
        assert p.attempt == 1
        task = await must_poll(client, act_tq)
        assert task.attempt == 1
        # Unpausing an activity that is not paused is a no-op.
        await unpause(client, wf_id, id="a1")
        assert (await pending_one(client, wf_id)).state == S.PENDING_ACTIVITY_STATE_STARTED
        await ws.respond_activity_task_completed(
            RespondActivityTaskCompletedRequest(namespace=NS, task_token=task.task_token, result=json_payloads(1))
        )
        assert await asyncio.wait_for(handle.result(), timeout=15) == 1


async def test_last_attempt_failing_while_paused_does_not_fail_the_activity(client, task_queue):
    act_tq = task_queue + "-act"
    ws = client.workflow_service
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("RawAct", act_tq, maximum_attempts=2), task_queue, "pause-last")
        wf_id = handle.id
        task = await must_poll(client, act_tq)
        await ws.respond_activity_task_failed(fail_request(task.task_token, "boom 1"))
        task = await must_poll(client, act_tq)
        assert task.attempt == 2

        await pause(client, wf_id, id="a1")
        await ws.respond_activity_task_failed(fail_request(task.task_token, "boom 2"))
        p = await pending_one(client, wf_id)
        assert p.state == S.PENDING_ACTIVITY_STATE_PAUSED
        assert (p.attempt, p.maximum_attempts) == (3, 2)
        assert p.last_failure.message == "boom 2"
        await asyncio.sleep(1.0)
        assert (await handle.describe()).status.name == "RUNNING"
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED not in await history_types(handle)

        # Unpaused, it runs once more, as attempt 3; that failure ends it.
        await unpause(client, wf_id, id="a1")
        task = await must_poll(client, act_tq)
        assert task.attempt == 3
        await ws.respond_activity_task_failed(fail_request(task.task_token, "boom 3"))
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), timeout=15)

    cause = failed.value.cause
    assert isinstance(cause, ActivityError)
    assert cause.retry_state == RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED
    assert cause.cause is not None and cause.cause.message == "boom 3"


async def test_activity_timeouts_wait_while_paused(client, task_queue):
    act_tq = task_queue + "-act"
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("RawAct", act_tq, start_to_close=2.0), task_queue, "pause-timeout")
        wf_id = handle.id
        await must_poll(client, act_tq)  # attempt 1 starts and is never answered
        await pause(client, wf_id, id="a1")
        await asyncio.sleep(3.5)
        p = await pending_one(client, wf_id)
        # The 2 s start-to-close timeout has not fired.
        assert p.state == S.PENDING_ACTIVITY_STATE_PAUSE_REQUESTED
        assert p.attempt == 1
        assert not p.HasField("last_failure")

        # Unpaused, the overdue timeout fires at once and attempt 2 is scheduled.
        await unpause(client, wf_id, id="a1")
        p = await wait_state(client, wf_id, S.PENDING_ACTIVITY_STATE_SCHEDULED, attempt=2, timeout=5)
        assert p.last_failure.message == "activity StartToClose timeout"
        assert p.last_failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
        await terminate_quietly(handle)


async def test_pause_in_backoff_then_unpause_dispatches_at_once(client, task_queue):
    act_tq = task_queue + "-act"
    ws = client.workflow_service
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("RawAct", act_tq, initial_interval=60.0), task_queue, "pause-backoff")
        wf_id = handle.id
        task = await must_poll(client, act_tq)
        await ws.respond_activity_task_failed(fail_request(task.task_token, "boom 1"))
        p = await pending_one(client, wf_id)
        assert p.state == S.PENDING_ACTIVITY_STATE_SCHEDULED and p.attempt == 2
        assert ts(p.next_attempt_schedule_time) > datetime.now(timezone.utc) + timedelta(seconds=50)

        await pause(client, wf_id, id="a1")
        p = await pending_one(client, wf_id)
        assert p.state == S.PENDING_ACTIVITY_STATE_PAUSED and p.attempt == 2
        assert not p.HasField("next_attempt_schedule_time")

        started = time.monotonic()
        await unpause(client, wf_id, id="a1")
        p = await pending_one(client, wf_id)
        assert (p.state, p.attempt, p.paused) == (S.PENDING_ACTIVITY_STATE_SCHEDULED, 2, False)
        assert not p.HasField("last_failure")  # unpause forgets it
        task = await must_poll(client, act_tq, 10)
        assert task.attempt == 2
        assert time.monotonic() - started < 8, "unpause must not wait for the 60 s backoff"
        await terminate_quietly(handle)


async def test_unpause_with_jitter_schedules_within_jitter(client, task_queue):
    act_tq = task_queue + "-act"
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("RawAct", act_tq), task_queue, "unpause-jitter")
        wf_id = handle.id
        await wait_state(client, wf_id, S.PENDING_ACTIVITY_STATE_SCHEDULED)
        await pause(client, wf_id, id="a1")

        before = datetime.now(timezone.utc)
        await unpause(client, wf_id, id="a1", jitter=dur(3))
        p = await pending_one(client, wf_id)
        assert p.state in (S.PENDING_ACTIVITY_STATE_SCHEDULED, S.PENDING_ACTIVITY_STATE_STARTED)
        assert p.paused is False
        scheduled = ts(p.scheduled_time)
        assert before - timedelta(seconds=1) <= scheduled <= before + timedelta(seconds=4), (before, scheduled)

        task = await must_poll(client, act_tq, 10)
        assert task.attempt == 1
        # Never dispatched before the time the jitter picked.
        assert datetime.now(timezone.utc) >= scheduled - timedelta(milliseconds=500)
        await terminate_quietly(handle)


async def test_pause_and_unpause_by_type_and_unpause_all(client, task_queue):
    act_tq = task_queue + "-act"
    async with new_worker(client, task_queue, [ActOpsThree]):
        handle = await client.start_workflow(
            ActOpsThree.run, act_tq, id=unique("pause-type"), task_queue=task_queue
        )
        wf_id = handle.id
        await eventually(lambda: _count_pending(client, wf_id, 3), "three pending activities")

        await pause(client, wf_id, type="OpsTypeA", identity="typer", reason="by type")
        acts = await pending(client, wf_id)
        assert {k: S.Name(p.state) for k, p in acts.items()} == {
            "a1": "PENDING_ACTIVITY_STATE_PAUSED",
            "a2": "PENDING_ACTIVITY_STATE_PAUSED",
            "b1": "PENDING_ACTIVITY_STATE_SCHEDULED",
        }
        assert acts["a1"].pause_info == acts["a2"].pause_info
        assert acts["a1"].pause_info.manual.identity == "typer"
        assert (await search_attributes(client, wf_id))["TemporalPauseInfo"] == [
            "property:activityType=OpsTypeA"
        ]

        # Pausing a paused activity again is accepted and changes nothing.
        await pause(client, wf_id, id="a1", identity="someone else", reason="again")
        assert (await pending_one(client, wf_id, "a1")).pause_info == acts["a1"].pause_info

        await pause(client, wf_id, id="b1")
        assert sorted((await search_attributes(client, wf_id))["TemporalPauseInfo"]) == [
            "property:activityType=OpsTypeA",
            "property:activityType=OpsTypeB",
        ]

        await unpause(client, wf_id, type="OpsTypeB")
        acts = await pending(client, wf_id)
        assert [k for k, p in sorted(acts.items()) if p.paused] == ["a1", "a2"]

        await unpause(client, wf_id, unpause_all=True)
        acts = await pending(client, wf_id)
        assert all(not p.paused and p.state == S.PENDING_ACTIVITY_STATE_SCHEDULED for p in acts.values())
        assert "TemporalPauseInfo" not in await search_attributes(client, wf_id)
        await terminate_quietly(handle)


async def _count_pending(client: Client, wf_id: str, n: int) -> bool:
    return len(await pending(client, wf_id)) == n


# ---------------------------------------------------------------- reset


async def test_reset_in_backoff_restarts_attempt_one_now(client, task_queue):
    act_tq = task_queue + "-act"
    ws = client.workflow_service
    async with new_worker(client, task_queue, [ActOpsOne]):
        handles = []
        for clear in (False, True):
            handle = await start_one(client, ActSpec("RawAct", act_tq, initial_interval=60.0), task_queue, "reset-backoff")
            task = await must_poll(client, act_tq)
            await ws.record_activity_task_heartbeat(
                RecordActivityTaskHeartbeatRequest(namespace=NS, task_token=task.task_token, details=json_payloads("progress"))
            )
            await ws.respond_activity_task_failed(fail_request(task.task_token, "boom 1"))
            assert (await pending_one(client, handle.id)).attempt == 2

            started = time.monotonic()
            await reset(client, handle.id, id="a1", reset_heartbeat=clear)
            p = await pending_one(client, handle.id)
            assert p.attempt == 1
            assert p.state in (S.PENDING_ACTIVITY_STATE_SCHEDULED, S.PENDING_ACTIVITY_STATE_STARTED)
            assert not p.HasField("next_attempt_schedule_time")

            task = await must_poll(client, act_tq, 10)
            assert time.monotonic() - started < 8, "reset must not wait for the 60 s backoff"
            assert task.attempt == 1
            assert task.workflow_execution.workflow_id == handle.id
            assert decode(task.heartbeat_details) == ([] if clear else ["progress"])
            handles.append(handle)
        for handle in handles:
            await terminate_quietly(handle)


async def test_reset_running_activity_sdk_sees_reset(client, task_queue):
    act_tq = task_queue + "-act"
    spec = ActSpec("OpsHeartbeater", act_tq, heartbeat=1.0, initial_interval=0.2)
    async with new_worker(client, task_queue, [ActOpsOne]), new_worker(
        client, act_tq, activities=[ops_heartbeater]
    ):
        handle = await start_one(client, spec, task_queue, "reset-running")
        wf_id = handle.id
        await wait_state(client, wf_id, S.PENDING_ACTIVITY_STATE_STARTED)
        await eventually(lambda: _has_heartbeat(client, wf_id), "a first heartbeat")

        await reset(client, wf_id, id="a1", reset_heartbeat=True)

        await eventually(lambda: _started_attempts(wf_id, 2), "attempt 2 after the reset")
        assert [(a, d.reset, d.paused, d.cancel_requested) for a, d in CANCELS[wf_id]] == [
            (1, True, False, False)
        ]
        RELEASED.add(wf_id)
        result = await asyncio.wait_for(handle.result(), timeout=15)

    assert result == "done on attempt 2"
    # reset_heartbeat: the next attempt starts without attempt 1's details.
    assert STARTS[wf_id] == [(1, []), (2, [])]
    history = (await handle.fetch_history()).events
    started = [e.activity_task_started_event_attributes for e in history
               if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert [s.attempt for s in started] == [2]
    assert started[0].last_failure.message == "Unhandled activity cancel error produced by activity reset"
    assert started[0].last_failure.application_failure_info.type == "ActivityReset"


async def _started_attempts(wf_id: str, n: int) -> bool:
    return len(STARTS.get(wf_id, [])) >= n


async def test_reset_running_attempt_heartbeat_reports_reset(client, task_queue):
    act_tq = task_queue + "-act"
    ws = client.workflow_service
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("RawAct", act_tq, heartbeat=10.0), task_queue, "reset-raw")
        wf_id = handle.id
        task = await must_poll(client, act_tq)
        assert task.attempt == 1
        await reset(client, wf_id, id="a1")
        for _ in range(2):  # the flag stays set for the running attempt
            hb = await ws.record_activity_task_heartbeat(
                RecordActivityTaskHeartbeatRequest(namespace=NS, task_token=task.task_token)
            )
            assert (hb.cancel_requested, hb.activity_paused, hb.activity_reset) == (False, False, True)
        assert (await pending_one(client, wf_id)).state == S.PENDING_ACTIVITY_STATE_STARTED

        # The running attempt may still finish.
        await ws.respond_activity_task_completed(
            RespondActivityTaskCompletedRequest(namespace=NS, task_token=task.task_token, result=json_payloads("ok"))
        )
        assert await asyncio.wait_for(handle.result(), timeout=15) == "ok"


async def test_reset_running_later_attempt_invalidates_its_task_token(client, task_queue):
    """A running attempt > 1 keeps running on the worker, but the pending activity's
    attempt is 1 now: calls with the attempt's task token are NOT_FOUND, calls by
    activity id still reach it."""
    act_tq = task_queue + "-act"
    ws = client.workflow_service
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("RawAct", act_tq, heartbeat=30.0), task_queue, "reset-later")
        wf_id = handle.id
        task = await must_poll(client, act_tq)
        await ws.respond_activity_task_failed(fail_request(task.task_token, "boom 1"))
        task = await must_poll(client, act_tq)
        assert task.attempt == 2

        await reset(client, wf_id, id="a1")
        p = await pending_one(client, wf_id)
        assert p.state == S.PENDING_ACTIVITY_STATE_STARTED
        assert p.attempt == 1

        err = await expect_error(ws.record_activity_task_heartbeat(
            RecordActivityTaskHeartbeatRequest(namespace=NS, task_token=task.task_token)
        ))
        assert_error(
            err, RPCStatusCode.NOT_FOUND,
            "invalid activityID or activity already timed out or invoking workflow is completed",
        )
        err = await expect_error(ws.respond_activity_task_completed(
            RespondActivityTaskCompletedRequest(namespace=NS, task_token=task.task_token)
        ))
        assert err.status == RPCStatusCode.NOT_FOUND

        hb = await ws.record_activity_task_heartbeat_by_id(
            RecordActivityTaskHeartbeatByIdRequest(namespace=NS, workflow_id=wf_id, activity_id="a1")
        )
        assert hb.activity_reset is True
        await ws.respond_activity_task_completed_by_id(
            RespondActivityTaskCompletedByIdRequest(
                namespace=NS, workflow_id=wf_id, activity_id="a1", result=json_payloads("by id")
            )
        )
        assert await asyncio.wait_for(handle.result(), timeout=15) == "by id"


async def test_reset_paused_activity_keep_paused_and_restore_options(client, task_queue):
    act_tq = task_queue + "-act"
    ws = client.workflow_service
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("RawAct", act_tq, start_to_close=60, heartbeat=30), task_queue, "reset-paused")
        wf_id = handle.id
        task = await must_poll(client, act_tq)
        await ws.record_activity_task_heartbeat(
            RecordActivityTaskHeartbeatRequest(namespace=NS, task_token=task.task_token, details=json_payloads(42))
        )
        await pause(client, wf_id, id="a1", reason="hold")
        await ws.respond_activity_task_failed(fail_request(task.task_token, "boom 1"))
        await update_options(client, wf_id, ActivityOptions(start_to_close_timeout=dur(9)), ["start_to_close_timeout"], id="a1")
        p = await pending_one(client, wf_id)
        assert p.state == S.PENDING_ACTIVITY_STATE_PAUSED and p.attempt == 2
        # A start-to-close below the heartbeat timeout lowers the heartbeat timeout too.
        assert p.activity_options.start_to_close_timeout.ToSeconds() == 9
        assert p.activity_options.heartbeat_timeout.ToSeconds() == 9
        pause_info = p.pause_info

        await reset(client, wf_id, id="a1", keep_paused=True, reset_heartbeat=True, restore_original_options=True)
        p = await pending_one(client, wf_id)
        assert p.state == S.PENDING_ACTIVITY_STATE_PAUSED
        assert p.paused is True and p.pause_info == pause_info
        assert p.attempt == 1
        assert p.activity_options.start_to_close_timeout.ToSeconds() == 60
        assert p.activity_options.heartbeat_timeout.ToSeconds() == 30
        assert await poll_task(client, act_tq, 3) is None

        await reset(client, wf_id, id="a1", reset_heartbeat=True)
        p = await pending_one(client, wf_id)
        assert p.paused is False and not p.HasField("pause_info")
        assert p.attempt == 1
        assert len(p.heartbeat_details.payloads) == 0
        task = await must_poll(client, act_tq, 10)
        assert task.attempt == 1
        assert decode(task.heartbeat_details) == []
        await terminate_quietly(handle)


# ---------------------------------------------------------------- update options


async def test_update_options_response_describe_and_masks(client, task_queue):
    act_tq = task_queue + "-act"
    async with new_worker(client, task_queue, [ActOpsThree]):
        handle = await client.start_workflow(
            ActOpsThree.run, act_tq, id=unique("update-opts"), task_queue=task_queue
        )
        wf_id = handle.id
        await eventually(lambda: _count_pending(client, wf_id, 3), "three pending activities")
        full = ActivityOptions(
            task_queue=TaskQueue(name=act_tq + "-other"),
            schedule_to_close_timeout=dur(100),
            schedule_to_start_timeout=dur(50),
            start_to_close_timeout=dur(20),
            heartbeat_timeout=dur(4),
            retry_policy=RetryPolicyProto(
                initial_interval=dur(2), backoff_coefficient=3.0, maximum_interval=dur(60),
                maximum_attempts=7, non_retryable_error_types=["Fatal"],
            ),
            priority=PriorityProto(priority_key=3),
        )

        resp = await update_options(
            client, wf_id, full,
            ["start_to_close_timeout", "heartbeatTimeout", "retry_policy.maximum_attempts", "bogus_path"],
            id="a1", identity="updater",
        )
        o = resp.activity_options
        assert o.task_queue.name == act_tq
        assert o.task_queue.kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL
        assert o.start_to_close_timeout.ToSeconds() == 20
        assert o.heartbeat_timeout.ToSeconds() == 4
        assert o.retry_policy.maximum_attempts == 7
        assert o.retry_policy.initial_interval.ToSeconds() == 1  # not in the mask
        assert o.retry_policy.backoff_coefficient == 1.0
        assert o.schedule_to_close_timeout.ToSeconds() == 0

        p = await pending_one(client, wf_id, "a1")
        d = p.activity_options
        assert (d.task_queue.name, d.task_queue.normal_name) == (act_tq, act_tq)
        assert d.start_to_close_timeout.ToSeconds() == 20
        assert d.heartbeat_timeout.ToSeconds() == 4
        assert d.retry_policy.maximum_attempts == 7
        assert p.maximum_attempts == 7
        assert p.state == S.PENDING_ACTIVITY_STATE_SCHEDULED

        # schedule_to_start follows a new schedule_to_close when unset.
        o = (await update_options(client, wf_id, full, ["schedule_to_close_timeout"], id="a2")).activity_options
        assert (o.schedule_to_close_timeout.ToSeconds(), o.schedule_to_start_timeout.ToSeconds()) == (100, 100)
        o = (await update_options(client, wf_id, full, ["retry_policy.backoff_coefficient"], id="a2")).activity_options
        assert o.retry_policy.backoff_coefficient == 3.0
        assert o.retry_policy.initial_interval.ToSeconds() == 1
        o = (await update_options(client, wf_id, full, ["retry_policy"], id="a2")).activity_options
        assert o.retry_policy == full.retry_policy
        o = (await update_options(client, wf_id, full, ["priority"], id="a2")).activity_options
        assert o.priority.priority_key == 3

        # restore_original: the options of the scheduled event come back.
        o = (await client.workflow_service.update_activity_options(
            UpdateActivityOptionsRequest(namespace=NS, execution=ex(wf_id), id="a2", restore_original=True)
        )).activity_options
        assert o.task_queue.name == act_tq
        assert o.start_to_close_timeout.ToSeconds() == 30
        assert o.schedule_to_close_timeout.ToSeconds() == 0
        assert o.retry_policy.initial_interval.ToSeconds() == 1
        assert o.retry_policy.maximum_attempts == 0
        assert (await pending_one(client, wf_id, "a2")).activity_options.start_to_close_timeout.ToSeconds() == 30

        # By type and match_all.
        await update_options(client, wf_id, ActivityOptions(start_to_close_timeout=dur(7)), ["start_to_close_timeout"], type="OpsTypeA")
        acts = await pending(client, wf_id)
        assert {k: p.activity_options.start_to_close_timeout.ToSeconds() for k, p in acts.items()} == {
            "a1": 7, "a2": 7, "b1": 30,
        }
        await update_options(client, wf_id, ActivityOptions(start_to_close_timeout=dur(8)), ["start_to_close_timeout"], match_all=True)
        acts = await pending(client, wf_id)
        assert {p.activity_options.start_to_close_timeout.ToSeconds() for p in acts.values()} == {8}

        # No history event for any of it.
        types = await history_types(handle)
        assert types[-1] == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 3
        await terminate_quietly(handle)


async def test_update_options_validation(client, task_queue):
    act_tq = task_queue + "-act"
    ws = client.workflow_service
    async with new_worker(client, task_queue, [ActOpsThree]):
        handle = await client.start_workflow(
            ActOpsThree.run, act_tq, id=unique("update-bad"), task_queue=task_queue
        )
        wf_id = handle.id
        await eventually(lambda: _count_pending(client, wf_id, 3), "three pending activities")

        cases = [
            (ActivityOptions(start_to_close_timeout=dur(-1)), "start_to_close_timeout",
             "invalid StartToCloseTimeout: negative duration"),
            (ActivityOptions(heartbeat_timeout=dur(-1)), "heartbeat_timeout",
             "invalid HeartbeatTimeout: negative duration"),
            (ActivityOptions(start_to_close_timeout=dur(0)), "start_to_close_timeout",
             "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. "
             "ActivityId=a1 ActivityType=OpsTypeA"),
            (ActivityOptions(retry_policy=RetryPolicyProto(backoff_coefficient=0.5)), "retry_policy.backoff_coefficient",
             "BackoffCoefficient cannot be less than 1 on retry policy."),
            (ActivityOptions(retry_policy=RetryPolicyProto(maximum_attempts=-1)), "retry_policy.maximum_attempts",
             "MaximumAttempts cannot be negative on retry policy."),
            (ActivityOptions(retry_policy=RetryPolicyProto(initial_interval=dur(-1))), "retry_policy.initial_interval",
             "invalid InitialInterval set on retry policy: negative duration"),
            (ActivityOptions(retry_policy=RetryPolicyProto(maximum_interval=dur(0.001))), "retry_policy.maximum_interval",
             "MaximumInterval cannot be less than InitialInterval on retry policy."),
            (ActivityOptions(task_queue=TaskQueue(name="")), "task_queue.name", "missing task queue name"),
            (ActivityOptions(), "task_queue.name", "TaskQueue is not provided"),
        ]
        for options, path, message in cases:
            err = await expect_error(update_options(client, wf_id, options, [path], id="a1"))
            assert_error(err, RPCStatusCode.INVALID_ARGUMENT, message, [])

        def req(**kw):
            return UpdateActivityOptionsRequest(namespace=NS, execution=ex(wf_id), **kw)

        opts = ActivityOptions(start_to_close_timeout=dur(5))
        mask = FieldMask(paths=["start_to_close_timeout"])
        for request, message in [
            (req(id="a1", update_mask=mask), "ActivityOptions are not provided"),
            (req(id="a1", activity_options=opts), "UpdateMask is not provided"),
            (req(activity_options=opts, update_mask=mask), "Either Activity.Id or Activity.Type should be set on request."),
            (req(id="a1", activity_options=opts, update_mask=mask, restore_original=True),
             "Both UpdateMask and RestoreOriginal are provided"),
        ]:
            assert_error(await expect_error(ws.update_activity_options(request)), RPCStatusCode.INVALID_ARGUMENT, message, [])
        for request in [req(id="nope", activity_options=opts, update_mask=mask),
                        req(type="NoSuchType", activity_options=opts, update_mask=mask)]:
            assert_error(await expect_error(ws.update_activity_options(request)), RPCStatusCode.NOT_FOUND, NO_PENDING, [NOT_FOUND_DETAIL])

        # Nothing changed.
        p = await pending_one(client, wf_id, "a1")
        assert p.activity_options.start_to_close_timeout.ToSeconds() == 30
        assert p.activity_options.task_queue.name == act_tq
        await terminate_quietly(handle)


async def test_update_task_queue_moves_a_waiting_activity(client, task_queue):
    act_tq = task_queue + "-act"
    moved_tq = task_queue + "-moved"
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("OpsQuick", act_tq), task_queue, "update-tq")
        wf_id = handle.id
        await wait_state(client, wf_id, S.PENDING_ACTIVITY_STATE_SCHEDULED)
        resp = await update_options(client, wf_id, ActivityOptions(task_queue=TaskQueue(name=moved_tq)), ["task_queue.name"], id="a1")
        assert resp.activity_options.task_queue.name == moved_tq
        p = await pending_one(client, wf_id)
        assert (p.activity_options.task_queue.name, p.activity_options.task_queue.normal_name) == (moved_tq, moved_tq)

        async with new_worker(client, moved_tq, activities=[ops_quick]):
            assert await asyncio.wait_for(handle.result(), timeout=15) == "quick on attempt 1"

    history = (await handle.fetch_history()).events
    scheduled = [e.activity_task_scheduled_event_attributes for e in history
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert [s.task_queue.name for s in scheduled] == [act_tq]  # history keeps the original


async def test_update_heartbeat_timeout_applies_to_the_running_attempt(client, task_queue):
    act_tq = task_queue + "-act"
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("RawAct", act_tq, heartbeat=30.0), task_queue, "update-hb")
        wf_id = handle.id
        task = await must_poll(client, act_tq)
        assert task.heartbeat_timeout.ToSeconds() == 30
        await update_options(client, wf_id, ActivityOptions(heartbeat_timeout=dur(1)), ["heartbeat_timeout"], id="a1")
        p = await wait_state(client, wf_id, S.PENDING_ACTIVITY_STATE_SCHEDULED, attempt=2, timeout=8)
        assert p.last_failure.message == "activity Heartbeat timeout"
        task = await must_poll(client, act_tq)
        assert task.attempt == 2
        # The task still shows the scheduled event's timeout, but the server
        # enforces the new one: attempt 2 times out the same way.
        assert task.heartbeat_timeout.ToSeconds() == 30
        p = await wait_state(client, wf_id, S.PENDING_ACTIVITY_STATE_SCHEDULED, attempt=3, timeout=8)
        assert p.last_failure.message == "activity Heartbeat timeout"
        await terminate_quietly(handle)


async def test_update_retry_interval_reschedules_a_waiting_retry(client, task_queue):
    act_tq = task_queue + "-act"
    ws = client.workflow_service
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("RawAct", act_tq, initial_interval=60.0), task_queue, "update-retry")
        wf_id = handle.id
        task = await must_poll(client, act_tq)
        await ws.respond_activity_task_failed(fail_request(task.task_token, "boom 1"))
        p = await pending_one(client, wf_id)
        assert p.current_retry_interval.ToSeconds() == 60

        started = time.monotonic()
        await update_options(
            client, wf_id, ActivityOptions(retry_policy=RetryPolicyProto(initial_interval=dur(1))),
            ["retry_policy.initial_interval"], id="a1",
        )
        p = await pending_one(client, wf_id)
        assert p.activity_options.retry_policy.initial_interval.ToSeconds() == 1
        assert ts(p.next_attempt_schedule_time) - ts(p.last_attempt_complete_time) == timedelta(seconds=1)
        task = await must_poll(client, act_tq, 10)
        assert task.attempt == 2
        assert time.monotonic() - started < 8
        await terminate_quietly(handle)


# ---------------------------------------------------------------- errors


async def test_validation_errors_of_the_deprecated_rpcs(client, task_queue):
    act_tq = task_queue + "-act"
    ws = client.workflow_service
    async with new_worker(client, task_queue, [ActOpsThree]):
        handle = await client.start_workflow(
            ActOpsThree.run, act_tq, id=unique("op-errors"), task_queue=task_queue
        )
        wf_id = handle.id
        await eventually(lambda: _count_pending(client, wf_id, 3), "three pending activities")
        bad = RPCStatusCode.INVALID_ARGUMENT
        nf = RPCStatusCode.NOT_FOUND

        for call in (pause, unpause, reset):
            assert_error(await expect_error(call(client, wf_id, id="nope")), nf, NO_PENDING, [NOT_FOUND_DETAIL])
            assert_error(await expect_error(call(client, wf_id, type="NoSuchType")), nf, NO_PENDING, [NOT_FOUND_DETAIL])
            assert_error(await expect_error(call(client, wf_id)), bad,
                         "Either Activity.Id or Activity.Type should be set on request.", [])
            assert_error(await expect_error(call(client, "no-such-workflow", id="a1")), nf,
                         "workflow not found for ID: no-such-workflow", [NOT_FOUND_DETAIL])
            assert_error(await expect_error(call(client, "", id="a1")), bad, "WorkflowId is not set on request.", [])

        err = await expect_error(ws.pause_activity(PauseActivityRequest(namespace=NS, execution=ex(wf_id, "not-a-uuid"), id="a1")))
        assert_error(err, bad, "RunId is not valid UUID.", [])
        err = await expect_error(ws.pause_activity(PauseActivityRequest(namespace="no-such-namespace", execution=ex(wf_id), id="a1")))
        assert_error(err, nf, "Namespace no-such-namespace is not found.")

        # None of it changed anything.
        assert all(p.state == S.PENDING_ACTIVITY_STATE_SCHEDULED and not p.paused
                   for p in (await pending(client, wf_id)).values())

        await handle.terminate("done")
        closed = "workflow execution already completed"
        for call in (pause, unpause, reset):
            assert_error(await expect_error(call(client, wf_id, id="a1")), nf, closed, [NOT_FOUND_DETAIL])
        err = await expect_error(update_options(client, wf_id, ActivityOptions(start_to_close_timeout=dur(5)),
                                                ["start_to_close_timeout"], id="a1"))
        assert_error(err, nf, closed, [NOT_FOUND_DETAIL])


async def test_activity_execution_rpcs(client, task_queue):
    """The successors the CLI 1.9.1 calls: same effects, stricter validation."""
    act_tq = task_queue + "-act"
    ws = client.workflow_service
    async with new_worker(client, task_queue, [ActOpsThree]):
        handle = await client.start_workflow(
            ActOpsThree.run, act_tq, id=unique("exec-rpcs"), task_queue=task_queue
        )
        wf_id = handle.id
        await eventually(lambda: _count_pending(client, wf_id, 3), "three pending activities")
        bad = RPCStatusCode.INVALID_ARGUMENT
        nf = RPCStatusCode.NOT_FOUND

        await ws.pause_activity_execution(PauseActivityExecutionRequest(
            namespace=NS, workflow_id=wf_id, activity_id="a1", identity="exec-id", reason="exec-reason"))
        p = await pending_one(client, wf_id, "a1")
        assert p.state == S.PENDING_ACTIVITY_STATE_PAUSED
        assert (p.pause_info.manual.identity, p.pause_info.manual.reason) == ("exec-id", "exec-reason")
        err = await expect_error(ws.pause_activity_execution(PauseActivityExecutionRequest(
            namespace=NS, workflow_id=wf_id, activity_id="a1")))
        assert_error(err, RPCStatusCode.FAILED_PRECONDITION, "activity is already paused")

        await ws.unpause_activity_execution(UnpauseActivityExecutionRequest(namespace=NS, workflow_id=wf_id, activity_id="b1"))
        await ws.unpause_activity_execution(UnpauseActivityExecutionRequest(namespace=NS, workflow_id=wf_id, activity_id="a1"))
        assert not (await pending_one(client, wf_id, "a1")).paused
        await ws.reset_activity_execution(ResetActivityExecutionRequest(namespace=NS, workflow_id=wf_id, activity_id="a1"))

        resp = await ws.update_activity_execution_options(UpdateActivityExecutionOptionsRequest(
            namespace=NS, workflow_id=wf_id, activity_id="a1",
            activity_options=ActivityOptions(task_queue=TaskQueue(name="elsewhere"), heartbeat_timeout=dur(3)),
            update_mask=FieldMask(paths=["task_queue.name", "heartbeat_timeout"])))
        assert (resp.activity_options.task_queue.name, resp.activity_options.heartbeat_timeout.ToSeconds()) == ("elsewhere", 3)

        for path in ("bogus", "task_queue", "task_queue_name", "retry_policy.non_retryable_error_types"):
            err = await expect_error(ws.update_activity_execution_options(UpdateActivityExecutionOptionsRequest(
                namespace=NS, workflow_id=wf_id, activity_id="a1",
                activity_options=ActivityOptions(heartbeat_timeout=dur(3)), update_mask=FieldMask(paths=[path]))))
            assert_error(err, bad, f'unsupported update_mask path: "{path}"', [])
        err = await expect_error(ws.update_activity_execution_options(UpdateActivityExecutionOptionsRequest(
            namespace=NS, workflow_id=wf_id, activity_id="a1",
            activity_options=ActivityOptions(heartbeat_timeout=dur(3)), update_mask=FieldMask())))
        assert_error(err, bad, "UpdateMask must specify at least one path", [])

        for call, req in [
            (ws.pause_activity_execution, PauseActivityExecutionRequest),
            (ws.unpause_activity_execution, UnpauseActivityExecutionRequest),
            (ws.reset_activity_execution, ResetActivityExecutionRequest),
        ]:
            assert_error(await expect_error(call(req(namespace=NS, workflow_id=wf_id))), bad, "activity ID is required", [])
            assert_error(await expect_error(call(req(namespace=NS, workflow_id=wf_id, activity_id="nope"))),
                         nf, NO_PENDING, [NOT_FOUND_DETAIL])
            assert_error(await expect_error(call(req(namespace=NS, workflow_id=wf_id, activity_id="a1", run_id="zz"))),
                         bad, "invalid run id: must be a valid UUID", [])
            # No workflow id: a standalone activity, and there is none.
            assert_error(await expect_error(call(req(namespace=NS, activity_id="a1"))),
                         nf, "activity not found for ID: a1", [NOT_FOUND_DETAIL])

        await handle.terminate("done")
        err = await expect_error(ws.pause_activity_execution(PauseActivityExecutionRequest(
            namespace=NS, workflow_id=wf_id, activity_id="a2")))
        assert_error(err, nf, "workflow execution already completed", [NOT_FOUND_DETAIL])


# ---------------------------------------------------------------- CLI


class Cli:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.binary = temporal_bin()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        self.env["NO_COLOR"] = "1"

    def run_sync(self, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
        cmd = [self.binary, *args, "--address", self.server.address, "--color", "never"]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=self.env,
            stdin=subprocess.DEVNULL, timeout=CLI_TIMEOUT_S,
        )
        shown = " ".join(args)
        if expect_ok:
            assert proc.returncode == 0, (
                f"`temporal {shown}` exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        else:
            assert proc.returncode != 0, f"`temporal {shown}` should have failed\nstdout:\n{proc.stdout}"
        return proc

    async def run(self, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
        return await asyncio.to_thread(self.run_sync, *args, expect_ok=expect_ok)

    async def error(self, *args: str) -> str:
        proc = await self.run(*args, expect_ok=False)
        assert proc.stdout == "", proc.stdout
        return proc.stderr.strip()


@pytest.fixture(scope="module")
def cli(server: ServerProcess) -> Cli:
    return Cli(server)


def kv_lines(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^\s+(\S+)\s{2,}(.*?)\s*$", line)
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


async def test_cli_pause_and_unpause(client, task_queue, cli):
    act_tq = task_queue + "-act"
    async with new_worker(client, task_queue, [ActOpsThree]):
        handle = await client.start_workflow(
            ActOpsThree.run, act_tq, id=unique("cli-pause"), task_queue=task_queue
        )
        wf_id = handle.id
        await eventually(lambda: _count_pending(client, wf_id, 3), "three pending activities")

        out = await cli.run("activity", "pause", "--activity-id", "a1", "--workflow-id", wf_id,
                            "--identity", "cli-op", "--reason", "cli reason")
        assert (out.stdout, out.stderr) == ("", "")
        out = await cli.run("activity", "pause", "-a", "a2", "-w", wf_id, "-o", "json")
        assert out.stdout == ""
        acts = await pending(client, wf_id)
        assert acts["a1"].state == S.PENDING_ACTIVITY_STATE_PAUSED
        assert (acts["a1"].pause_info.manual.identity, acts["a1"].pause_info.manual.reason) == ("cli-op", "cli reason")
        # Without --identity the CLI sends its own.
        assert acts["a2"].pause_info.manual.identity.startswith("temporal-cli:")
        assert acts["a2"].pause_info.manual.reason == ""

        text = (await cli.run("workflow", "describe", "-w", wf_id)).stdout
        blocks = [kv_lines(b) for b in text.split("\n\n") if "ActivityId" in b]
        assert {b["ActivityId"]: b["State"] for b in blocks} == {"a1": "Paused", "a2": "Paused", "b1": "Scheduled"}

        assert await cli.error("activity", "pause", "-a", "a1", "-w", wf_id) == (
            "Error: unable to pause Activity: activity is already paused"
        )
        assert await cli.error("activity", "pause", "-a", "nope", "-w", wf_id) == (
            f"Error: unable to pause Activity: {NO_PENDING}"
        )
        assert await cli.error("activity", "pause", "-a", "a1", "-w", "no-such-workflow") == (
            "Error: unable to pause Activity: workflow not found for ID: no-such-workflow"
        )

        out = await cli.run("activity", "unpause", "-a", "a1", "-w", wf_id)
        assert (out.stdout, out.stderr) == ("", "")
        out = await cli.run("activity", "unpause", "-a", "b1", "-w", wf_id)  # not paused: fine
        assert out.stdout == ""
        acts = await pending(client, wf_id)
        assert [k for k, p in sorted(acts.items()) if p.paused] == ["a2"]
        assert await cli.error("activity", "unpause", "-a", "nope", "-w", wf_id) == (
            f"Error: unable to unpause an Activity: {NO_PENDING}"
        )
        assert await cli.error("activity", "unpause", "-a", "a2", "-w", wf_id, "--run-id", "not-a-uuid") == (
            "Error: unable to unpause an Activity: invalid run id: must be a valid UUID"
        )

        await handle.terminate("done")
        assert await cli.error("activity", "unpause", "-a", "a2", "-w", wf_id) == (
            "Error: unable to unpause an Activity: workflow execution already completed"
        )


async def test_cli_reset(client, task_queue, cli):
    act_tq = task_queue + "-act"
    ws = client.workflow_service
    async with new_worker(client, task_queue, [ActOpsOne]):
        handle = await start_one(client, ActSpec("RawAct", act_tq, initial_interval=60.0), task_queue, "cli-reset")
        wf_id = handle.id
        task = await must_poll(client, act_tq)
        await ws.record_activity_task_heartbeat(
            RecordActivityTaskHeartbeatRequest(namespace=NS, task_token=task.task_token, details=json_payloads("hb"))
        )
        await ws.respond_activity_task_failed(fail_request(task.task_token, "boom 1"))
        await cli.run("activity", "pause", "-a", "a1", "-w", wf_id)
        assert (await pending_one(client, wf_id)).attempt == 2

        text = (await cli.run("activity", "reset", "-a", "a1", "-w", wf_id, "--keep-paused")).stdout
        assert kv_lines(text) == {"KeepPaused": "true", "ServerResponse": "true"}
        p = await pending_one(client, wf_id)
        assert (p.state, p.attempt, p.paused) == (S.PENDING_ACTIVITY_STATE_PAUSED, 1, True)
        assert decode(p.heartbeat_details) == ["hb"]

        out = await cli.run("activity", "reset", "-a", "a1", "-w", wf_id, "--clear-heartbeat-details", "-o", "json")
        assert json.loads(out.stdout) == {"keepPaused": False}
        p = await pending_one(client, wf_id)
        assert p.paused is False and p.attempt == 1
        task = await must_poll(client, act_tq, 10)
        assert task.attempt == 1
        assert decode(task.heartbeat_details) == []

        assert await cli.error("activity", "reset", "-a", "nope", "-w", wf_id) == (
            f"Error: unable to reset an Activity: {NO_PENDING}"
        )
        assert await cli.error("activity", "reset", "-a", "a1", "-w", "no-such-workflow") == (
            "Error: unable to reset an Activity: workflow not found for ID: no-such-workflow"
        )
        await terminate_quietly(handle)


async def test_cli_update_options(client, task_queue, cli):
    act_tq = task_queue + "-act"
    async with new_worker(client, task_queue, [ActOpsThree]):
        handle = await client.start_workflow(
            ActOpsThree.run, act_tq, id=unique("cli-update"), task_queue=task_queue
        )
        wf_id = handle.id
        await eventually(lambda: _count_pending(client, wf_id, 3), "three pending activities")

        text = (await cli.run(
            "activity", "update-options", "-a", "a1", "-w", wf_id,
            "--start-to-close-timeout", "17s", "--retry-maximum-attempts", "9",
        )).stdout
        assert kv_lines(text) == {
            "TaskQueue": act_tq,
            "ScheduleToCloseTimeout": "0s",
            "ScheduleToStartTimeout": "0s",
            "StartToCloseTimeout": "17s",
            "HeartbeatTimeout": "0s",
            "StartDelay": "0s",
            "InitialInterval": "1s",
            "BackoffCoefficient": "1",
            "MaximumInterval": "1m40s",
            "MaximumAttempts": "9",
        }

        moved = act_tq + "-moved"
        out = await cli.run(
            "activity", "update-options", "-a", "a1", "-w", wf_id, "--task-queue", moved,
            "--schedule-to-close-timeout", "90s", "--heartbeat-timeout", "3s",
            "--retry-initial-interval", "2s", "--retry-maximum-interval", "8s",
            "--retry-backoff-coefficient", "1.5", "-o", "json",
        )
        assert json.loads(out.stdout) == {
            "TaskQueue": moved,
            "ScheduleToCloseTimeout": 90_000_000_000,
            "ScheduleToStartTimeout": 90_000_000_000,
            "StartToCloseTimeout": 17_000_000_000,
            "HeartbeatTimeout": 3_000_000_000,
            "StartDelay": 0,
            "InitialInterval": 2_000_000_000,
            "BackoffCoefficient": 1.5,
            "MaximumInterval": 8_000_000_000,
            "MaximumAttempts": 9,
        }
        d = (await pending_one(client, wf_id, "a1")).activity_options
        assert d.task_queue.name == moved
        assert (d.schedule_to_close_timeout.ToSeconds(), d.start_to_close_timeout.ToSeconds(), d.heartbeat_timeout.ToSeconds()) == (90, 17, 3)
        assert (d.retry_policy.initial_interval.ToSeconds(), d.retry_policy.maximum_interval.ToSeconds(),
                d.retry_policy.backoff_coefficient, d.retry_policy.maximum_attempts) == (2, 8, 1.5, 9)
        # The other activities are untouched.
        assert (await pending_one(client, wf_id, "a2")).activity_options.start_to_close_timeout.ToSeconds() == 30

        text = (await cli.run("activity", "update-options", "-a", "a1", "-w", wf_id, "--restore-original-options")).stdout
        kv = kv_lines(text)
        assert (kv["TaskQueue"], kv["StartToCloseTimeout"], kv["MaximumAttempts"]) == (act_tq, "30s", "0")

        assert await cli.error("activity", "update-options", "-a", "a1", "-w", wf_id) == (
            "Error: unable to update Activity options: UpdateMask must specify at least one path"
        )
        assert await cli.error("activity", "update-options", "-a", "a1", "-w", wf_id, "--retry-backoff-coefficient", "0.5") == (
            "Error: unable to update Activity options: BackoffCoefficient cannot be less than 1 on retry policy."
        )
        assert await cli.error("activity", "update-options", "-a", "nope", "-w", wf_id, "--heartbeat-timeout", "3s") == (
            f"Error: unable to update Activity options: {NO_PENDING}"
        )
        await handle.terminate("done")
        assert await cli.error("activity", "update-options", "-a", "a1", "-w", wf_id, "--heartbeat-timeout", "3s") == (
            "Error: unable to update Activity options: workflow execution already completed"
        )


async def test_closed_run_still_describes_the_activities_pending_at_close(client, task_queue):
    """A run closed (here terminated) while an activity waited: Describe still lists that
    activity, in the state it was in, as the real server keeps it."""
    from temporalio.api.enums.v1 import WorkflowExecutionStatus

    workflow_id = unique("closed-pending")
    async with new_worker(client, task_queue, workflows=[ActOpsOne]):
        handle = await client.start_workflow(
            ActOpsOne.run, ActSpec("OpsQuick", f"{task_queue}-nobody"), id=workflow_id, task_queue=task_queue
        )
        await wait_state(client, workflow_id, S.PENDING_ACTIVITY_STATE_SCHEDULED)
        await handle.terminate("done looking")
    d = await client.get_workflow_handle(workflow_id).describe()
    assert d.raw_description.workflow_execution_info.status == (
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED
    )
    [pending] = d.raw_description.pending_activities
    assert pending.activity_id == "a1"
    assert pending.state == S.PENDING_ACTIVITY_STATE_SCHEDULED
