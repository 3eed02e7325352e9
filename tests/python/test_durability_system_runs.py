"""Schedules and batch jobs survive a SIGKILL of the server (Endure only: the tests kill it).

A schedule is a system run whose next wake-up is a durable timer; a batch job is a system run
worked in steps that checkpoint after every item. Each test kills the server with SIGKILL in
the middle of the work and starts it again on the same port and database, then checks what
was done across the crash:

* an every-second schedule (overlap ALLOW_ALL, catch-up window 60 s) whose runs a Python SDK
  worker completes, killed for ~4 s: every nominal second from the first run to the last,
  downtime included, has exactly one run (the downtime's runs started after the restart), and
  nothing is counted as missed or skipped;
* the same schedule with the minimum catch-up window (10 s), killed for 15 s: the seconds older
  than the window at the restart are counted in ``info.missed_catchup_window`` and never
  started, the others are caught up, and the missed ones are exactly one gap of that length;
* a signal batch (``max_operations_per_second=20``) over 200 executions that do not exist, and
  one over 100 running workflows: after the restart the job resumes from its checkpoint (not
  from zero) and completes with total = complete + failure = the item count; every running
  workflow got the signal exactly once (its history, and what the workflow itself saw).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.batch.v1 import BatchOperationSignal
from temporalio.api.common.v1 import Payloads, WorkflowExecution
from temporalio.api.enums.v1 import BatchOperationState, EventType, WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeBatchOperationRequest,
    DescribeBatchOperationResponse,
    StartBatchOperationRequest,
)
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.converter import DataConverter

from conftest import new_worker, start_server, target, unique
from history_golden import wait_for_wait_point
from endure_testing.schedules import (
    describe_schedule,
    gaps,
    nominal_second,
    pause_and_settle,
    scheduled_runs,
    timeline_problems,
    utc,
)

pytestmark = pytest.mark.skipif(
    target() != "endure", reason="kills the server: Endure's durability, not the oracle's"
)

NS = "default"
CONV = DataConverter.default.payload_converter
COMPLETED = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
BATCH_RUNNING = BatchOperationState.BATCH_OPERATION_STATE_RUNNING
BATCH_COMPLETED = BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
WFT_TIMEOUT = timedelta(seconds=3)


# ---------------------------------------------------------------- workflows


@workflow.defn(name="DurableTick")
class DurableTick:
    @workflow.run
    async def run(self) -> str:
        return workflow.info().workflow_id


@workflow.defn(name="PokeCounter")
class PokeCounter:
    """Collects ``poke`` signals until ``finish``; returns what it got."""

    def __init__(self) -> None:
        self.pokes: list[str] = []
        self.done = False

    @workflow.signal(name="poke")
    def poke(self, tag: str) -> None:
        self.pokes.append(tag)

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.pokes


# ---------------------------------------------------------------- helpers


def every_second(action_id: str, task_queue: str, catchup: timedelta) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow("DurableTick", id=action_id, task_queue=task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
        # ALLOW_ALL: the caught-up starts all go at once (SKIP would start one and skip the rest).
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL, catchup_window=catchup),
    )


async def wait_actions(client: Client, sid: str, n: int, timeout: float = 20.0):
    """Until the schedule counts `n` actions; its description."""
    deadline = time.monotonic() + timeout
    while True:
        d = await describe_schedule(client, sid)
        if d.info.action_count >= n:
            return d
        if time.monotonic() > deadline:
            pytest.fail(f"schedule {sid}: {d.info.action_count} actions after {timeout:.0f}s, waited for {n}")
        await asyncio.sleep(0.1)


async def sleep_until(t: float) -> None:
    delay = t - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


def started_at(run) -> float:
    return run.start_time.ToNanoseconds() / 1e9


async def describe_batch(client: Client, job_id: str) -> DescribeBatchOperationResponse:
    # retry: just after a restart the job's shard may still be loading (UNAVAILABLE).
    return await client.workflow_service.describe_batch_operation(
        DescribeBatchOperationRequest(namespace=NS, job_id=job_id), retry=True
    )


async def wait_batch(client: Client, job_id: str, pred, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        d = await describe_batch(client, job_id)
        if pred(d):
            return d
        if time.monotonic() > deadline:
            pytest.fail(f"batch {job_id}: no {what} within {timeout:.0f}s; last describe: {d}")
        await asyncio.sleep(0.05)


async def kill_batch_midway(server, client: Client, job_id: str, items: int, kill_after: int, down_s: float):
    """Waits until the job has done `kill_after` items (and not all), kills the server, keeps it
    down `down_s` seconds, starts it again. Returns the count seen before the kill and the
    first description after the restart."""
    before = await wait_batch(
        client, job_id, lambda d: d.complete_operation_count + d.failure_operation_count >= kill_after,
        f"{kill_after} items done",
    )
    seen = before.complete_operation_count + before.failure_operation_count
    assert before.state == BATCH_RUNNING and seen < items, (
        f"the job was not mid-way when it was to be killed: {seen}/{items}, state {before.state}"
    )
    await asyncio.to_thread(server.kill9)
    await asyncio.sleep(down_s)
    await asyncio.to_thread(server.start)
    after = await describe_batch(client, job_id)
    return seen, after


# ---------------------------------------------------------------- schedules


async def test_schedule_catches_up_after_kill9(tmp_path, task_queue):
    """Every nominal second, the downtime's included, gets exactly one run."""
    down_s = 4.0
    server = await asyncio.to_thread(start_server, tmp_path, "sched-catchup")
    try:
        client = await Client.connect(server.address)
        sid = unique("dur-sched")
        action_id = f"tick-{sid}"
        async with new_worker(client, task_queue, [DurableTick]):
            t0 = time.time()
            await client.create_schedule(sid, every_second(action_id, task_queue, timedelta(seconds=60)))
            t1 = time.time()
            before = await wait_actions(client, sid, 3)
            last_before_kill = max(a.schedule_time.seconds for a in before.info.recent_actions)

            kill_at = await asyncio.to_thread(server.kill9)
            await asyncio.sleep(down_s)
            restart_at = time.time()
            await asyncio.to_thread(server.start)
            ready_at = time.time()
            print(f"\n[schedule] kill -9 at {utc(kill_at)}, restarted {utc(restart_at)}, ready {utc(ready_at)}")

            # A few seconds of normal firing after the restart, then stop it and look.
            await sleep_until(ready_at + 4)
            desc, runs = await pause_and_settle(client, sid)

            # The worker runs every one of them.
            deadline = time.monotonic() + 30
            while any(r.status != COMPLETED for r in runs):
                if time.monotonic() > deadline:
                    open_ = [r.execution.workflow_id for r in runs if r.status != COMPLETED]
                    pytest.fail(f"{len(open_)} scheduled runs not completed within 30 s: {open_[:10]}")
                await asyncio.sleep(0.2)
                runs = await scheduled_runs(client, sid)

        seconds = [nominal_second(r.execution.workflow_id, action_id) for r in runs]
        problems = timeline_problems(seconds)
        assert not problems, f"{len(problems)} problems in the schedule's runs:\n" + "\n".join(problems)
        first, last = min(seconds), max(seconds)
        # The first run is the first whole second after the create; the window spans the crash.
        assert int(t0) + 1 <= first <= int(t1) + 1, (utc(first), utc(t0), utc(t1))
        assert first <= last_before_kill < kill_at, (utc(first), utc(last_before_kill), utc(kill_at))
        assert last >= ready_at + 2, f"the last run is {utc(last)}, the server was ready at {utc(ready_at)}"
        # The seconds the server was down for were started after the restart: caught up.
        downtime = [r for r, s in zip(runs, seconds) if kill_at + 1 <= s < restart_at]
        assert len(downtime) >= int(down_s) - 1, [r.execution.workflow_id for r in downtime]
        early = [r.execution.workflow_id for r in downtime if started_at(r) < restart_at]
        assert not early, f"runs of the downtime started before the restart: {early}"
        # Nothing missed, skipped or dropped; one action per run.
        info = desc.info
        assert (info.missed_catchup_window, info.overlap_skipped, info.buffer_dropped) == (0, 0, 0), info
        assert info.action_count == len(runs), (info.action_count, len(runs))
        assert len({r.execution.workflow_id for r in runs}) == len(runs)
    finally:
        await asyncio.to_thread(server.stop)


