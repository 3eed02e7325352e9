"""kill -9 of the replica that holds a standalone activity: a survivor takes it over and the
activity goes on, run by an SDK worker on a survivor: a scheduled one is dispatched and
completes, a started one keeps heartbeating and takes a cancellation, a retry timer fires.

Three replicas on one PostgreSQL database (default settings: heartbeat 1 s, member ttl 5 s). A
standalone activity (``client.start_activity``) is the system run
``temporal-sys-activity:<activity id>`` on that id's shard; its dispatch is an outbox task there,
its retry backoff a durable timer task. The replica owning that shard (placement asked of the
binary, ``endure debug shards``) is SIGKILLed; the client, the SDK worker and (unless a test says
otherwise) the task queue's matching are on the other replicas. A survivor takes the shard over
once the dead replica's membership lapses:

* a scheduled activity (no worker before the kill) is dispatched to a worker started after the
  kill on a survivor and completes on its first attempt; also when the task queue's matching
  was on the dead replica too;
* a started activity whose worker polls a survivor keeps heartbeating through the survivors (the
  SDK retries the heartbeats the dead owner cannot take), and a cancellation sent through a
  survivor reaches it with its next heartbeat: it sees CancelledError, the activity is CANCELED;
* a retry backoff timer set before the kill fires after the takeover: the second attempt runs
  on a survivor's worker, not before it was due, and succeeds.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import ActivityExecutionStatus, ActivityFailureError, Client, PendingActivityState
from temporalio.common import RetryPolicy
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError, CancelledError

from endure_cluster import Cluster, Replica, connect, queue_shard, shard_of, start_cluster, workflow_ids
from endure_testing.sdk import new_worker

ST = ActivityExecutionStatus
RS = PendingActivityState
PC = DataConverter.default.payload_converter
TAKEOVER_LIMIT_S = 20.0
WAIT_S = 20.0
# The SDK's heartbeat throttle (0.8 x the heartbeat timeout otherwise): a heartbeat every 0.3 s.
HEARTBEAT_THROTTLE = timedelta(milliseconds=300)

# What each attempt saw, by activity id (one entry per attempt).
SEEN: dict[str, list[dict]] = {}


def record(**extra) -> dict:
    info = activity.info()
    entry = {"attempt": info.attempt, "at": time.time(), **extra}
    SEEN.setdefault(info.activity_id, []).append(entry)
    return entry


@activity.defn(name="FailoverEcho")
async def failover_echo(value: str) -> dict:
    record()
    return {"echo": value, "attempt": activity.info().attempt}


@activity.defn(name="FailoverBeater")
async def failover_beater() -> int:
    """Heartbeats a counter every 0.1 s until cancelled."""
    entry = record()
    n = 0
    try:
        while True:
            n += 1
            activity.heartbeat(n)
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        entry["cancelled"] = activity.cancellation_details()
        entry["beats"] = n
        raise


@activity.defn(name="FailoverFlaky")
async def failover_flaky() -> int:
    """Fails its first attempt, succeeds on the next."""
    entry = record()
    if activity.info().attempt == 1:
        entry["failed_at"] = time.time()
        raise ApplicationError("first attempt fails", type="FailoverFlake")
    return activity.info().attempt


ACTIVITIES = [failover_echo, failover_beater, failover_flaky]


def system_run_id(activity_id: str) -> str:
    """The workflow id of a standalone activity's system run (its shard's key)."""
    return f"temporal-sys-activity:{activity_id}"


def worker(client: Client, task_queue: str):
    return new_worker(
        client, task_queue, activities=ACTIVITIES, max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE
    )


async def placement(cluster: Cluster, replicas: list[Replica], activity_id: str):
    """The shard of the activity's run, its owner (the victim), the survivors, the owner table."""
    ns_id = await asyncio.to_thread(cluster.db.namespace_id, "default")
    shard = shard_of(ns_id, system_run_id(activity_id))
    owners = await asyncio.to_thread(cluster.owners)
    victim = cluster.by_member(owners[shard])
    assert victim is not None, f"shard {shard} owned by {owners[shard]}, not a replica of this cluster"
    survivors = [r for r in replicas if r is not victim]
    return ns_id, shard, victim, survivors, owners


def queue_on(ns_id: str, owners: dict[int, str], prefix: str, member_id: str, on: bool = True) -> str:
    """The first task queue ``<prefix>-<k>`` whose matching is (on=True) or is not on `member_id`."""
    return next(
        q for q in (f"{prefix}-{k}" for k in range(1000)) if (owners[queue_shard(ns_id, q)] == member_id) == on
    )


