"""kill -9 of the replica that holds a schedule: another takes it over and it keeps firing, no
nominal second started twice or missed.

Three replicas on one PostgreSQL database (default settings: heartbeat 1 s, member ttl 5 s). A
schedule fires every second (interval spec, overlap ALLOW_ALL, catch-up window 60 s); its
system run (``temporal-sys-scheduler:<id>``) lives on one shard, and its next wake-up is a
durable timer task there. The replica owning that shard (asked of the binary, ``endure debug
shards``) is SIGKILLed once the schedule has acted a few times; the client and the SDK worker
that runs the scheduled workflows are on the other replicas (and the task queue's matching
too). A survivor takes the shard over once the dead replica's membership lapses, wakes the
schedule and catches up the seconds due meanwhile. Then every nominal second from the first
run to the last has exactly one run, nothing is counted as missed or skipped, and every run
completes.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.service import RPCError

from endure_cluster import Cluster, connect, queue_shard, shard_of, start_cluster
from endure_testing.schedules import (
    describe_schedule,
    nominal_second,
    pause_and_settle,
    scheduled_runs,
    scheduler_workflow_id,
    timeline_problems,
    utc,
)
from endure_testing.sdk import new_worker

COMPLETED = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
TAKEOVER_LIMIT_S = 30.0
AFTER_TAKEOVER_S = 4  # seconds of firing wanted after the takeover


@workflow.defn(name="FailoverTick")
class FailoverTick:
    @workflow.run
    async def run(self) -> str:
        return workflow.info().workflow_id


async def test_schedule_keeps_firing_across_owner_kill9(cluster: Cluster):
    replicas = await start_cluster(cluster, 3)
    ns_id = await asyncio.to_thread(cluster.db.namespace_id, "default")
    sid = f"failover-sched-{int(time.time() * 1000)}"
    action_id = f"tick-{sid}"
    shard = shard_of(ns_id, scheduler_workflow_id(sid))
    owners = await asyncio.to_thread(cluster.owners)
    victim = cluster.by_member(owners[shard])
    assert victim is not None, f"shard {shard} owned by {owners[shard]}, not a replica of this cluster"
    survivors = [r for r in replicas if r is not victim]
    victim_shards = sorted(s for s, o in owners.items() if o == victim.member_id)
    # The task queue's matching on a survivor: only the schedule moves.
    task_queue = next(
        q
        for q in (f"sched-failover-{sid}-{k}" for k in range(1000))
        if owners[queue_shard(ns_id, q)] != victim.member_id
    )
    client = await connect(survivors[0])
    worker_client = await connect(survivors[1], role="worker")

    async with new_worker(worker_client, task_queue, [FailoverTick]):
        t0 = time.time()
        await client.create_schedule(
            sid,
            Schedule(
                action=ScheduleActionStartWorkflow("FailoverTick", id=action_id, task_queue=task_queue),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
                policy=SchedulePolicy(
                    overlap=ScheduleOverlapPolicy.ALLOW_ALL, catchup_window=timedelta(seconds=60)
                ),
            ),
        )
        t1 = time.time()
        deadline = time.monotonic() + 20
        while (d := await describe_schedule(client, sid)).info.action_count < 3:
            assert time.monotonic() < deadline, f"schedule {sid}: {d.info.action_count} actions after 20 s"
            await asyncio.sleep(0.1)
        last_before_kill = max(a.schedule_time.seconds for a in d.info.recent_actions)

        kill_at = await asyncio.to_thread(victim.kill9)
        print(
            f"\n[schedule-failover] schedule shard {shard}; kill -9 {victim.name} ({victim.member_id}, "
            f"shards {victim_shards}) at {utc(kill_at)}"
        )
        # The schedule's shard goes to a survivor.
        new_owner = None
        while time.time() - kill_at < TAKEOVER_LIMIT_S:
            o = (await asyncio.to_thread(cluster.owners)).get(shard)
            if o and o != victim.member_id:
                new_owner = o
                break
            await asyncio.sleep(0.1)
        taken_at = time.time()
        assert new_owner is not None, f"shard {shard} still {victim.member_id}'s {TAKEOVER_LIMIT_S:.0f}s after the kill"
        assert new_owner in {r.member_id for r in survivors}, new_owner
        print(f"[schedule-failover] shard {shard} owned by {new_owner} {taken_at - kill_at:.1f}s after the kill")

        # It fires on after the takeover, through a survivor (routing may lag the lease a moment).
        deadline = time.monotonic() + 30
        while True:
            try:
                d = await describe_schedule(client, sid)
                newest = max(a.schedule_time.seconds for a in d.info.recent_actions)
                if newest >= taken_at + AFTER_TAKEOVER_S:
                    break
            except RPCError:
                newest = None
            assert time.monotonic() < deadline, (
                f"schedule {sid} not firing 30 s after the takeover (newest action {newest and utc(newest)})"
            )
            await asyncio.sleep(0.2)
        desc, runs = await pause_and_settle(client, sid)

        deadline = time.monotonic() + 30
        while any(r.status != COMPLETED for r in runs):
            if time.monotonic() > deadline:
                open_ = [r.execution.workflow_id for r in runs if r.status != COMPLETED]
                pytest.fail(f"{len(open_)} scheduled runs not completed within 30 s: {open_[:10]}")
            await asyncio.sleep(0.2)
            runs = await scheduled_runs(client, sid)

    seconds = [nominal_second(r.execution.workflow_id, action_id) for r in runs]
    print(f"[schedule-failover] {len(runs)} runs, {utc(min(seconds))} .. {utc(max(seconds))}")
    problems = timeline_problems(seconds)
    assert not problems, f"{len(problems)} problems in the schedule's runs:\n" + "\n".join(problems)
    first, last = min(seconds), max(seconds)
    assert int(t0) + 1 <= first <= int(t1) + 1, (utc(first), utc(t0), utc(t1))
    assert first <= last_before_kill < kill_at, (utc(first), utc(last_before_kill), utc(kill_at))
    assert last >= taken_at + AFTER_TAKEOVER_S, (utc(last), utc(taken_at))
    # The seconds due while the shard had no owner were started by the new owner, after the kill.
    orphaned = [r for r, s in zip(runs, seconds) if kill_at + 1 <= s < taken_at - 1]
    assert orphaned, "no second fell between the kill and the takeover"
    early = [r.execution.workflow_id for r in orphaned if r.start_time.ToNanoseconds() / 1e9 < kill_at]
    assert not early, f"runs due after the kill started before it: {early}"
    info = desc.info
    assert (info.missed_catchup_window, info.overlap_skipped, info.buffer_dropped) == (0, 0, 0), info
    assert info.action_count == len(runs), (info.action_count, len(runs))
