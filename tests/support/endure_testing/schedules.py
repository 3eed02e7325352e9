"""The runs a schedule started, as the durability tests check them (the Python suite's kill -9
tests and the cluster suite's failover test).

A scheduled (not triggered) start's workflow id is ``<action id>-<nominal time
%Y-%m-%dT%H:%M:%SZ>`` and the run carries ``TemporalScheduledById = '<schedule id>'``, so the
runs listed by that attribute say which nominal seconds were started, and how many times.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

NOMINAL_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def scheduler_workflow_id(schedule_id: str) -> str:
    """The workflow id of a schedule's system run (what decides its shard)."""
    return f"temporal-sys-scheduler:{schedule_id}"


def nominal_second(workflow_id: str, action_id: str) -> int:
    """The nominal time (Unix seconds) in a scheduled run's workflow id."""
    prefix = f"{action_id}-"
    assert workflow_id.startswith(prefix), f"{workflow_id!r} is not a run of action {action_id!r}"
    t = datetime.strptime(workflow_id[len(prefix):], NOMINAL_FORMAT).replace(tzinfo=timezone.utc)
    return int(t.timestamp())


def utc(second: float) -> str:
    return datetime.fromtimestamp(second, timezone.utc).strftime(NOMINAL_FORMAT)


async def scheduled_runs(client: Any, schedule_id: str, namespace: str = "default") -> list[Any]:
    """Every run visibility lists with ``TemporalScheduledById = '<schedule_id>'`` (all pages):
    the raw ``WorkflowExecutionInfo`` of each."""
    from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest

    out: list[Any] = []
    token = b""
    while True:
        resp = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace=namespace,
                query=f"TemporalScheduledById = '{schedule_id}'",
                page_size=1000,
                next_page_token=token,
            ),
            retry=True,
        )
        out += list(resp.executions)
        token = resp.next_page_token
        if not token:
            return out


async def describe_schedule(client: Any, schedule_id: str, namespace: str = "default") -> Any:
    """The raw DescribeScheduleResponse (retried while the schedule's shard is unavailable, e.g.
    moving or loading after a restart)."""
    from temporalio.api.workflowservice.v1 import DescribeScheduleRequest

    return await client.workflow_service.describe_schedule(
        DescribeScheduleRequest(namespace=namespace, schedule_id=schedule_id), retry=True
    )


async def pause_and_settle(
    client: Any, schedule_id: str, namespace: str = "default", timeout: float = 20.0
) -> tuple[Any, list[Any]]:
    """Pauses the schedule, then waits until it has stopped acting (its action count unchanged
    for 1.5 s) and visibility lists as many runs as it counts actions. Returns the last
    DescribeScheduleResponse and the runs."""
    from temporalio.api.schedule.v1 import SchedulePatch
    from temporalio.api.workflowservice.v1 import PatchScheduleRequest

    await client.workflow_service.patch_schedule(
        PatchScheduleRequest(
            namespace=namespace, schedule_id=schedule_id, patch=SchedulePatch(pause="durability check done")
        ),
        retry=True,
    )
    deadline = time.monotonic() + timeout
    last_count, since = -1, time.monotonic()
    while True:
        desc = await describe_schedule(client, schedule_id, namespace)
        runs = await scheduled_runs(client, schedule_id, namespace)
        count = desc.info.action_count
        if count != last_count:
            last_count, since = count, time.monotonic()
        if (
            desc.schedule.state.paused
            and time.monotonic() - since >= 1.5
            and len(runs) >= count
        ):
            return desc, runs
        if time.monotonic() > deadline:
            raise AssertionError(
                f"schedule {schedule_id} did not settle within {timeout:.0f}s: paused "
                f"{desc.schedule.state.paused}, {count} actions, {len(runs)} runs listed"
            )
        await asyncio.sleep(0.2)


def timeline_problems(seconds: list[int]) -> list[str]:
    """What is wrong with the nominal seconds of an every-second schedule's runs between the
    first and the last: a second started more than once, or not at all."""
    counts = Counter(seconds)
    problems = [f"{utc(s)} started {n} times" for s, n in sorted(counts.items()) if n > 1]
    if counts:
        lo, hi = min(counts), max(counts)
        missing = [s for s in range(lo, hi + 1) if s not in counts]
        problems += [f"{utc(s)} never started" for s in missing]
    return problems


def gaps(seconds: list[int]) -> list[tuple[int, int]]:
    """The runs of consecutive seconds missing between the first and the last of `seconds`, as
    (first missing, last missing) pairs."""
    have = set(seconds)
    out: list[tuple[int, int]] = []
    if not have:
        return out
    s = min(have)
    while s <= max(have):
        if s not in have:
            start = s
            while s not in have:
                s += 1
            out.append((start, s - 1))
        s += 1
    return out
