"""Queries: read a running workflow's state (and a closed one's)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from temporalio import workflow
from temporalio.client import WorkflowQueryFailedError

from conftest import new_worker, unique


@dataclass
class Progress:
    stage: str
    processed: list[str] = field(default_factory=list)


@workflow.defn
class IngestionJob:
    def __init__(self) -> None:
        self.progress = Progress(stage="waiting")
        self.done = False

    @workflow.signal
    def ingest(self, doc: str) -> None:
        self.progress.processed.append(doc)
        self.progress.stage = "ingesting"

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def status(self) -> Progress:
        return self.progress

    @workflow.query
    def count_with_prefix(self, prefix: str) -> int:
        return sum(1 for d in self.progress.processed if d.startswith(prefix))

    @workflow.query
    def broken(self) -> str:
        raise RuntimeError("this query always fails")

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        self.progress.stage = "done"
        return len(self.progress.processed)


async def test_query_running_workflow_state(client, task_queue):
    async with new_worker(client, task_queue, [IngestionJob]):
        handle = await client.start_workflow(
            IngestionJob.run, id=unique("query"), task_queue=task_queue
        )
        status = await asyncio.wait_for(handle.query(IngestionJob.status), 30)
        assert status == Progress(stage="waiting", processed=[])

        await handle.signal(IngestionJob.ingest, "doc-a")
        await handle.signal(IngestionJob.ingest, "doc-b")
        await handle.signal(IngestionJob.ingest, "note-c")

        # A query must see every signal accepted before it: Temporal does not
        # answer it from a worker's stale state while a workflow task (here,
        # for the new signals) is pending; it waits for that task to complete.
        status = await asyncio.wait_for(handle.query(IngestionJob.status), 30)
        assert status == Progress(
            stage="ingesting", processed=["doc-a", "doc-b", "note-c"]
        ), "query answered before the signals sent earlier were processed"
        # Query with an argument.
        assert await handle.query(IngestionJob.count_with_prefix, "doc") == 2

        desc = await handle.describe()
        assert desc.status is not None and desc.status.name == "RUNNING"

        # A failing query reports the worker's error to the caller.
        with pytest.raises(WorkflowQueryFailedError) as excinfo:
            await asyncio.wait_for(handle.query(IngestionJob.broken), 30)
        assert "this query always fails" in str(excinfo.value)

        await handle.signal(IngestionJob.finish)
        assert await asyncio.wait_for(handle.result(), 60) == 3

        # Querying the closed workflow replays it on the worker.
        status = await asyncio.wait_for(handle.query(IngestionJob.status), 30)
        assert status == Progress(stage="done", processed=["doc-a", "doc-b", "note-c"])