async def test_schedule_downtime_beyond_catchup_window_is_missed(tmp_path, task_queue):
    """Killed for 15 s with a 10 s catch-up window: the seconds older than the window at the
    restart are counted as missed and not started; the rest of the downtime is caught up."""
    window_s, down_s = 10, 15.0
    server = await asyncio.to_thread(start_server, tmp_path, "sched-missed")
    try:
        client = await Client.connect(server.address)
        sid = unique("dur-missed")
        action_id = f"tick-{sid}"
        # No worker: only the starts matter here (ALLOW_ALL does not wait for runs to close).
        await client.create_schedule(sid, every_second(action_id, task_queue, timedelta(seconds=window_s)))
        before = await wait_actions(client, sid, 3)
        last_before_kill = max(a.schedule_time.seconds for a in before.info.recent_actions)

        kill_at = await asyncio.to_thread(server.kill9)
        await asyncio.sleep(down_s)
        restart_at = time.time()
        await asyncio.to_thread(server.start)
        ready_at = time.time()
        print(f"\n[schedule] kill -9 at {utc(kill_at)}, restarted {utc(restart_at)}, ready {utc(ready_at)}")
        await sleep_until(ready_at + 3)
        desc, runs = await pause_and_settle(client, sid)

        info = desc.info
        seconds = [nominal_second(r.execution.workflow_id, action_id) for r in runs]
        dups = {utc(s): n for s, n in Counter(seconds).items() if n > 1}
        assert not dups, f"seconds started more than once: {dups}"
        missed = info.missed_catchup_window
        holes = gaps(seconds)
        print(f"[schedule] {len(runs)} runs, missed_catchup_window {missed}, gaps {[(utc(a), utc(b)) for a, b in holes]}")
        # Exactly one gap, right after the last second started before the kill, as long as the
        # count of missed actions.
        assert len(holes) == 1, f"expected one gap (the missed seconds), got {[(utc(a), utc(b)) for a, b in holes]}"
        (g0, g1) = holes[0]
        assert missed == g1 - g0 + 1, f"missed_catchup_window {missed}, gap {utc(g0)}..{utc(g1)}"
        assert last_before_kill < g0 <= int(kill_at) + 1, (utc(last_before_kill), utc(g0), utc(kill_at))
        # Missed = older than the window when the server woke the schedule (after the restart):
        # the last missed second is at most window + 1 s before the restart began...
        assert g1 >= restart_at - window_s - 1, (utc(g1), utc(restart_at))
        # ...and more than the window before it was woken (allowing the wake-up 5 s after ready).
        assert g1 < ready_at + 5 - window_s, (utc(g1), utc(ready_at))
        assert missed >= down_s - window_s - 1, missed
        # The downtime's seconds after the gap (within the window) were started after the
        # restart; the schedule fires on.
        caught_up = [r for r, s in zip(runs, seconds) if g1 < s < restart_at]
        assert len(caught_up) >= 5, [r.execution.workflow_id for r in caught_up]
        early = [r.execution.workflow_id for r in caught_up if started_at(r) < restart_at]
        assert not early, f"caught-up runs started before the restart: {early}"
        assert max(seconds) >= ready_at + 1, (utc(max(seconds)), utc(ready_at))
        assert (info.overlap_skipped, info.buffer_dropped) == (0, 0), info
        assert info.action_count == len(runs), (info.action_count, len(runs))
    finally:
        await asyncio.to_thread(server.stop)


