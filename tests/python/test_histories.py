"""Event histories checked against the real Temporal server.

Each scenario is driven by a Python worker; afterwards its history is
compared with ``golden/<scenario>.json``, recorded against the real dev server
(``history_golden``: what is recorded, how to record). Signals, cancellation
and termination are sent only once the workflow has reached its wait point.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Awaitable, Callable

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from conftest import new_worker, unique
from history_golden import check_golden, wait_for_wait_point

RESULT_TIMEOUT_S = 60


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
    description, drive = SCENARIOS[scenario]
    async with new_worker(client, task_queue, ALL_WORKFLOWS, ALL_ACTIVITIES):
        handle = await asyncio.wait_for(drive(client, task_queue), RESULT_TIMEOUT_S)
    history = await handle.fetch_history()
    await check_golden(client, scenario, description, history.events)
