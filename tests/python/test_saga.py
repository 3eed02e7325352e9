"""Saga: an AI-pipeline-style workflow whose last step fails non-retryably.

extract_text -> summarize -> publish(fails, non-retryable). The workflow then
runs the compensations of the completed steps in reverse order (undo
summarize, then undo extract) and fails with the activity's error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from conftest import new_worker, unique

# Filled by the activities, which run in this process. One list per workflow id
# so that tests cannot see each other's entries.
CALLS: dict[str, list[str]] = {}


def _record(step: str) -> None:
    CALLS.setdefault(activity.info().workflow_id, []).append(step)


@dataclass
class Document:
    doc_id: str
    text: str
    fail_publish: bool = True


@activity.defn
async def extract_text(doc: Document) -> str:
    _record("extract_text")
    return doc.text.strip()


@activity.defn
async def summarize(text: str) -> str:
    _record("summarize")
    return " ".join(text.split()[:5]) + " ..."


@activity.defn
async def publish(summary: str, fail: bool) -> str:
    _record("publish")
    if fail:
        raise ApplicationError(
            "publish target rejected the summary",
            type="PublishRejected",
            non_retryable=True,
        )
    return f"published: {summary}"


@activity.defn
async def undo_summarize(summary: str) -> None:
    _record("undo_summarize")


@activity.defn
async def undo_extract(doc_id: str) -> None:
    _record("undo_extract")


ACTIVITIES = [extract_text, summarize, publish, undo_summarize, undo_extract]


@workflow.defn
class AiPipelineSaga:
    def __init__(self) -> None:
        self.compensated: list[str] = []

    @workflow.query
    def compensations(self) -> list[str]:
        return self.compensated

    @workflow.run
    async def run(self, doc: Document) -> str:
        opts = dict(
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=200), maximum_attempts=3
            ),
        )
        # Each entry: (compensation activity, its argument), pushed as the
        # step completes, and run in reverse order on failure.
        compensations: list[tuple[object, object]] = []
        try:
            text = await workflow.execute_activity(extract_text, doc, **opts)
            compensations.append((undo_extract, doc.doc_id))
            summary = await workflow.execute_activity(summarize, text, **opts)
            compensations.append((undo_summarize, summary))
            return await workflow.execute_activity(
                publish, args=[summary, doc.fail_publish], **opts
            )
        except ActivityError:
            for fn, arg in reversed(compensations):
                await workflow.execute_activity(fn, arg, **opts)
                self.compensated.append(fn.__name__)  # type: ignore[attr-defined]
            raise


async def test_saga_compensates_in_reverse_order(client, task_queue):
    wf_id = unique("saga")
    async with new_worker(client, task_queue, [AiPipelineSaga], ACTIVITIES):
        handle = await client.start_workflow(
            AiPipelineSaga.run,
            Document(doc_id="doc-1", text="  Endure speaks the Temporal API to every SDK.  "),
            id=wf_id,
            task_queue=task_queue,
        )
        with pytest.raises(WorkflowFailureError) as excinfo:
            await asyncio.wait_for(handle.result(), timeout=60)

        # The workflow failed with the publish activity's error.
        cause = excinfo.value.cause
        assert isinstance(cause, ActivityError), repr(cause)
        assert cause.activity_type == "publish"
        app_err = cause.cause
        assert isinstance(app_err, ApplicationError), repr(app_err)
        assert app_err.type == "PublishRejected"
        assert app_err.non_retryable
        assert "publish target rejected the summary" in app_err.message

        # Forward steps, the failing one exactly once (non-retryable), then the
        # compensations in reverse order.
        assert CALLS[wf_id] == [
            "extract_text",
            "summarize",
            "publish",
            "undo_summarize",
            "undo_extract",
        ]
        # Same order as seen by the workflow, through a query on the closed run.
        assert await handle.query(AiPipelineSaga.compensations) == [
            "undo_summarize",
            "undo_extract",
        ]

        desc = await handle.describe()
        assert desc.status is not None and desc.status.name == "FAILED"

        history = await handle.fetch_history()
        types = [e.event_type for e in history.events]
        assert types[0] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        assert types[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
        assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED) == 1
        # extract, summarize, undo_summarize, undo_extract
        assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 4
        scheduled = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
        assert scheduled == [
            "extract_text",
            "summarize",
            "publish",
            "undo_summarize",
            "undo_extract",
        ]


async def test_saga_happy_path_runs_no_compensation(client, task_queue):
    wf_id = unique("saga-ok")
    async with new_worker(client, task_queue, [AiPipelineSaga], ACTIVITIES):
        result = await asyncio.wait_for(
            client.execute_workflow(
                AiPipelineSaga.run,
                Document(
                    doc_id="doc-2",
                    text="one two three four five six seven",
                    fail_publish=False,
                ),
                id=wf_id,
                task_queue=task_queue,
            ),
            timeout=60,
        )
    assert result == "published: one two three four five ..."
    assert CALLS[wf_id] == ["extract_text", "summarize", "publish"]
