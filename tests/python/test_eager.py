"""Eager workflow start and eager activity dispatch.

What the real server (1.32) does, and these tests check:

* ``start_workflow(..., request_eager_start=True)`` with a worker for that
  task queue on the same client: the StartWorkflowExecution response carries
  the first workflow task (the SDK marks the handle as eagerly started) and
  the worker runs it without polling. The first WorkflowTaskStarted then has
  the identity of the START request (the client's), not the worker's. Without
  eager start it is the worker's identity.
* Eager activity dispatch: a workflow's activity on its own task queue comes
  back in the RespondWorkflowTaskCompleted response to the same worker. This
  is observable: with a second, activity-only worker polling the same queue
  with many more pollers, every activity is still started by the workflow's
  worker (with ``disable_eager_activity_execution`` the other worker takes
  most of them).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType, TaskQueueKind
from temporalio.client import Client

from conftest import new_worker, target, unique
from endure_testing.servers import EndureDevServer, TemporalDevServer

RESULT_TIMEOUT_S = 30
ACTIVITY_COUNT = 6


@activity.defn
async def shout(word: str) -> str:
    return word.upper()


@workflow.defn
class Shouter:
    @workflow.run
    async def run(self, words: list[str]) -> list[str]:
        out = []
        for w in words:
            out.append(
                await workflow.execute_activity(
                    shout, w, start_to_close_timeout=timedelta(seconds=10)
                )
            )
        return out


def first_task_events(events):
    scheduled = next(
        e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    )
    started = next(
        e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    )
    return scheduled, started


async def test_eager_workflow_start(client, task_queue):
    assert client.identity and client.identity != "eager-worker"
    async with new_worker(client, task_queue, [Shouter], [shout], identity="eager-worker"):
        eager = await client.start_workflow(
            Shouter.run,
            ["hi"],
            id=unique("eager-start"),
            task_queue=task_queue,
            request_eager_start=True,
        )
        assert getattr(eager, "__temporal_eagerly_started") is True, (
            "StartWorkflowExecution answered no eager_workflow_task"
        )
        assert await asyncio.wait_for(eager.result(), RESULT_TIMEOUT_S) == ["HI"]

        lazy = await client.start_workflow(
            Shouter.run, ["ho"], id=unique("lazy-start"), task_queue=task_queue
        )
        assert getattr(lazy, "__temporal_eagerly_started") is False
        assert await asyncio.wait_for(lazy.result(), RESULT_TIMEOUT_S) == ["HO"]

    events = (await eager.fetch_history()).events
    scheduled, started = first_task_events(events)
    assert started.event_id == 3 and scheduled.event_id == 2
    assert started.workflow_task_started_event_attributes.scheduled_event_id == 2
    q = scheduled.workflow_task_scheduled_event_attributes.task_queue
    assert q.name == task_queue and q.kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL
    # Eager: the task was started by the StartWorkflowExecution call itself.
    assert started.workflow_task_started_event_attributes.identity == client.identity
    assert events[0].workflow_execution_started_event_attributes.identity == client.identity
    # The worker did run it: it completed the task.
    completed = events[3]
    assert completed.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    assert completed.workflow_task_completed_event_attributes.identity == "eager-worker"

    # Not eager: the worker polled the first task.
    _, lazy_started = first_task_events((await lazy.fetch_history()).events)
    assert lazy_started.workflow_task_started_event_attributes.identity == "eager-worker"


async def test_eager_activity_dispatch(client, server, task_queue):
    # Another process-like worker (its own client: the SDK allows one worker
    # per client and task queue) that only runs activities, with 10 pollers
    # against the workflow worker's single activity poller.
    other_client = await Client.connect(server.address, namespace="default")
    words = [f"w{i}" for i in range(ACTIVITY_COUNT)]
    async with new_worker(
        other_client,
        task_queue,
        activities=[shout],
        identity="activity-only-worker",
        max_concurrent_activity_task_polls=10,
    ):
        await asyncio.sleep(0.5)  # its pollers are waiting
        async with new_worker(
            client,
            task_queue,
            [Shouter],
            [shout],
            identity="workflow-worker",
            max_concurrent_activity_task_polls=1,
        ):
            handle = await client.start_workflow(
                Shouter.run, words, id=unique("eager-activity"), task_queue=task_queue
            )
            result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
    assert result == [w.upper() for w in words]

    events = (await handle.fetch_history()).events
    started_by = [
        e.activity_task_started_event_attributes.identity
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert started_by == ["workflow-worker"] * ACTIVITY_COUNT, (
        "activities not dispatched eagerly to the workflow's worker: "
        f"started by {started_by}"
    )
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            q = e.activity_task_scheduled_event_attributes.task_queue
            assert q.name == task_queue
            assert q.kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL


async def test_dynamic_config_turns_eager_start_off(tmp_path):
    """`start-dev --dynamic-config-value system.enableEagerWorkflowStart=false`, as SDK test
    suites start their server: a start asking for eagerness is answered without the task (the
    worker polls it). A key Endure does not know is accepted too. start-dev only: the
    production server takes dynamic config from nowhere else yet."""
    flags = [
        "--dynamic-config-value", "system.enableEagerWorkflowStart=false",
        "--dynamic-config-value", "frontend.someSwitchEndureLacks=true",
    ]
    if target() == "temporal":
        server = TemporalDevServer("dyn", tmp_path / "dyn.log", tmp_path / "dyn.db", [], flags)
    else:
        server = EndureDevServer("dyn", tmp_path / "dyn.log", tmp_path / "dyn.db", [], flags)
    await asyncio.to_thread(server.start)  # its readiness probe runs an event loop of its own
    try:
        client = await Client.connect(server.address, namespace="default")
        task_queue = unique("tq-dyn")
        async with new_worker(client, task_queue, [Shouter], [shout], identity="dyn-worker"):
            handle = await client.start_workflow(
                Shouter.run, ["hey"], id=unique("no-eager"), task_queue=task_queue, request_eager_start=True
            )
            assert getattr(handle, "__temporal_eagerly_started") is False
            assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S) == ["HEY"]
        _, started = first_task_events((await handle.fetch_history()).events)
        assert started.workflow_task_started_event_attributes.identity == "dyn-worker"
        if target() == "endure":
            warned = [line for line in server.log_lines() if "not honoured" in line]
            assert warned and "frontend.someSwitchEndureLacks" in warned[0], server.log_tail()
    finally:
        await asyncio.to_thread(server.stop)
