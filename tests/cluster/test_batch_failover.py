"""kill -9 of the replica that holds a batch job: another takes it over and the job resumes from
its checkpoint, every workflow signalled exactly once.

Three replicas on one PostgreSQL database (default settings: heartbeat 1 s, member ttl 5 s). A
batch job is a system run whose workflow id is the job id, on the shard of (namespace, job id),
worked in steps that commit a checkpoint after every item. The job id is picked so that its shard
(placement asked of the binary, ``endure debug shards``) is owned by a replica that is neither
the client's nor the SDK worker's; the ~60 target workflows and the task queue's matching are on
the other replicas' shards, so only the job moves. A signal batch over them (explicit executions,
``max_operations_per_second=20``) is started; once some items (not all) are done the job's owner
is SIGKILLed. A survivor takes the shard over once the dead replica's membership lapses and the
job resumes (not from zero): it completes with total = complete = item count, no failure, and
every workflow got the signal exactly once (its history) and saw it once (its result).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.batch.v1 import BatchOperationSignal
from temporalio.api.common.v1 import Payloads, WorkflowExecution
from temporalio.api.enums.v1 import BatchOperationState, EventType
from temporalio.api.workflowservice.v1 import (
    DescribeBatchOperationRequest,
    DescribeBatchOperationResponse,
    StartBatchOperationRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.converter import DataConverter

from endure_cluster import Cluster, connect, queue_shard, shard_of, start_cluster, workflow_ids
from endure_testing.sdk import new_worker

NS = "default"
CONV = DataConverter.default.payload_converter
BATCH_RUNNING = BatchOperationState.BATCH_OPERATION_STATE_RUNNING
BATCH_COMPLETED = BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
ITEMS = 60
KILL_AFTER = 15  # items done before the kill
TAKEOVER_LIMIT_S = 30.0
WFT_TIMEOUT = timedelta(seconds=3)


@workflow.defn(name="FailoverPokeCounter")
class FailoverPokeCounter:
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


async def describe_batch(client: Client, job_id: str) -> DescribeBatchOperationResponse:
    # retry: while the job's shard has no owner (or routing lags the lease) it is UNAVAILABLE.
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


async def wait_idle(handle: WorkflowHandle, timeout: float = 30.0) -> list:
    """Until the last workflow task completed and nothing happened after it; the history."""
    deadline = time.monotonic() + timeout
    while True:
        events = (await handle.fetch_history()).events
        types = [e.event_type for e in events]
        wft = [
            i
            for i, t in enumerate(types)
            if t
            in (
                EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
            )
        ]
        if wft and types[wft[-1]] == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and wft[-1] == len(types) - 1:
            return list(events)
        if time.monotonic() > deadline:
            pytest.fail(f"workflow {handle.id} not idle within {timeout:.0f}s: {[EventType.Name(t) for t in types]}")
        await asyncio.sleep(0.05)


async def test_batch_resumes_after_owner_kill9(cluster: Cluster):
    replicas = await start_cluster(cluster, 3)
    ns_id = await asyncio.to_thread(cluster.db.namespace_id, "default")
    owners = await asyncio.to_thread(cluster.owners)
    client_replica, worker_replica, victim = replicas
    stamp = int(time.time() * 1000)
    # The job on the third replica's shards: neither the client's nor the worker's.
    job_id = next(
        j
        for j in (f"batch-failover-{stamp}-{k}" for k in range(1000))
        if owners[shard_of(ns_id, j)] == victim.member_id
    )
    shard = shard_of(ns_id, job_id)
    survivors = [client_replica, worker_replica]
    victim_shards = sorted(s for s, o in owners.items() if o == victim.member_id)
    # The targets and the task queue's matching on survivors' shards: only the job moves.
    targets = await asyncio.to_thread(
        workflow_ids, ns_id, f"poke-{stamp}", ITEMS, lambda s: owners[s] != victim.member_id
    )
    task_queue = next(
        q
        for q in (f"batch-failover-{stamp}-{k}" for k in range(1000))
        if owners[queue_shard(ns_id, q)] != victim.member_id
    )
    client = await connect(client_replica)
    worker_client = await connect(worker_replica, role="worker")

    async with new_worker(worker_client, task_queue, [FailoverPokeCounter]):
        handles = await asyncio.gather(
            *(
                client.start_workflow(
                    FailoverPokeCounter.run, id=wf, task_queue=task_queue, task_timeout=WFT_TIMEOUT
                )
                for wf in targets
            )
        )
        await asyncio.gather(*(wait_idle(h) for h in handles))
        await client.workflow_service.start_batch_operation(
            StartBatchOperationRequest(
                namespace=NS,
                job_id=job_id,
                reason="failover",
                executions=[WorkflowExecution(workflow_id=h.id) for h in handles],
                max_operations_per_second=20,
                signal_operation=BatchOperationSignal(
                    signal="poke", input=Payloads(payloads=CONV.to_payloads([job_id])), identity="failover-test"
                ),
            )
        )
        before = await wait_batch(
            client, job_id, lambda d: d.complete_operation_count + d.failure_operation_count >= KILL_AFTER,
            f"{KILL_AFTER} items done",
        )
        seen = before.complete_operation_count + before.failure_operation_count
        assert before.state == BATCH_RUNNING and seen < ITEMS, (
            f"the job was not mid-way when it was to be killed: {seen}/{ITEMS}, state {before.state}"
        )

        kill_at = await asyncio.to_thread(victim.kill9)
        print(
            f"\n[batch-failover] job shard {shard}; {seen}/{ITEMS} done; kill -9 {victim.name} "
            f"({victim.member_id}, shards {victim_shards})"
        )
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

        after = await describe_batch(client, job_id)
        resumed = after.complete_operation_count + after.failure_operation_count
        print(
            f"[batch-failover] shard {shard} owned by {new_owner} {taken_at - kill_at:.1f}s after the kill; "
            f"{resumed}/{ITEMS} done when first described after it (the describe retries while routing lags)"
        )
        assert resumed >= seen, f"{seen} items done before the kill, {resumed} after the takeover"

        d = await wait_batch(client, job_id, lambda d: d.state != BATCH_RUNNING, "end", timeout=30)
        print(f"[batch-failover] job ended {time.time() - kill_at:.1f}s after the kill")
        assert d.state == BATCH_COMPLETED, d
        assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (
            ITEMS,
            ITEMS,
            0,
        ), d

        # Every workflow idle (no signal waiting for a workflow task): each history holds
        # exactly one `poke`.
        histories = await asyncio.gather(*(wait_idle(h) for h in handles))

        def pokes(events) -> int:
            return sum(
                1
                for e in events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
                and e.workflow_execution_signaled_event_attributes.signal_name == "poke"
            )

        # When the pokes arrived (server event times): the ones after the kill are the new owner's.
        times = sorted(
            e.event_time.ToNanoseconds() / 1e9
            for events in histories
            for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        )
        after_kill = [t for t in times if t > kill_at]
        first = f"{after_kill[0] - kill_at:.1f}s" if after_kill else "-"
        print(
            f"[batch-failover] {len(times) - len(after_kill)} signals before the kill, {len(after_kill)} "
            f"after it (the first {first} after the kill)"
        )
        wrong = {h.id: n for h, n in zip(handles, map(pokes, histories)) if n != 1}
        assert not wrong, f"{len(wrong)} workflows did not get exactly one signal: {dict(list(wrong.items())[:10])}"

        # And each workflow saw it once, with the batch's input.
        await asyncio.gather(*(h.signal(FailoverPokeCounter.finish) for h in handles))
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=30)
        bad = {h.id: r for h, r in zip(handles, results) if r != [job_id]}
        assert not bad, f"{len(bad)} workflows saw other pokes: {dict(list(bad.items())[:10])}"
