"""A workflow survives a SIGKILL of the server mid-run.

The workflow sleeps on a durable timer and then runs an activity. While the
timer is pending the server is killed with SIGKILL and restarted on the same
port and database file; the workflow then completes with the right result.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from conftest import new_worker, start_server, unique

TIMER = timedelta(seconds=3)


@activity.defn
async def render_report(topic: str) -> str:
    return f"report on {topic}"


@workflow.defn
class SleepThenReport:
    @workflow.run
    async def run(self, topic: str) -> str:
        started = workflow.now()
        await workflow.sleep(TIMER)
        slept = workflow.now() - started
        report = await workflow.execute_activity(
            render_report, topic, start_to_close_timeout=timedelta(seconds=10)
        )
        return f"{report} (slept >= {int(slept.total_seconds())}s)"


async def _wait_for_event(handle: WorkflowHandle, event_type: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = await handle.fetch_history()
        if any(e.event_type == event_type for e in history.events):
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"event {EventType.Name(event_type)} not seen within {timeout}s")


async def test_workflow_survives_server_sigkill(tmp_path, task_queue):
    server = await asyncio.to_thread(start_server, tmp_path, "durable")
    try:
        client = await Client.connect(server.address)
        wf_id = unique("durable")
        worker = new_worker(client, task_queue, [SleepThenReport], [render_report])
        async with worker:
            handle = await client.start_workflow(
                SleepThenReport.run, "durability", id=wf_id, task_queue=task_queue
            )
            await _wait_for_event(handle, EventType.EVENT_TYPE_TIMER_STARTED, 20)
            first_run_id = (await handle.describe()).run_id

            # kill -9 while the timer is pending: nothing gets a chance to flush.
            await asyncio.to_thread(server.kill9)
            # Restart on the same port and DB file. The worker and the client
            # reconnect by themselves (their gRPC channels retry).
            await asyncio.to_thread(server.start)

            result = await asyncio.wait_for(handle.result(), timeout=60)
        assert result == "report on durability (slept >= 3s)"

        # Same run, one timer, nothing lost or duplicated across the crash.
        desc = await handle.describe()
        assert desc.run_id == first_run_id
        assert desc.status is not None and desc.status.name == "COMPLETED"
        history = await handle.fetch_history()
        types = [e.event_type for e in history.events]
        assert types.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED) == 1
        assert types.count(EventType.EVENT_TYPE_TIMER_STARTED) == 1
        assert types.count(EventType.EVENT_TYPE_TIMER_FIRED) == 1
        assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 1
        assert types[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    finally:
        await asyncio.to_thread(server.stop)


async def test_workflow_completes_with_fresh_client_and_worker_after_restart(
    tmp_path, task_queue
):
    """Kill -9 with no worker at all; a new client and worker finish the job."""
    server = await asyncio.to_thread(start_server, tmp_path, "durable2")
    try:
        client = await Client.connect(server.address)
        wf_id = unique("durable-fresh")
        async with new_worker(client, task_queue, [SleepThenReport], [render_report]):
            handle = await client.start_workflow(
                SleepThenReport.run, "restarts", id=wf_id, task_queue=task_queue
            )
            await _wait_for_event(handle, EventType.EVENT_TYPE_TIMER_STARTED, 20)
        # Worker is shut down; the timer is still pending in the server.
        await asyncio.to_thread(server.kill9)
        await asyncio.to_thread(server.start)

        client2 = await Client.connect(server.address)
        async with new_worker(client2, task_queue, [SleepThenReport], [render_report]):
            result = await asyncio.wait_for(
                client2.get_workflow_handle(wf_id).result(), timeout=60
            )
        assert result == "report on restarts (slept >= 3s)"
    finally:
        await asyncio.to_thread(server.stop)
