"""A paused shard owner cannot write after its shards were taken over (range-id fencing).

Three replicas with the default heartbeat (1 s) and member ttl (5 s). Replica A owns some
shards; workflows whose ids hash to A's shards (and a few on the others' shards, as a control)
each sleep on an 8 s durable timer. A is SIGSTOPped while those timers are pending in its timer
queue; the others take A's shards over (range_id + 1) and fire the timers. A stays stopped
until the timers are due plus a few seconds, then gets SIGCONT: its timer queue still holds
the timers and its in-memory state still says it owns the shards, so it tries to fire them
again. Those writes must be refused by the database (A logs "write refused"), or A notices
the takeover from its lease refresh first ("shard taken over by another member").

Either way every workflow completes exactly once, with one TimerStarted and one TimerFired,
and A gets shards again only by acquiring them anew (a higher range) through the normal
rebalancing once it is live again.

Workers connect only to the other replicas: A's only role is owning (and losing) shards, so
the tasks of A's workflows reach those workers through cross-replica task matching. The task
queue is chosen so that its own shard (where its matching lives) is not one of A's.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import timedelta

from temporalio import workflow
from temporalio.api.enums.v1 import EventType

from endure_cluster import (
    Cluster,
    connect,
    queue_shard,
    start_cluster,
    wait_routable,
    workflow_ids,
)
from endure_testing.histories import history_problems
from endure_testing.sdk import new_worker
from endure_testing.servers import parse_time

TIMER = timedelta(seconds=8)
ON_A = 40  # workflows on A's shards
ELSEWHERE = 12  # on the other replicas' shards (control)
AFTER_DUE_S = 3.0  # A stays stopped this long after the last of its timers is due
AFTER_CONT_S = 5.0


@workflow.defn
class SleepThenDone:
    @workflow.run
    async def run(self, n: int) -> str:
        await workflow.sleep(TIMER)
        return f"slept-{n}"


def user_timers(cluster: Cluster) -> dict[str, tuple[int, float]]:
    """workflow id -> (shard, fire time in Unix seconds) of the pending user timers."""
    rows = cluster.db.query(
        "SELECT workflow_id, shard_id, convert_from(data, 'UTF8')::jsonb->>'fire_at' FROM tasks "
        "WHERE fire_at IS NOT NULL AND convert_from(data, 'UTF8')::jsonb->>'kind' = 'UserTimer'"
    )
    return {wf: (int(shard), int(fire_ns) / 1e9) for wf, shard, fire_ns in rows}


async def test_paused_owner_cannot_write(cluster: Cluster):
    replicas = await start_cluster(cluster, 3)
    a, others = replicas[0], replicas[1:]
    ns_id = await asyncio.to_thread(cluster.db.namespace_id, "default")
    leases_before = await asyncio.to_thread(cluster.db.leases)
    a_shards = sorted(s for s, (o, _) in leases_before.items() if o == a.member_id)
    assert a_shards, f"{a.name} owns no shard: {leases_before}"

    # Workflow ids: ON_A on A's shards, ELSEWHERE on the others'.
    prefix = f"fence-{int(time.time() * 1000)}"
    on_a = workflow_ids(ns_id, prefix + "-a", ON_A, lambda s: s in a_shards)
    elsewhere = workflow_ids(ns_id, prefix + "-e", ELSEWHERE, lambda s: s not in a_shards)
    ids = on_a + elsewhere

    clients = [await connect(r) for r in others]
    # The task queue's matching lives on the owner of the queue's shard, and pollers on any
    # replica are forwarded there. Keep it off A: a poll forwarded to a paused replica waits
    # for its whole deadline, which is another test's subject (ENDURE_TEST_FENCING_QUEUE_ON_A=1
    # puts it on A).
    queue_on_a = os.environ.get("ENDURE_TEST_FENCING_QUEUE_ON_A") == "1"
    k = 0
    while True:
        task_queue = f"fence-{os.getpid()}-{int(time.time())}-{k}"
        k += 1
        if (queue_shard(ns_id, task_queue) in a_shards) == queue_on_a:
            break
    workers = [new_worker(c, task_queue, [SleepThenDone]) for c in clients]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    stopped = False
    try:
        for n, wf_id in enumerate(ids):
            await clients[n % 2].start_workflow(SleepThenDone.run, n, id=wf_id, task_queue=task_queue)

        # Every timer is started (its task row is in the store) before A is paused.
        deadline = time.monotonic() + 30
        while len(timers := await asyncio.to_thread(user_timers, cluster)) < len(ids):
            assert time.monotonic() < deadline, (
                f"only {len(timers)} of {len(ids)} timers started within 30 s (the tasks of A's "
                "workflows reach the workers on the other replicas only through cross-replica matching)"
            )
            await asyncio.sleep(0.2)
        wrong = {wf: s for wf, (s, _) in timers.items() if wf in on_a and s not in a_shards}
        assert not wrong, f"our copy of the shard hash disagrees with the server's: {wrong}"
        a_due = max(t for wf, (_, t) in timers.items() if wf in on_a)
        first_due = min(t for wf, (_, t) in timers.items() if wf in on_a)

        stop_time = a.pause()
        stopped = True
        assert first_due > stop_time, (
            f"A's first timer was due {stop_time - first_due:.1f}s before A was paused: the setup "
            "was too slow for the test to mean anything"
        )
        print(
            f"\n[fencing] SIGSTOP {a.name} ({a.member_id}, shards {a_shards}); "
            f"its {len(on_a)} timers are due in {first_due - stop_time:.1f}..{a_due - stop_time:.1f}s"
        )

        # The others take every one of A's shards (range_id + 1).
        deadline = time.monotonic() + 30
        while True:
            leases = await asyncio.to_thread(cluster.db.leases)
            taken = {
                s: leases[s]
                for s in a_shards
                if leases[s][0] not in ("", a.member_id) and leases[s][1] > leases_before[s][1]
            }
            if len(taken) == len(a_shards):
                break
            assert time.monotonic() < deadline, (
                f"A's shards not taken over 30 s after SIGSTOP: {len(taken)}/{len(a_shards)}; leases {leases}"
            )
            await asyncio.sleep(0.1)
        takeover = time.time() - stop_time
        print(f"[fencing] A's shards taken over {takeover:.1f}s after SIGSTOP: {taken}")

        # Keep A stopped until its timers are due (the new owners fire them) plus a bit.
        await asyncio.sleep(max(0.0, a_due + AFTER_DUE_S - time.time()))
        fired_while_stopped = len(ids) - len(await asyncio.to_thread(user_timers, cluster))
        completed_while_stopped = int(
            await asyncio.to_thread(cluster.db.scalar, "SELECT count(*) FROM visibility WHERE status = 2")
        )
        cont_time = a.resume()
        stopped = False
        await asyncio.sleep(AFTER_CONT_S)
        assert a.alive(), f"{a.name} exited after SIGCONT (code {a.proc.returncode})"

        refusals = a.records("write refused", since=cont_time - 0.5)
        # The message before "write refused" was added, for the same event (a fenced commit
        # refused by the database, after which the engine forgets the shard).
        fence_lost = a.records("shard lost", since=cont_time - 0.5)
        noticed = a.records("shard taken over by another member", since=cont_time - 0.5)
        print(
            f"[fencing] while A was stopped {fired_while_stopped}/{len(ids)} timers fired and "
            f"{completed_while_stopped}/{len(ids)} workflows completed; after SIGCONT A "
            f"logged {len(refusals)} 'write refused', {len(fence_lost)} 'shard lost' (refused fenced write), "
            f"{len(noticed)} 'shard taken over by another member'"
        )
        for r in (refusals + fence_lost + noticed)[:8]:
            print(f"[fencing]   {json.dumps(r)}")
        if not (refusals or fence_lost):
            print(
                "[fencing] NOTICE: A wrote nothing that the database had to refuse (it noticed the "
                "takeover from its lease refresh before its timers fired)"
            )
        assert refusals or fence_lost or noticed, (
            "after SIGCONT, A logged neither 'write refused' nor 'shard taken over by another member'"
        )
        for r in refusals + fence_lost:
            s = int(r.get("shard", -1))
            assert s in a_shards, f"A had a write refused on shard {s}, which it never lost: {r}"

        # A is live again: the others hand its shards back. Wait for that (and for every replica
        # to route to the new owners) before the checks, so they test fencing, not routing.
        await asyncio.to_thread(cluster.wait_settled, [a, *others])
        lag = await wait_routable(cluster, [a, *others])
        print(f"[fencing] rebalanced after SIGCONT; routing consistent through every replica {time.time() - cont_time:.1f}s after SIGCONT")

        # Every workflow completes exactly once, with one timer started and fired.
        lags: list[tuple[float, str, list]] = []  # (TimerFired -> completed seconds, id, events)

        async def check(n: int, wf_id: str) -> list[str]:
            h = clients[n % 2].get_workflow_handle(wf_id)
            try:
                result = await asyncio.wait_for(h.result(), timeout=60)
            except asyncio.TimeoutError:
                return [f"{wf_id}: no result within 60 s"]
            problems = [] if result == f"slept-{n}" else [f"{wf_id}: result {result!r}"]
            events = list((await h.fetch_history()).events)
            fired = [e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
            if fired:
                lags.append((_ts(events[-1]) - _ts(fired[0]), wf_id, events))
            return problems + history_problems(wf_id, events)

        problems = [p for ps in await asyncio.gather(*(check(n, w) for n, w in enumerate(ids))) for p in ps]
        assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:20])
        lags.sort(key=lambda x: x[0])
        slow_lag, slow_id, slow_events = lags[-1]
        t0 = _ts(slow_events[0])
        print(
            f"[fencing] every workflow completed once; timer fired -> completed: median "
            f"{lags[len(lags) // 2][0]:.1f}s, max {slow_lag:.1f}s ({sum(1 for l in lags if l[0] > 5)} over 5 s). "
            f"Slowest, {slow_id}: "
            + ", ".join(
                f"{e.event_id}:{EventType.Name(e.event_type).removeprefix('EVENT_TYPE_')}@{_ts(e) - t0:.1f}"
                + (f"[{e.workflow_task_started_event_attributes.identity}]"
                   if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED else "")
                for e in slow_events
            )
        )
        n_completed = (await clients[0].count_workflows(f'WorkflowId STARTS_WITH "{prefix}-"')).count
        assert n_completed == len(ids), f"{n_completed} runs for {len(ids)} workflow ids"

        # Each taken shard's range went up; A gets shards back only by new acquisitions, after
        # it is live again, at a range above the takeover's.
        for s, (owner, rng) in taken.items():
            assert rng > leases_before[s][1], f"shard {s}: range {leases_before[s][1]} -> {rng}"
        reacquired = {
            int(r["shard"]): int(r["range"])
            for r in a.records("acquired shard", since=stop_time)
        }
        for s, rng in reacquired.items():
            assert s not in taken or rng > taken[s][1], (
                f"A re-acquired shard {s} at range {rng}, not above the takeover's {taken[s][1]}"
            )
        early = [
            r for r in a.records("acquired shard", since=stop_time)
            if parse_time(r["timestamp"]) < cont_time
        ]
        assert not early, f"A acquired shards while it was stopped?! {early}"
        final = await asyncio.to_thread(cluster.db.leases)
        mine = sorted(s for s, (o, _) in final.items() if o == a.member_id)
        assert mine, f"A owns no shard after rejoining: {final}"
        print(f"[fencing] after rejoining A owns {mine} (re-acquired {sorted(reacquired)}); final leases {final}")
    finally:
        if stopped:
            a.resume()
        for w, t in zip(workers, tasks):
            if not t.done():
                try:
                    await asyncio.wait_for(w.shutdown(), timeout=10)
                except BaseException:  # noqa: BLE001
                    t.cancel()


def _ts(event) -> float:
    return event.event_time.ToDatetime().timestamp()