# ---------------------------------------------------------------- batch jobs


async def test_batch_resumes_after_kill9_over_missing_workflows(tmp_path):
    """200 executions that do not exist (each NOT_FOUND: a success), 20 a second."""
    items = 200
    server = await asyncio.to_thread(start_server, tmp_path, "batch-ghosts")
    try:
        client = await Client.connect(server.address)
        job_id = unique("dur-batch")
        tag = unique("ghost")
        await client.workflow_service.start_batch_operation(
            StartBatchOperationRequest(
                namespace=NS,
                job_id=job_id,
                reason="durability",
                executions=[WorkflowExecution(workflow_id=f"{tag}-{i}") for i in range(items)],
                max_operations_per_second=20,
                signal_operation=BatchOperationSignal(signal="poke"),
            )
        )
        seen, after = await kill_batch_midway(server, client, job_id, items, kill_after=50, down_s=2.0)
        resumed = after.complete_operation_count + after.failure_operation_count
        print(f"\n[batch] {seen}/{items} done when killed; {resumed} after the restart")
        # Its checkpoint survived: it resumes where it was, not from zero.
        assert resumed >= seen, f"{seen} items done before the kill, {resumed} after the restart"

        d = await wait_batch(client, job_id, lambda d: d.state != BATCH_RUNNING, "end", timeout=30)
        assert d.state == BATCH_COMPLETED, d
        assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (items, items, 0), d
    finally:
        await asyncio.to_thread(server.stop)


