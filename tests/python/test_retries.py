"""Activity retries with exponential backoff.

The activity fails on attempts 1 and 2 and succeeds on attempt 3. With
initial_interval=1s and backoff_coefficient=2.0 the server waits ~1 s before
attempt 2 and ~2 s before attempt 3, so attempts 1 and 3 are >= ~3 s apart.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.common import RetryPolicy

from conftest import new_worker, unique

# workflow id -> [(attempt, monotonic time)], recorded by the activity.
ATTEMPTS: dict[str, list[tuple[int, float]]] = {}


@activity.defn
async def flaky_embedding(text: str) -> str:
    info = activity.info()
    ATTEMPTS.setdefault(info.workflow_id, []).append((info.attempt, time.monotonic()))
    if info.attempt < 3:
        raise RuntimeError(f"embedding service unavailable (attempt {info.attempt})")
    return f"embedded:{text}:attempt={info.attempt}"


@workflow.defn
class EmbedWithRetries:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            flaky_embedding,
            text,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(seconds=30),
                maximum_attempts=5,
            ),
        )


async def test_activity_retries_with_backoff(client, task_queue):
    wf_id = unique("retry")
    async with new_worker(client, task_queue, [EmbedWithRetries], [flaky_embedding]):
        handle = await client.start_workflow(
            EmbedWithRetries.run, "hello", id=wf_id, task_queue=task_queue
        )
        result = await asyncio.wait_for(handle.result(), timeout=60)

    assert result == "embedded:hello:attempt=3"
    attempts = ATTEMPTS[wf_id]
    assert [a for a, _ in attempts] == [1, 2, 3]
    (_, t1), (_, t2), (_, t3) = attempts
    # Lower bounds only (the server may be late, never early); small slack for
    # clock granularity.
    assert t2 - t1 >= 0.9, f"attempt 2 came {t2 - t1:.2f}s after attempt 1"
    assert t3 - t2 >= 1.8, f"attempt 3 came {t3 - t2:.2f}s after attempt 2"
    assert t3 - t1 >= 2.8, f"attempt 3 came {t3 - t1:.2f}s after attempt 1"

    # Retries are not separate events: one scheduled, one started (attempt 3),
    # one completed.
    history = await handle.fetch_history()
    types = [e.event_type for e in history.events]
    assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 1
    assert types.count(EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED) == 0
    started = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert len(started) == 1 and started[0].attempt == 3
    assert "embedding service unavailable (attempt 2)" in (
        started[0].last_failure.message
    )
