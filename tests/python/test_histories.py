"""Event histories checked against the real Temporal server.

Each scenario is driven by a Python worker; afterwards the history
(GetWorkflowExecutionHistory) is reduced to its event types plus a few key
attributes (attempts, retry states, workflow task failure causes and the event
ids events refer to) and compared with ``golden/<scenario>.json``, recorded
against the real dev server.

Recording the goldens (only against the real server)::

    ENDURE_TEST_TARGET=temporal ENDURE_RECORD_GOLDEN=1 \\
        .venv/bin/python -m pytest tests/python/test_histories.py -q

Determinism: signals, cancellation and termination are sent only once the
workflow has reached its wait point (the history ends with
WorkflowTaskCompleted), so buffering timing cannot change the order. What
legitimately varies (workflow/run ids, timestamps, identities, task queue
names, payloads) is not recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from conftest import new_worker, target, unique

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
RECORD = os.environ.get("ENDURE_RECORD_GOLDEN", "").strip() not in ("", "0")

RESULT_TIMEOUT_S = 60

# Attributes recorded per event type (enums by name, ActivityType by name).
KEY_ATTRS: dict[str, list[str]] = {
    "WORKFLOW_EXECUTION_STARTED": ["attempt"],
    "WORKFLOW_TASK_SCHEDULED": ["attempt"],
    "WORKFLOW_TASK_STARTED": ["scheduled_event_id"],
    "WORKFLOW_TASK_COMPLETED": ["scheduled_event_id", "started_event_id"],
    "WORKFLOW_TASK_FAILED": ["scheduled_event_id", "started_event_id", "cause"],
    "WORKFLOW_TASK_TIMED_OUT": ["scheduled_event_id", "started_event_id"],
    "ACTIVITY_TASK_SCHEDULED": ["activity_type", "workflow_task_completed_event_id"],
    "ACTIVITY_TASK_STARTED": ["scheduled_event_id", "attempt"],
    "ACTIVITY_TASK_COMPLETED": ["scheduled_event_id", "started_event_id"],
    "ACTIVITY_TASK_FAILED": ["scheduled_event_id", "started_event_id", "retry_state"],
    "ACTIVITY_TASK_TIMED_OUT": [
        "scheduled_event_id",
        "started_event_id",
        "retry_state",
    ],
    "TIMER_STARTED": ["workflow_task_completed_event_id"],
    "TIMER_FIRED": ["started_event_id"],
    "WORKFLOW_EXECUTION_SIGNALED": ["signal_name"],
    "WORKFLOW_EXECUTION_COMPLETED": ["workflow_task_completed_event_id"],
    "WORKFLOW_EXECUTION_FAILED": ["retry_state", "workflow_task_completed_event_id"],
    "WORKFLOW_EXECUTION_CANCELED": ["workflow_task_completed_event_id"],
    "WORKFLOW_EXECUTION_TIMED_OUT": ["retry_state"],
}


def normalize(events) -> list[dict[str, Any]]:
    out = []
    for e in events:
        name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        rec: dict[str, Any] = {"event_id": e.event_id, "event_type": name}
        which = e.WhichOneof("attributes")
        attrs = getattr(e, which) if which else None
        for field in KEY_ATTRS.get(name, []):
            value = getattr(attrs, field)
            fd = attrs.DESCRIPTOR.fields_by_name[field]
            if fd.enum_type is not None:
                value = fd.enum_type.values_by_number[value].name
            elif field == "activity_type":
                value = value.name
            rec[field] = value
        out.append(rec)
    return out


def render(events: list[dict[str, Any]]) -> str:
    lines = []
    for e in events:
        extra = ", ".join(
            f"{k}={v}" for k, v in e.items() if k not in ("event_id", "event_type")
        )
        lines.append(f"  {e['event_id']:>3} {e['event_type']}" + (f" ({extra})" if extra else ""))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# activities and workflows

ACTIVITY_OPTS = dict(start_to_close_timeout=timedelta(seconds=30))


@activity.defn
async def greet(name: str) -> str:
    return f"hello {name}"


@activity.defn
async def flaky_once(name: str) -> str:
    if activity.info().attempt == 1:
        raise RuntimeError("transient failure on attempt 1")
    return f"ok {name} on attempt {activity.info().attempt}"


@activity.defn
async def reject_input(name: str) -> str:
    raise ApplicationError(f"input {name!r} is invalid", type="BadInput", non_retryable=True)


@activity.defn
async def cleanup(name: str) -> str:
    return f"cleaned {name}"


@workflow.defn
class OneActivity:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(greet, name, **ACTIVITY_OPTS)


@workflow.defn
class RetryOnce:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            flaky_once,
            name,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=2.0,
                maximum_attempts=5,
            ),
            **ACTIVITY_OPTS,
        )


@workflow.defn
class Sleeper:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return "woke up"


@workflow.defn
class AwaitSignal:
    def __init__(self) -> None:
        self.value: str | None = None

    @workflow.signal
    def deliver(self, value: str) -> None:
        self.value = value

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.value is not None)
        return f"got {self.value}"


@workflow.defn
class CancellableWithCleanup:
    @workflow.run
    async def run(self, name: str) -> str:
        try:
            await workflow.wait_condition(lambda: False)
        except asyncio.CancelledError:
            await workflow.execute_activity(cleanup, name, **ACTIVITY_OPTS)
            raise
        return "unreachable"


@workflow.defn
class WaitForever:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@workflow.defn
class NonRetryableActivity:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            reject_input,
            name,
            retry_policy=RetryPolicy(maximum_attempts=5),
            **ACTIVITY_OPTS,
        )


# Workflow ids whose first workflow task has already been failed on purpose.
FAILED_TASK_ONCE: set[str] = set()


@workflow.defn
class FailFirstTask:
    @workflow.run
    async def run(self) -> str:
        wf_id = workflow.info().workflow_id
        if wf_id not in FAILED_TASK_ONCE:
            FAILED_TASK_ONCE.add(wf_id)
            # Not a Temporal failure: the SDK fails the workflow TASK (cause
            # WORKFLOW_WORKER_UNHANDLED_FAILURE), the server retries it.
            raise RuntimeError("bug in workflow code, fixed on retry")
        return "recovered"


ALL_WORKFLOWS = [
    OneActivity,
    RetryOnce,
    Sleeper,
    AwaitSignal,
    CancellableWithCleanup,
    WaitForever,
    NonRetryableActivity,
    FailFirstTask,
]
ALL_ACTIVITIES = [greet, flaky_once, reject_input, cleanup]


# --------------------------------------------------------------------------
# scenario drivers: each starts a workflow, drives it to its end and returns
# the handle.


async def wait_for_wait_point(handle: WorkflowHandle, timeout: float = 30) -> None:
    """Until the first workflow task completed and nothing else happened."""
    deadline = time.monotonic() + timeout
    types: list[int] = []
    while time.monotonic() < deadline:
        history = await handle.fetch_history()
        types = [e.event_type for e in history.events]
        if len(types) >= 4 and types[-1] == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return
        await asyncio.sleep(0.1)
    pytest.fail(
        f"workflow {handle.id} did not reach its wait point: "
        f"{[EventType.Name(t) for t in types]}"
    )


async def scenario_one_activity(client: Client, tq: str) -> WorkflowHandle:
    handle = await client.start_workflow(
        OneActivity.run, "world", id=unique("h-one-activity"), task_queue=tq
    )
    assert await handle.result() == "hello world"
    return handle


async def scenario_activity_retry(client: Client, tq: str) -> WorkflowHandle:
    handle = await client.start_workflow(
        RetryOnce.run, "x", id=unique("h-retry"), task_queue=tq
    )
    assert await handle.result() == "ok x on attempt 2"
    return handle


async def scenario_timer(client: Client, tq: str) -> WorkflowHandle:
    handle = await client.start_workflow(
        Sleeper.run, 1.0, id=unique("h-timer"), task_queue=tq
    )
    assert await handle.result() == "woke up"
    return handle


async def scenario_signal_while_waiting(client: Client, tq: str) -> WorkflowHandle:
    handle = await client.start_workflow(
        AwaitSignal.run, id=unique("h-signal"), task_queue=tq
    )
    await wait_for_wait_point(handle)
    await handle.signal(AwaitSignal.deliver, "payload")
    assert await handle.result() == "got payload"
    return handle


async def scenario_cancel_with_cleanup(client: Client, tq: str) -> WorkflowHandle:
    handle = await client.start_workflow(
        CancellableWithCleanup.run, "resources", id=unique("h-cancel"), task_queue=tq
    )
    await wait_for_wait_point(handle)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()
    assert type(err.value.cause).__name__ == "CancelledError"
    return handle


async def scenario_terminate(client: Client, tq: str) -> WorkflowHandle:
    handle = await client.start_workflow(
        WaitForever.run, id=unique("h-terminate"), task_queue=tq
    )
    await wait_for_wait_point(handle)
    await handle.terminate(reason="test terminates it")
    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()
    assert type(err.value.cause).__name__ == "TerminatedError"
    return handle


async def scenario_non_retryable_activity_failure(
    client: Client, tq: str
) -> WorkflowHandle:
    handle = await client.start_workflow(
        NonRetryableActivity.run, "junk", id=unique("h-non-retryable"), task_queue=tq
    )
    with pytest.raises(WorkflowFailureError) as err:
        await handle.result()
    assert type(err.value.cause).__name__ == "ActivityError"
    return handle


async def scenario_workflow_task_failure(client: Client, tq: str) -> WorkflowHandle:
    handle = await client.start_workflow(
        FailFirstTask.run, id=unique("h-wft-failure"), task_queue=tq
    )
    assert await handle.result() == "recovered"
    return handle


SCENARIOS: dict[str, tuple[str, Callable[[Client, str], Awaitable[WorkflowHandle]]]] = {
    "one_activity": (
        "workflow runs one activity and returns its result",
        scenario_one_activity,
    ),
    "activity_retry": (
        "activity fails on attempt 1 and succeeds on attempt 2 (retries are "
        "not events: one Scheduled, one Started with attempt 2, one Completed)",
        scenario_activity_retry,
    ),
    "timer": ("workflow sleeps 1 s", scenario_timer),
    "signal_while_waiting": (
        "signal sent after the workflow reached wait_condition",
        scenario_signal_while_waiting,
    ),
    "cancel_with_cleanup": (
        "cancellation requested while waiting; the workflow runs a cleanup "
        "activity and ends canceled",
        scenario_cancel_with_cleanup,
    ),
    "terminate": ("terminated while waiting", scenario_terminate),
    "non_retryable_activity_failure": (
        "activity raises a non-retryable ApplicationError; the workflow fails",
        scenario_non_retryable_activity_failure,
    ),
    "workflow_task_failure": (
        "the first workflow task fails (unhandled exception in workflow "
        "code), the retried task succeeds",
        scenario_workflow_task_failure,
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_history_matches_golden(client, task_queue, scenario):
    if RECORD and target() != "temporal":
        pytest.fail(
            "ENDURE_RECORD_GOLDEN=1 records the goldens from the real server: "
            "set ENDURE_TEST_TARGET=temporal",
            pytrace=False,
        )
    description, drive = SCENARIOS[scenario]
    async with new_worker(client, task_queue, ALL_WORKFLOWS, ALL_ACTIVITIES):
        handle = await asyncio.wait_for(drive(client, task_queue), RESULT_TIMEOUT_S)
    history = await handle.fetch_history()
    got = normalize(history.events)

    # Structural invariant, independent of the golden: ids are 1..n.
    assert [e["event_id"] for e in got] == list(range(1, len(got) + 1))

    path = GOLDEN_DIR / f"{scenario}.json"
    if RECORD:
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "scenario": scenario,
                    "description": description,
                    "recorded_against": f"temporal dev server {info.server_version}",
                    "events": got,
                },
                indent=2,
            )
            + "\n"
        )
        return

    if not path.exists():
        pytest.fail(
            f"missing golden {path}: record it with ENDURE_TEST_TARGET=temporal "
            "ENDURE_RECORD_GOLDEN=1",
            pytrace=False,
        )
    expected = json.loads(path.read_text())["events"]
    assert got == expected, (
        f"history of scenario {scenario!r} ({description}) differs from "
        f"{path.name}\nexpected (real server):\n{render(expected)}\n"
        f"got:\n{render(got)}"
    )