async def kill(cluster: Cluster, victim: Replica, shard: int, label: str) -> float:
    """kill -9 of `victim` (the owner of the activity's `shard`); the time of the kill."""
    victim_shards = await asyncio.to_thread(cluster.shards_of, victim)
    kill_at = await asyncio.to_thread(victim.kill9)
    print(f"\n[{label}] activity shard {shard}; kill -9 {victim.name} ({victim.member_id}, shards {victim_shards})")
    return kill_at


async def wait_takeover(
    cluster: Cluster, victim: Replica, survivors: list[Replica], shard: int, kill_at: float, label: str
) -> float:
    """Waits until a survivor owns `shard`; the time it was seen."""
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
    print(f"[{label}] shard {shard} owned by {new_owner} {taken_at - kill_at:.1f}s after the kill")
    return taken_at


async def kill_and_wait_takeover(
    cluster: Cluster, victim: Replica, survivors: list[Replica], shard: int, label: str
) -> tuple[float, float]:
    """kill -9 of `victim`; waits until a survivor owns `shard`. (kill time, takeover time)"""
    kill_at = await kill(cluster, victim, shard, label)
    return kill_at, await wait_takeover(cluster, victim, survivors, shard, kill_at, label)


async def eventually(check, what: str, timeout: float = WAIT_S, interval: float = 0.1):
    """Polls an async check until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")
        await asyncio.sleep(interval)


def heartbeat_details(desc) -> list:
    return PC.from_payloads(list(desc.raw_info.heartbeat_details.payloads))


async def test_scheduled_activity_completes_after_owner_kill9(cluster: Cluster):
    """Started with no worker; its owner killed; a worker started on a survivor afterwards runs
    it. Two activities on the victim's shards: one whose task queue's matching is on a
    survivor, one whose queue is on the victim too (the queue moves with its shard)."""
    replicas = await start_cluster(cluster, 3)
    stamp = int(time.time() * 1000)
    aid = f"sa-failover-{stamp}"
    ns_id, shard, victim, survivors, owners = await placement(cluster, replicas, aid)
    # A second activity on one of the victim's shards, its queue's matching on the victim.
    [aid_q] = await asyncio.to_thread(
        workflow_ids, ns_id, system_run_id(f"sa-failover-q-{stamp}"), 1,
        lambda s: owners[s] == victim.member_id,
    )
    aid_q = aid_q.removeprefix(system_run_id(""))
    tq = queue_on(ns_id, owners, f"sa-failover-{stamp}", victim.member_id, on=False)
    tq_q = queue_on(ns_id, owners, f"sa-failover-q-{stamp}", victim.member_id, on=True)
    client = await connect(survivors[0])
    worker_client = await connect(survivors[1], role="worker")

    handles = {
        a: await client.start_activity(
            failover_echo, f"value-{a}", id=a, task_queue=q, start_to_close_timeout=timedelta(seconds=10)
        )
        for a, q in ((aid, tq), (aid_q, tq_q))
    }
    for a, h in handles.items():
        d = await h.describe()
        assert (d.status, d.run_state, d.attempt) == (ST.RUNNING, RS.SCHEDULED, 1), (a, d)

    kill_at = await kill(cluster, victim, shard, "sa-failover")
    # The worker starts after the kill, before the takeover: its polls wait (and, for the queue on
    # the killed replica, are retried) until the shard and the queue have moved.
    async with worker(worker_client, tq), worker(worker_client, tq_q):
        await wait_takeover(cluster, victim, survivors, shard, kill_at, "sa-failover")
        for a, h in handles.items():
            where = "queue on a survivor" if a == aid else "queue on the killed replica"
            try:
                result = await asyncio.wait_for(h.result(), timeout=WAIT_S)
            except asyncio.TimeoutError:
                pytest.fail(f"activity {a} ({where}): no result {WAIT_S:.0f}s after the takeover")
            assert result == {"echo": f"value-{a}", "attempt": 1}, (where, result)
            print(f"[sa-failover] {a} ({where}) completed {time.time() - kill_at:.1f}s after the kill")
    for a, h in handles.items():
        d = await h.describe()
        assert (d.status, d.attempt, d.last_worker_identity) == (ST.COMPLETED, 1, worker_client.identity), (a, d)
        assert [e["attempt"] for e in SEEN[a]] == [1], SEEN[a]
        assert SEEN[a][0]["at"] > kill_at


async def test_heartbeating_activity_survives_owner_kill9_and_takes_a_cancel(cluster: Cluster):
    replicas = await start_cluster(cluster, 3)
    stamp = int(time.time() * 1000)
    aid = f"sa-failover-hb-{stamp}"
    ns_id, shard, victim, survivors, owners = await placement(cluster, replicas, aid)
    tq = queue_on(ns_id, owners, f"sa-failover-hb-{stamp}", victim.member_id, on=False)
    client = await connect(survivors[0])
    worker_client = await connect(survivors[1], role="worker")

    async with worker(worker_client, tq):
        handle = await client.start_activity(
            failover_beater, id=aid, task_queue=tq,
            start_to_close_timeout=timedelta(seconds=60), heartbeat_timeout=timedelta(seconds=20),
        )

        async def beating(after: float, more_than: int):
            d = await handle.describe(include_heartbeat_details=True)
            ok = (
                d.status == ST.RUNNING
                and d.total_heartbeat_count > more_than
                and d.last_heartbeat_time is not None
                and d.last_heartbeat_time.timestamp() > after
            )
            return d if ok else None

        before = await eventually(lambda: beating(0, 2), "heartbeats before the kill")
        kill_at, taken_at = await kill_and_wait_takeover(cluster, victim, survivors, shard, "sa-failover-hb")
        [beat_before] = heartbeat_details(before)

        # The survivors record its heartbeats: more of them, newer than the takeover, with
        # details counting on (the same attempt, still running).
        after = await eventually(
            lambda: beating(taken_at, before.total_heartbeat_count + 3), "heartbeats after the takeover"
        )
        [beat_after] = heartbeat_details(after)
        assert (after.attempt, after.run_state) == (1, RS.STARTED), after
        assert beat_after > beat_before, (beat_before, beat_after)
        print(
            f"[sa-failover-hb] heartbeats: {before.total_heartbeat_count} (details {beat_before}) before the "
            f"kill, {after.total_heartbeat_count} (details {beat_after}) "
            f"{after.last_heartbeat_time.timestamp() - kill_at:.1f}s after it"
        )

        # A cancellation through a survivor reaches the activity with its next heartbeat.
        await handle.cancel(reason="after failover")
        with pytest.raises(ActivityFailureError) as raised:
            await asyncio.wait_for(handle.result(), timeout=WAIT_S)
        assert isinstance(raised.value.cause, CancelledError), raised.value.cause

    [attempt] = SEEN[aid]
    details = attempt.get("cancelled")
    assert details is not None and details.cancel_requested, attempt
    d = await handle.describe()
    assert (d.status, d.attempt, d.canceled_reason, d.last_worker_identity) == (
        ST.CANCELED, 1, "after failover", worker_client.identity,
    ), d


async def test_retry_timer_fires_after_owner_kill9(cluster: Cluster):
    replicas = await start_cluster(cluster, 3)
    stamp = int(time.time() * 1000)
    aid = f"sa-failover-retry-{stamp}"
    ns_id, shard, victim, survivors, owners = await placement(cluster, replicas, aid)
    tq = queue_on(ns_id, owners, f"sa-failover-retry-{stamp}", victim.member_id, on=False)
    client = await connect(survivors[0])
    worker_client = await connect(survivors[1], role="worker")

    async with worker(worker_client, tq):
        handle = await client.start_activity(
            failover_flaky, id=aid, task_queue=tq, start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=1.0),
        )

        # The first attempt failed: the activity waits for its retry (a timer on the owner).
        async def waiting():
            d = await handle.describe()
            return d if (d.attempt, d.run_state) == (2, RS.SCHEDULED) else None

        w = await eventually(waiting, "the retry to be scheduled", interval=0.02)
        due = w.next_attempt_schedule_time
        assert due is not None and w.current_retry_interval == timedelta(seconds=2), w
        kill_at, taken_at = await kill_and_wait_takeover(cluster, victim, survivors, shard, "sa-failover-retry")
        assert kill_at < due.timestamp(), f"killed at {kill_at}, after the retry was due ({due})"

        try:
            result = await asyncio.wait_for(handle.result(), timeout=WAIT_S)
        except asyncio.TimeoutError:
            pytest.fail(f"no retry {WAIT_S:.0f}s after the takeover")
        assert result == 2

    first, second = SEEN[aid]
    assert (first["attempt"], second["attempt"]) == (1, 2), SEEN[aid]
    assert first["failed_at"] < kill_at < second["at"], (first, kill_at, second)
    assert second["at"] >= due.timestamp() - 0.05, (second, due)
    print(
        f"[sa-failover-retry] retry due {due.timestamp() - kill_at:.1f}s after the kill, ran "
        f"{second['at'] - kill_at:.1f}s after it ({second['at'] - taken_at:+.1f}s from the takeover)"
    )
    d = await handle.describe()
    assert (d.status, d.attempt, d.last_worker_identity) == (ST.COMPLETED, 2, worker_client.identity), d