async def test_batch_signals_each_running_workflow_once_across_kill9(tmp_path, task_queue):
    """100 running workflows, 20 signals a second: each gets exactly one."""
    items = 100
    server = await asyncio.to_thread(start_server, tmp_path, "batch-real")
    try:
        client = await Client.connect(server.address)
        prefix = unique("dur-target")
        job_id = unique("dur-batch")
        async with new_worker(client, task_queue, [PokeCounter]):
            # A workflow task the kill interrupts is retried after its timeout: a short one.
            handles = await asyncio.gather(
                *(
                    client.start_workflow(
                        PokeCounter.run, id=f"{prefix}-{i}", task_queue=task_queue, task_timeout=WFT_TIMEOUT
                    )
                    for i in range(items)
                )
            )
            await asyncio.gather(*(wait_for_wait_point(h) for h in handles))
            await client.workflow_service.start_batch_operation(
                StartBatchOperationRequest(
                    namespace=NS,
                    job_id=job_id,
                    reason="durability",
                    executions=[WorkflowExecution(workflow_id=h.id) for h in handles],
                    max_operations_per_second=20,
                    signal_operation=BatchOperationSignal(
                        signal="poke", input=Payloads(payloads=CONV.to_payloads([job_id])), identity="durability-test"
                    ),
                )
            )
            seen, after = await kill_batch_midway(server, client, job_id, items, kill_after=30, down_s=2.0)
            resumed = after.complete_operation_count + after.failure_operation_count
            print(f"\n[batch] {seen}/{items} done when killed; {resumed} after the restart")
            assert resumed >= seen, f"{seen} items done before the kill, {resumed} after the restart"

            d = await wait_batch(client, job_id, lambda d: d.state != BATCH_RUNNING, "end", timeout=30)
            assert d.state == BATCH_COMPLETED, d
            assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (items, items, 0), d

            # A signal that arrived while a workflow task was running (one the kill interrupted:
            # it times out) is in the history only once that task is over: wait for every
            # workflow to sit idle. Then each history holds exactly one `poke` signal.
            await asyncio.gather(*(wait_for_wait_point(h) for h in handles))
            async def pokes(h) -> int:
                events = [e async for e in h.fetch_history_events()]
                signaled = [
                    e.workflow_execution_signaled_event_attributes
                    for e in events
                    if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
                ]
                return sum(1 for s in signaled if s.signal_name == "poke")

            counts = await asyncio.gather(*(pokes(h) for h in handles))
            wrong = {h.id: n for h, n in zip(handles, counts) if n != 1}
            assert not wrong, f"{len(wrong)} workflows did not get exactly one signal: {dict(list(wrong.items())[:10])}"

            # And each workflow saw it once, with the batch's input.
            await asyncio.gather(*(h.signal(PokeCounter.finish) for h in handles))
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=30)
            bad = {h.id: r for h, r in zip(handles, results) if r != [job_id]}
            assert not bad, f"{len(bad)} workflows saw other pokes: {dict(list(bad.items())[:10])}"
    finally:
        await asyncio.to_thread(server.stop)
