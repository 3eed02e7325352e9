"""Signals: a workflow waits for signals and returns what it received."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.api.enums.v1 import EventType

from conftest import new_worker, unique


@workflow.defn
class CollectSignals:
    def __init__(self) -> None:
        self.received: list[str] = []

    @workflow.signal
    def add(self, item: str) -> None:
        self.received.append(item)

    @workflow.run
    async def run(self, expected: int) -> list[str]:
        await workflow.wait_condition(lambda: len(self.received) >= expected)
        return self.received


async def test_workflow_returns_signals_in_order(client, task_queue):
    async with new_worker(client, task_queue, [CollectSignals]):
        handle = await client.start_workflow(
            CollectSignals.run, 3, id=unique("signals"), task_queue=task_queue
        )
        for item in ["alpha", "beta", "gamma"]:
            await handle.signal(CollectSignals.add, item)
        result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result == ["alpha", "beta", "gamma"]

    history = await handle.fetch_history()
    signaled = [
        e.workflow_execution_signaled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert [s.signal_name for s in signaled] == ["add", "add", "add"]
    assert history.events[-1].event_type == (
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    )


async def test_signal_sent_before_worker_starts_is_delivered(client, task_queue):
    """Signals are durable: they wait in history until a worker picks them up."""
    handle = await client.start_workflow(
        CollectSignals.run, 2, id=unique("signals-early"), task_queue=task_queue
    )
    await handle.signal(CollectSignals.add, "first")
    await handle.signal(CollectSignals.add, "second")
    async with new_worker(client, task_queue, [CollectSignals]):
        result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result == ["first", "second"]


async def test_signal_with_start(client, task_queue):
    wf_id = unique("signals-sws")
    async with new_worker(client, task_queue, [CollectSignals]):
        handle = await client.start_workflow(
            CollectSignals.run,
            2,
            id=wf_id,
            task_queue=task_queue,
            start_signal="add",
            start_signal_args=["from-start"],
        )
        # Signal-with-start on a running workflow only signals it.
        handle2 = await client.start_workflow(
            CollectSignals.run,
            2,
            id=wf_id,
            task_queue=task_queue,
            start_signal="add",
            start_signal_args=["second"],
            execution_timeout=timedelta(minutes=5),
        )
        assert handle2.result_run_id == handle.result_run_id
        result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result == ["from-start", "second"]
