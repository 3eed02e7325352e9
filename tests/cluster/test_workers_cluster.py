"""Worker heartbeats on a cluster: one replica holds a namespace's worker registry (the owner of
the shard of the pseudo task queue `/endure/worker-registry`, crates/endure-server/src/frontend/
forward.rs), and every replica answers ListWorkers, CountWorkers and DescribeWorker from it,
whichever replica a heartbeat arrived at — also the heartbeat a ShutdownWorker call carries,
which runs on its sticky queue's owner and is sent on to the registry's from there."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta

from temporalio import workflow
from temporalio.api.enums.v1 import WorkerStatus
from temporalio.api.worker.v1 import WorkerHeartbeat
from temporalio.api.workflowservice.v1 import (
    CountWorkersRequest,
    DescribeWorkerRequest,
    ListWorkersRequest,
    RecordWorkerHeartbeatRequest,
    ShutdownWorkerRequest,
)
from temporalio.client import Client
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

from endure_cluster import Cluster, connect, queue_shard, start_cluster
from endure_testing.sdk import new_worker

NS = "default"
REGISTRY_QUEUE = "/endure/worker-registry"
RUNNING = WorkerStatus.WORKER_STATUS_RUNNING
SHUTTING_DOWN = WorkerStatus.WORKER_STATUS_SHUTTING_DOWN


@workflow.defn
class Noop:
    @workflow.run
    async def run(self) -> str:
        return "done"


async def listed(client: Client, query: str) -> dict[str, int]:
    """Instance key → status of the workers the query selects, as `client`'s replica lists them."""
    resp = await client.workflow_service.list_workers(ListWorkersRequest(namespace=NS, query=query))
    return {w.worker_heartbeat.worker_instance_key: w.worker_heartbeat.status for w in resp.workers_info}


async def test_every_replica_sees_the_same_workers(cluster: Cluster):
    replicas = await start_cluster(cluster, 3)
    clients = [await connect(r) for r in replicas]
    ns_id = await asyncio.to_thread(cluster.db.namespace_id, NS)
    owners = await asyncio.to_thread(cluster.owners)
    registry_owner = owners[queue_shard(ns_id, REGISTRY_QUEUE)]
    p = f"wk-{os.getpid()}-{int(time.time() * 1000)}"
    tq = f"{p}-tq"
    query = f"TaskQueue = '{tq}'"
    keys = [f"{p}-{i}" for i in range(len(clients))]

    # One worker's heartbeat through each replica.
    for key, c in zip(keys, clients):
        await c.workflow_service.record_worker_heartbeat(
            RecordWorkerHeartbeatRequest(
                namespace=NS,
                identity="cluster-test",
                worker_heartbeat=[WorkerHeartbeat(worker_instance_key=key, task_queue=tq, status=RUNNING)],
            )
        )
    for r, c in zip(replicas, clients):
        assert await listed(c, query) == {k: RUNNING for k in keys}, f"through {r.name}"
        count = await c.workflow_service.count_workers(CountWorkersRequest(namespace=NS, query=query))
        assert count.count == len(keys), f"through {r.name}"
        described = await c.workflow_service.describe_worker(
            DescribeWorkerRequest(namespace=NS, worker_instance_key=keys[0])
        )
        assert described.worker_info.worker_heartbeat.task_queue == tq, f"through {r.name}"

    # ShutdownWorker runs on its sticky queue's owner: sticky queues held by the replicas that
    # do not hold the registry, so the heartbeat is sent on.
    others = [s for s, o in owners.items() if o != registry_owner]
    sticky, n = [], 0
    while len(sticky) < len(clients):
        name = f"{p}-sticky-{n}"
        n += 1
        if queue_shard(ns_id, name) in others:
            sticky.append(name)
    for key, c, queue in zip(keys, clients, sticky):
        await c.workflow_service.shutdown_worker(
            ShutdownWorkerRequest(
                namespace=NS,
                identity="cluster-test",
                sticky_task_queue=queue,
                reason="graceful shutdown",
                worker_heartbeat=WorkerHeartbeat(worker_instance_key=key, task_queue=tq, status=SHUTTING_DOWN),
            )
        )
    for r, c in zip(replicas, clients):
        assert await listed(c, query) == {k: SHUTTING_DOWN for k in keys}, f"through {r.name}"


async def test_an_sdk_workers_heartbeats_reach_every_replica(cluster: Cluster):
    replicas = await start_cluster(cluster, 3)
    runtime = Runtime(
        telemetry=TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))),
        worker_heartbeat_interval=timedelta(seconds=1),
    )
    on_second = await Client.connect(replicas[1].address, namespace=NS, runtime=runtime)
    clients = [await connect(r) for r in replicas]
    tq = f"wk-sdk-{os.getpid()}-{int(time.time() * 1000)}"
    query = f"TaskQueue = '{tq}'"

    async def everywhere(status: int) -> bool:
        seen = [await listed(c, query) for c in clients]
        return all(len(s) == 1 and list(s.values()) == [status] for s in seen) and seen.count(seen[0]) == len(seen)

    async with new_worker(on_second, tq, [Noop]):
        deadline = time.monotonic() + 20
        while not await everywhere(RUNNING):
            assert time.monotonic() < deadline, [await listed(c, query) for c in clients]
            await asyncio.sleep(0.3)
        assert await clients[2].execute_workflow(Noop.run, id=f"{tq}-wf", task_queue=tq) == "done"
    # A stopping SDK worker's last heartbeat (SHUTTING_DOWN) rides on its ShutdownWorker call.
    deadline = time.monotonic() + 20
    while not await everywhere(SHUTTING_DOWN):
        assert time.monotonic() < deadline, [await listed(c, query) for c in clients]
        await asyncio.sleep(0.3)
