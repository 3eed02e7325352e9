"""Worker heartbeats: RecordWorkerHeartbeat, ListWorkers, CountWorkers, DescribeWorker,
and `temporal worker list` / `temporal worker describe`.

What the real server (1.32, dev server defaults: nothing to switch on) does, and these
tests check (the research note behind them: the worker registry of the matching
service, sdk-core's heartbeat sender, CLI 1.9.1):

* The SDKs send heartbeats themselves: sdk-core asks DescribeNamespace for the
  ``worker_heartbeats`` capability, then every ``worker_heartbeat_interval`` (the Python
  SDK's ``Runtime(worker_heartbeat_interval=...)``, default 60 s) sends one
  RecordWorkerHeartbeat per client and namespace carrying a WorkerHeartbeat per worker
  (status RUNNING); a stopping worker's last heartbeat (status SHUTTING_DOWN) rides on
  its ShutdownWorker call. The server keeps, per namespace and worker_instance_key, the
  last heartbeat exactly as sent (a new one replaces the old one whole), in memory.
* A heartbeat with status SHUTDOWN removes the worker. Otherwise a worker that stops
  heartbeating stays listed (e.g. as SHUTTING_DOWN) until it expires:
  ``matching.workerRegistryEntryTTL`` (default 5 min) after its last heartbeat, removed by
  a sweep every ``matching.workerRegistryEvictionInterval`` (default 1 min).
* ListWorkers answers ``workers_info[].worker_heartbeat`` (and the summary ``workers[]``),
  filtered by a SQL-like query over WorkerInstanceKey, WorkerIdentity, HostName,
  TaskQueue, DeploymentName, BuildId, SdkName, SdkVersion, Status / WorkerStatus (the
  enum's short name: 'Running', 'ShuttingDown'), StartTime and HeartbeatTime. Field names
  are case-sensitive; an unknown field matches nothing (no error); a query that does not
  parse is INVALID_ARGUMENT "malformed query: ...". Workers on ``temporal-sys-*`` task
  queues (the server's own) are left out unless ``include_system_workers``. With a
  page_size, pages go in worker_instance_key order.
* DescribeWorker: the heartbeat, or NOT_FOUND "Worker <key> not found".

Heartbeats the tests send themselves (``client.workflow_service.record_worker_heartbeat``,
the RPC the SDKs use) carry fields the tests choose; SDK workers run with a 1 s heartbeat
interval (a Runtime of this module) so that they show up at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import time
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator, Awaitable, Callable, Iterator

import pytest
import pytest_asyncio
import temporalio
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio import activity, workflow
from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.enums.v1 import WorkerStatus
from temporalio.api.errordetails.v1 import NamespaceNotFoundFailure, NotFoundFailure
from temporalio.api.worker.v1 import (
    PluginInfo,
    WorkerHeartbeat,
    WorkerHostInfo,
    WorkerListInfo,
    WorkerPollerInfo,
    WorkerSlotsInfo,
)
from temporalio.api.workflowservice.v1 import (
    CountWorkersRequest,
    DescribeNamespaceRequest,
    DescribeWorkerRequest,
    ListWorkersRequest,
    RecordWorkerHeartbeatRequest,
    RecordWorkerHeartbeatResponse,
    ShutdownWorkerRequest,
)
from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode

from conftest import EXTRA_NAMESPACE, new_worker, start_server, unique
from endure_testing.servers import ServerProcess, temporal_bin

NS = "default"
UNKNOWN_NS = "endure-no-such-namespace"
RPC_TIMEOUT = timedelta(seconds=10)
SEEN_DEADLINE_S = 15.0
CLI_TIMEOUT_S = 60
RESULT_TIMEOUT_S = 30
HEARTBEAT_INTERVAL = timedelta(seconds=1)

RUNNING = WorkerStatus.WORKER_STATUS_RUNNING
SHUTTING_DOWN = WorkerStatus.WORKER_STATUS_SHUTTING_DOWN
SHUTDOWN = WorkerStatus.WORKER_STATUS_SHUTDOWN


# ---------------------------------------------------------------- workflows


@activity.defn(name="WorkersAddOne")
async def add_one(x: int) -> int:
    return x + 1


@workflow.defn(name="WorkersAddOneWorkflow")
class AddOneWorkflow:
    @workflow.run
    async def run(self, x: int) -> int:
        return await workflow.execute_activity(
            add_one, x, start_to_close_timeout=timedelta(seconds=10)
        )


# ---------------------------------------------------------------- helpers

_runtime: Runtime | None = None


def heartbeat_runtime() -> Runtime:
    """One SDK runtime for the module whose workers heartbeat every second."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime(telemetry=TelemetryConfig(), worker_heartbeat_interval=HEARTBEAT_INTERVAL)
    return _runtime


@pytest_asyncio.fixture
async def hb_client(server: ServerProcess) -> AsyncIterator[Client]:
    """A client whose workers send a heartbeat every second."""
    yield await Client.connect(server.address, namespace=NS, runtime=heartbeat_runtime())


def ts(when: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(when)
    return t


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def now_ts() -> Timestamp:
    return ts(datetime.now(timezone.utc))


async def record(client: Client, *heartbeats: WorkerHeartbeat, namespace: str = NS):
    return await client.workflow_service.record_worker_heartbeat(
        RecordWorkerHeartbeatRequest(
            namespace=namespace, identity="test-workers", worker_heartbeat=list(heartbeats)
        ),
        timeout=RPC_TIMEOUT,
    )


async def describe(client: Client, key: str, namespace: str = NS) -> WorkerHeartbeat:
    resp = await client.workflow_service.describe_worker(
        DescribeWorkerRequest(namespace=namespace, worker_instance_key=key), timeout=RPC_TIMEOUT
    )
    return resp.worker_info.worker_heartbeat


async def list_workers(client: Client, query: str = "", namespace: str = NS, **kw):
    return await client.workflow_service.list_workers(
        ListWorkersRequest(namespace=namespace, query=query, **kw), timeout=RPC_TIMEOUT
    )


async def keys(client: Client, query: str, **kw) -> set[str]:
    resp = await list_workers(client, query, **kw)
    return {w.worker_heartbeat.worker_instance_key for w in resp.workers_info}


async def count(client: Client, query: str = "", **kw) -> int:
    resp = await client.workflow_service.count_workers(
        CountWorkersRequest(namespace=NS, query=query, **kw), timeout=RPC_TIMEOUT
    )
    return resp.count


async def rpc_error(call: Awaitable) -> RPCError:
    try:
        await call
    except RPCError as e:
        return e
    raise AssertionError("the call should have failed")


def detail_types(err: RPCError) -> list[str]:
    return [d.type_url.rsplit("/", 1)[-1] for d in (err.grpc_status.details if err.grpc_status else [])]


async def eventually(check: Callable[[], Awaitable], what: str, timeout: float = SEEN_DEADLINE_S):
    """Retry an async check until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last value: {last!r}")
        await asyncio.sleep(0.2)


async def heartbeat_of_queue(client: Client, task_queue: str, pred=lambda hb: True) -> WorkerHeartbeat:
    """The one worker heartbeating on ``task_queue``, once ``pred`` holds for it."""

    async def check():
        resp = await list_workers(client, f"TaskQueue = '{task_queue}'")
        hbs = [w.worker_heartbeat for w in resp.workers_info]
        assert len(hbs) <= 1, hbs
        return hbs[0] if hbs and pred(hbs[0]) else None

    return await eventually(check, f"a heartbeat on {task_queue}")


async def is_gone(client: Client, key: str) -> bool:
    try:
        await describe(client, key)
    except RPCError as e:
        assert e.status == RPCStatusCode.NOT_FOUND, (e.status, e.message)
        return True
    return False


def list_info_of(hb: WorkerHeartbeat) -> WorkerListInfo:
    """The summary ListWorkers gives of a heartbeat in ``workers[]``."""
    return WorkerListInfo(
        worker_instance_key=hb.worker_instance_key,
        worker_identity=hb.worker_identity,
        task_queue=hb.task_queue,
        deployment_version=hb.deployment_version if hb.HasField("deployment_version") else None,
        sdk_name=hb.sdk_name,
        sdk_version=hb.sdk_version,
        status=hb.status,
        start_time=hb.start_time if hb.HasField("start_time") else None,
        host_name=hb.host_info.host_name,
        worker_grouping_key=hb.host_info.worker_grouping_key,
        process_id=hb.host_info.process_id,
        plugins=list(hb.plugins),
    )


def full_heartbeat(key: str, task_queue: str) -> WorkerHeartbeat:
    """A heartbeat with every field an SDK fills in."""
    return WorkerHeartbeat(
        worker_instance_key=key,
        worker_identity="full-identity@host",
        host_info=WorkerHostInfo(
            host_name="full-host",
            worker_grouping_key="grouping-1",
            process_id="4242",
            current_host_cpu_usage=0.25,
            current_host_mem_usage=0.5,
        ),
        task_queue=task_queue,
        deployment_version=WorkerDeploymentVersion(deployment_name="full-dep", build_id="full-build"),
        sdk_name="temporal-test-sdk",
        sdk_version="9.8.7",
        status=RUNNING,
        start_time=ts(utc(2025, 3, 1, 12, 0, 0)),
        heartbeat_time=ts(utc(2025, 3, 1, 12, 5, 0)),
        elapsed_since_last_heartbeat=Duration(seconds=2, nanos=500_000_000),
        workflow_task_slots_info=WorkerSlotsInfo(
            current_available_slots=99,
            current_used_slots=1,
            slot_supplier_kind="Fixed",
            total_processed_tasks=12,
            total_failed_tasks=1,
            last_interval_processed_tasks=3,
            last_interval_failure_tasks=1,
        ),
        activity_task_slots_info=WorkerSlotsInfo(
            current_available_slots=50, slot_supplier_kind="ResourceBased"
        ),
        nexus_task_slots_info=WorkerSlotsInfo(slot_supplier_kind="Fixed"),
        local_activity_slots_info=WorkerSlotsInfo(current_available_slots=100, slot_supplier_kind="Fixed"),
        workflow_poller_info=WorkerPollerInfo(
            current_pollers=2, last_successful_poll_time=ts(utc(2025, 3, 1, 12, 4, 59)), is_autoscaling=True
        ),
        workflow_sticky_poller_info=WorkerPollerInfo(current_pollers=3),
        activity_poller_info=WorkerPollerInfo(current_pollers=4),
        nexus_poller_info=WorkerPollerInfo(),
        total_sticky_cache_hit=7,
        total_sticky_cache_miss=2,
        current_sticky_cache_size=5,
        plugins=[PluginInfo(name="test-plugin", version="0.1")],
    )


# ---------------------------------------------------------------- SDK workers


async def test_sdk_worker_heartbeats_are_listed_and_described(hb_client: Client, task_queue: str):
    """A Python worker's own heartbeats: who it is, and what it has done."""
    async with new_worker(
        hb_client, task_queue, [AddOneWorkflow], [add_one], identity="hb-worker-identity"
    ):
        first = await heartbeat_of_queue(hb_client, task_queue)
        assert first.worker_identity == "hb-worker-identity"
        assert first.task_queue == task_queue
        assert first.status == RUNNING
        assert first.sdk_name == "temporal-python"
        assert first.sdk_version == temporalio.__version__
        assert re.fullmatch(r"[0-9a-f-]{36}", first.worker_instance_key), first.worker_instance_key
        assert first.host_info.host_name == socket.gethostname()
        assert first.host_info.process_id == str(os.getpid())
        assert first.host_info.worker_grouping_key
        assert first.HasField("start_time") and first.HasField("heartbeat_time")
        started = first.start_time.ToDatetime(timezone.utc)
        assert abs((datetime.now(timezone.utc) - started).total_seconds()) < 60
        assert first.heartbeat_time.ToDatetime(timezone.utc) >= started
        assert first.workflow_task_slots_info.slot_supplier_kind == "Fixed"

        key = first.worker_instance_key
        result = await asyncio.wait_for(
            hb_client.execute_workflow(
                AddOneWorkflow.run, 41, id=unique("hb-wf"), task_queue=task_queue
            ),
            RESULT_TIMEOUT_S,
        )
        assert result == 42

        # Later heartbeats replace the first: the work done shows up, the time moves on.
        later = await heartbeat_of_queue(
            hb_client,
            task_queue,
            lambda hb: hb.workflow_task_slots_info.total_processed_tasks >= 1
            and hb.activity_task_slots_info.total_processed_tasks >= 1
            and hb.heartbeat_time.ToDatetime() > first.heartbeat_time.ToDatetime(),
        )
        assert later.worker_instance_key == key
        assert later.start_time == first.start_time
        assert later.status == RUNNING
        elapsed = later.elapsed_since_last_heartbeat.ToTimedelta()
        assert timedelta(milliseconds=500) < elapsed < timedelta(seconds=10), elapsed

        described = await describe(hb_client, key)
        assert described.worker_instance_key == key
        assert described.worker_identity == "hb-worker-identity"
        assert described.task_queue == task_queue
        assert described.status == RUNNING
        assert described.start_time == first.start_time
        assert described.heartbeat_time.ToDatetime() >= later.heartbeat_time.ToDatetime()

        # The summary list mirrors the heartbeats.
        resp = await list_workers(hb_client, f"TaskQueue = '{task_queue}'")
        [info] = resp.workers_info
        [summary] = resp.workers
        assert summary == list_info_of(info.worker_heartbeat)
        assert not resp.next_page_token


async def test_sdk_worker_shutdown_leaves_it_shutting_down(hb_client: Client, task_queue: str):
    """A stopped worker stays listed, SHUTTING_DOWN, with no further heartbeats."""
    async with new_worker(hb_client, task_queue, [AddOneWorkflow], [add_one], identity="leaving"):
        running = await heartbeat_of_queue(hb_client, task_queue)
        assert running.status == RUNNING
    key = running.worker_instance_key

    # The ShutdownWorker call of a stopping worker carries its last heartbeat.
    gone = await heartbeat_of_queue(hb_client, task_queue, lambda hb: hb.status == SHUTTING_DOWN)
    assert gone.worker_instance_key == key
    assert gone.worker_identity == "leaving"
    assert gone.heartbeat_time.ToDatetime() >= running.heartbeat_time.ToDatetime()
    assert gone.start_time == running.start_time

    await asyncio.sleep(3 * HEARTBEAT_INTERVAL.total_seconds())
    still = await describe(hb_client, key)
    assert still.status == SHUTTING_DOWN
    assert still.heartbeat_time == gone.heartbeat_time
    assert await keys(hb_client, f"TaskQueue = '{task_queue}' AND Status = 'ShuttingDown'") == {key}
    assert await keys(hb_client, f"TaskQueue = '{task_queue}' AND Status = 'Running'") == set()


async def test_default_runtime_worker_reports_itself_on_shutdown(client: Client, task_queue: str):
    """With the SDK's defaults (first periodic heartbeat after 60 s) a short-lived worker
    still ends up listed: through the heartbeat its ShutdownWorker call carries."""
    async with new_worker(client, task_queue, [AddOneWorkflow], [add_one], identity="short-lived"):
        assert await asyncio.wait_for(
            client.execute_workflow(AddOneWorkflow.run, 1, id=unique("short"), task_queue=task_queue),
            RESULT_TIMEOUT_S,
        ) == 2
    hb = await heartbeat_of_queue(client, task_queue, lambda hb: hb.status == SHUTTING_DOWN)
    assert hb.worker_identity == "short-lived"
    assert hb.sdk_name == "temporal-python"
    assert hb.workflow_task_slots_info.total_processed_tasks >= 1


# ---------------------------------------------------------------- RecordWorkerHeartbeat / DescribeWorker


async def test_heartbeat_is_stored_as_sent(client: Client):
    key, tq = unique("full"), unique("tq-full")
    sent = full_heartbeat(key, tq)
    assert await record(client, sent) == RecordWorkerHeartbeatResponse()

    assert await describe(client, key) == sent
    resp = await list_workers(client, f"WorkerInstanceKey = '{key}'")
    assert [w.worker_heartbeat for w in resp.workers_info] == [sent]
    assert list(resp.workers) == [list_info_of(sent)]
    assert resp.workers[0].host_name == "full-host"
    assert resp.workers[0].process_id == "4242"
    assert resp.workers[0].worker_grouping_key == "grouping-1"


async def test_a_heartbeat_replaces_the_previous_one_whole(client: Client):
    key, tq = unique("replace"), unique("tq-replace")
    await record(client, full_heartbeat(key, tq))
    smaller = WorkerHeartbeat(worker_instance_key=key, task_queue=tq, sdk_name="other-sdk", status=RUNNING)
    await record(client, smaller)
    assert await describe(client, key) == smaller

    # Several heartbeats in one request; the same key twice: the last one wins.
    a, b = unique("multi-a"), unique("multi-b")
    await record(
        client,
        WorkerHeartbeat(worker_instance_key=a, task_queue="first-queue"),
        WorkerHeartbeat(worker_instance_key=b, task_queue=tq),
        WorkerHeartbeat(worker_instance_key=a, task_queue="second-queue"),
    )
    assert (await describe(client, a)).task_queue == "second-queue"
    assert (await describe(client, b)).task_queue == tq

    # An empty request is fine.
    assert await record(client) == RecordWorkerHeartbeatResponse()


async def test_shutdown_status_removes_the_worker(client: Client):
    key, tq = unique("stopping"), unique("tq-stopping")
    await record(client, WorkerHeartbeat(worker_instance_key=key, task_queue=tq, status=RUNNING))
    await record(client, WorkerHeartbeat(worker_instance_key=key, task_queue=tq, status=SHUTTING_DOWN))
    assert (await describe(client, key)).status == SHUTTING_DOWN
    await record(client, WorkerHeartbeat(worker_instance_key=key, task_queue=tq, status=SHUTDOWN))
    assert await is_gone(client, key)
    assert await keys(client, f"TaskQueue = '{tq}'") == set()

    # A worker first heard of as SHUTDOWN is never listed.
    never = unique("never")
    await record(client, WorkerHeartbeat(worker_instance_key=never, task_queue=tq, status=SHUTDOWN))
    assert await is_gone(client, never)

    # A heartbeat after that brings it back.
    await record(client, WorkerHeartbeat(worker_instance_key=key, task_queue=tq, status=RUNNING))
    assert (await describe(client, key)).status == RUNNING


async def test_shutdown_worker_records_the_heartbeat_it_carries(client: Client):
    key, tq = unique("sw"), unique("tq-sw")
    await record(client, WorkerHeartbeat(worker_instance_key=key, task_queue=tq, status=RUNNING))

    # Without a heartbeat ShutdownWorker leaves the registry alone.
    await client.workflow_service.shutdown_worker(
        ShutdownWorkerRequest(
            namespace=NS, identity="sw", worker_instance_key=key, task_queue=tq, reason="bye"
        ),
        timeout=RPC_TIMEOUT,
    )
    assert (await describe(client, key)).status == RUNNING

    last = WorkerHeartbeat(
        worker_instance_key=key,
        task_queue=tq,
        status=SHUTTING_DOWN,
        worker_identity="sw",
        heartbeat_time=now_ts(),
    )
    await client.workflow_service.shutdown_worker(
        ShutdownWorkerRequest(namespace=NS, identity="sw", reason="bye", worker_heartbeat=last),
        timeout=RPC_TIMEOUT,
    )
    assert await describe(client, key) == last

    await client.workflow_service.shutdown_worker(
        ShutdownWorkerRequest(
            namespace=NS,
            identity="sw",
            worker_instance_key=key,
            worker_heartbeat=WorkerHeartbeat(worker_instance_key=key, task_queue=tq, status=SHUTDOWN),
        ),
        timeout=RPC_TIMEOUT,
    )
    assert await is_gone(client, key)


async def test_describe_worker_errors_and_namespaces(client: Client):
    here, there = unique("here"), unique("there")
    await record(client, WorkerHeartbeat(worker_instance_key=here, task_queue="q"))
    await record(
        client, WorkerHeartbeat(worker_instance_key=there, task_queue="q"), namespace=EXTRA_NAMESPACE
    )

    # Workers belong to their namespace.
    assert (await describe(client, there, namespace=EXTRA_NAMESPACE)).worker_instance_key == there
    err = await rpc_error(describe(client, there))
    assert err.status == RPCStatusCode.NOT_FOUND
    assert err.message == f"Worker {there} not found"
    assert detail_types(err) == ["temporal.api.errordetails.v1.NotFoundFailure"]
    err.grpc_status.details[0].Unpack(NotFoundFailure())
    assert await keys(client, f"WorkerInstanceKey = '{there}'") == set()
    assert await keys(client, f"WorkerInstanceKey = '{here}'", namespace=EXTRA_NAMESPACE) == set()

    for call in (
        lambda ns: describe(client, here, namespace=ns),
        lambda ns: list_workers(client, namespace=ns),
        lambda ns: record(client, WorkerHeartbeat(worker_instance_key=here), namespace=ns),
    ):
        err = await rpc_error(call(UNKNOWN_NS))
        assert err.status == RPCStatusCode.NOT_FOUND
        assert err.message == f"Namespace {UNKNOWN_NS} is not found."
        assert detail_types(err) == ["temporal.api.errordetails.v1.NamespaceNotFoundFailure"]
        failure = NamespaceNotFoundFailure()
        err.grpc_status.details[0].Unpack(failure)
        assert failure.namespace == UNKNOWN_NS

        err = await rpc_error(call(""))
        assert err.status == RPCStatusCode.INVALID_ARGUMENT
        assert err.message == "Namespace is empty."


async def test_namespace_advertises_worker_heartbeats(client: Client):
    """sdk-core sends heartbeats only to a namespace with this capability."""
    resp = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=NS), timeout=RPC_TIMEOUT
    )
    assert resp.namespace_info.capabilities.worker_heartbeats is True


# ---------------------------------------------------------------- ListWorkers query language


@pytest_asyncio.fixture
async def population(client: Client) -> dict[str, str]:
    """Four workers with known fields, under a prefix of their own (keys p-a .. p-d)."""
    p = unique("pop")
    tq1, tq2 = f"{p}-tq-one", f"{p}-tq-two"
    k = {name: f"{p}-{name}" for name in "abcd"}
    await record(
        client,
        WorkerHeartbeat(
            worker_instance_key=k["a"],
            worker_identity="ident-a",
            host_info=WorkerHostInfo(host_name="host-1", process_id="1"),
            task_queue=tq1,
            deployment_version=WorkerDeploymentVersion(deployment_name="dep-x", build_id="build-1"),
            sdk_name="sdk-one",
            sdk_version="1.0.0",
            status=RUNNING,
            start_time=ts(utc(2024, 1, 1)),
            heartbeat_time=ts(utc(2024, 6, 1)),
        ),
        WorkerHeartbeat(
            worker_instance_key=k["b"],
            worker_identity="ident-b",
            host_info=WorkerHostInfo(host_name="host-2", process_id="2"),
            task_queue=tq1,
            deployment_version=WorkerDeploymentVersion(deployment_name="dep-x", build_id="build-2"),
            sdk_name="sdk-two",
            sdk_version="2.0.0",
            status=SHUTTING_DOWN,
            start_time=ts(utc(2025, 1, 1)),
            heartbeat_time=ts(utc(2025, 6, 1)),
        ),
        WorkerHeartbeat(
            worker_instance_key=k["c"],
            worker_identity="Ident-c",
            host_info=WorkerHostInfo(host_name="host-2", process_id="3"),
            task_queue=tq2,
            deployment_version=WorkerDeploymentVersion(build_id="build-2"),
            sdk_name="sdk-one",
            sdk_version="1.0.1",
            status=RUNNING,
            start_time=ts(utc(2026, 1, 1)),
            heartbeat_time=ts(utc(2026, 6, 1)),
        ),
        # Nothing but a key and a queue.
        WorkerHeartbeat(worker_instance_key=k["d"], task_queue=tq2),
    )
    return {"prefix": p, "tq1": tq1, "tq2": tq2, **k}


async def test_query_on_each_field(client: Client, population: dict[str, str]):
    pop = population
    p = pop["prefix"]

    async def matching(cond: str) -> set[str]:
        got = await keys(client, f"WorkerInstanceKey starts_with '{p}-' AND ({cond})")
        return {key.rsplit("-", 1)[1] for key in got}

    assert await matching("TaskQueue != 'none'") == set("abcd")
    cases = {
        f"WorkerInstanceKey = '{pop['a']}'": "a",
        "WorkerIdentity = 'ident-a'": "a",
        "HostName = 'host-2'": "bc",
        f"TaskQueue = '{pop['tq1']}'": "ab",
        "DeploymentName = 'dep-x'": "ab",
        "BuildId = 'build-2'": "bc",
        "SdkName = 'sdk-one'": "ac",
        "SdkVersion = '2.0.0'": "b",
        "Status = 'Running'": "ac",
        "WorkerStatus = 'ShuttingDown'": "b",
        "Status = 'Unspecified'": "d",
        "StartTime > '2024-06-01T00:00:00Z'": "bc",
        "StartTime >= '2025-01-01T00:00:00Z'": "bc",
        # A missing time compares as the Unix epoch (but is never BETWEEN anything).
        "StartTime < '2025-01-01T00:00:00Z'": "ad",
        "StartTime <= '2025-01-01T00:00:00Z'": "abd",
        "StartTime < '1971-01-01T00:00:00Z'": "d",
        "StartTime = '2026-01-01T00:00:00Z'": "c",
        "HeartbeatTime BETWEEN '2025-01-01T00:00:00Z' AND '2026-12-31T00:00:00Z'": "bc",
        "HeartbeatTime < '2024-12-31T23:59:59+00:00'": "ad",
        "HeartbeatTime BETWEEN '1960-01-01T00:00:00Z' AND '2024-12-31T00:00:00Z'": "a",
        f"TaskQueue starts_with '{p}-tq-t'": "cd",
        "SdkName not starts_with 'sdk-o'": "bd",
        f"TaskQueue != '{pop['tq1']}'": "cd",
        "HostName IS NULL": "d",
        "DeploymentName IS NOT NULL": "ab",
        "StartTime IS NULL": "d",
        "HeartbeatTime IS NOT NULL": "abc",
        f"TaskQueue = '{pop['tq2']}' AND SdkName = 'sdk-one'": "c",
        "SdkVersion = '2.0.0' OR WorkerIdentity = 'Ident-c'": "bc",
        f"(Status = 'Running' OR Status = 'ShuttingDown') AND TaskQueue = '{pop['tq1']}'": "ab",
        'WorkerIdentity = "ident-b"': "b",
        # Values are case-sensitive.
        "WorkerIdentity = 'ident-c'": "",
        # Field names are case-sensitive, and unknown ones match nothing.
        f"taskqueue = '{pop['tq1']}'": "",
        "LastHeartbeatTime > '2020-01-01T00:00:00Z'": "",
        "NoSuchField = 'x'": "",
        # The enum's full name is not a Status value.
        "Status = 'WORKER_STATUS_RUNNING'": "",
    }
    for cond, expected in cases.items():
        assert await matching(cond) == set(expected), cond

    # Conditions are evaluated left to right, AND and OR short-circuiting; reaching a
    # condition on an unknown field drops the worker (the query is no error).
    assert await matching("SdkName = 'sdk-two' OR NoSuchField = 'x'") == {"b"}
    assert await matching("NoSuchField = 'x' OR SdkName = 'sdk-two'") == set()
    assert await matching("SdkName = 'sdk-two' AND NoSuchField = 'x'") == set()
    assert await matching("SdkName = 'sdk-one' OR (SdkName = 'sdk-two' AND NoSuchField = 'x')") == {"a", "c"}


async def test_query_errors(client: Client):
    for query in ("TaskQueue = '", "TaskQueue = 'a' AND"):
        for call in (list_workers(client, query), count(client, query)):
            err = await rpc_error(call)
            assert err.status == RPCStatusCode.INVALID_ARGUMENT, (query, err.message)
            assert err.message.startswith("malformed query: syntax error at position"), err.message
            assert detail_types(err) == []
    err = await rpc_error(list_workers(client, "TaskQueue = 'a' LIMIT 1"))
    assert err.status == RPCStatusCode.INVALID_ARGUMENT
    assert err.message == "operation is not supported: 'limit' clause"


async def test_paging_in_instance_key_order(client: Client):
    tq = unique("tq-pages")
    names = [f"{unique('page')}-{i}" for i in range(5)]
    await record(client, *[WorkerHeartbeat(worker_instance_key=n, task_queue=tq) for n in reversed(names)])
    query = f"TaskQueue = '{tq}'"

    pages, token = [], b""
    while True:
        resp = await list_workers(client, query, page_size=2, next_page_token=token)
        page = [w.worker_heartbeat.worker_instance_key for w in resp.workers_info]
        assert [w.worker_instance_key for w in resp.workers] == page
        pages.append(page)
        token = resp.next_page_token
        if not token:
            break
        assert len(pages) < 10, pages
    in_order = sorted(names)
    assert pages == [in_order[0:2], in_order[2:4], in_order[4:5]]

    # A page that holds them all has no next page; neither has an unpaged answer.
    resp = await list_workers(client, query, page_size=5)
    assert [w.worker_heartbeat.worker_instance_key for w in resp.workers_info] == in_order
    assert not resp.next_page_token
    resp = await list_workers(client, query)
    assert sorted(w.worker_heartbeat.worker_instance_key for w in resp.workers_info) == in_order
    assert not resp.next_page_token

    err = await rpc_error(list_workers(client, query, page_size=2, next_page_token=b"not a token"))
    assert err.status == RPCStatusCode.INVALID_ARGUMENT
    assert err.message == "invalid next_page_token"


async def test_system_workers_are_left_out_unless_asked_for(client: Client):
    p = unique("sys")
    system_queues = ["temporal-sys-per-ns-tq", f"temporal-sys-{p}"]
    user_queues = [f"temporal-sys/{p}", f"temporal-sys_{p}", f"Temporal-sys-{p}", "default-worker-tq"]
    await record(
        client,
        *[
            WorkerHeartbeat(worker_instance_key=f"{p}-{i}", task_queue=q)
            for i, q in enumerate(system_queues + user_queues)
        ],
    )
    query = f"WorkerInstanceKey starts_with '{p}-'"

    async def queues(**kw) -> set[str]:
        resp = await list_workers(client, query, **kw)
        return {w.worker_heartbeat.task_queue for w in resp.workers_info}

    assert await queues() == set(user_queues)
    assert await queues(include_system_workers=True) == set(system_queues + user_queues)
    assert await count(client, query) == len(user_queues)
    assert await count(client, query, include_system_workers=True) == len(system_queues + user_queues)
    # DescribeWorker finds them all.
    assert (await describe(client, f"{p}-0")).task_queue == "temporal-sys-per-ns-tq"


async def test_count_workers(client: Client, population: dict[str, str]):
    p = population["prefix"]
    assert await count(client, f"WorkerInstanceKey starts_with '{p}-'") == 4
    assert await count(client, f"WorkerInstanceKey starts_with '{p}-' AND Status = 'Running'") == 2
    assert await count(client, f"WorkerInstanceKey starts_with '{p}-' AND NoSuchField = 'x'") == 0


# ---------------------------------------------------------------- expiry


@pytest.fixture
def short_ttl_server(tmp_path) -> Iterator[ServerProcess]:
    """A server whose registry forgets a worker 2 s after its last heartbeat, checked every second."""
    srv = start_server(
        tmp_path,
        "ttl",
        dynamic_config={
            "matching.workerRegistryEntryTTL": '"2s"',
            "matching.workerRegistryEvictionInterval": '"1s"',
        },
    )
    try:
        yield srv
    finally:
        srv.stop()


async def test_worker_that_stops_heartbeating_expires(short_ttl_server: ServerProcess):
    client = await Client.connect(short_ttl_server.address, namespace=NS)
    kept, dropped, stopped = unique("kept"), unique("dropped"), unique("stopped")
    tq = unique("tq-ttl")
    await record(
        client,
        WorkerHeartbeat(worker_instance_key=kept, task_queue=tq, status=RUNNING),
        WorkerHeartbeat(worker_instance_key=dropped, task_queue=tq, status=RUNNING),
        WorkerHeartbeat(worker_instance_key=stopped, task_queue=tq, status=SHUTTING_DOWN),
    )
    assert await keys(client, f"TaskQueue = '{tq}'") == {kept, dropped, stopped}

    # `kept` heartbeats every half second for longer than the TTL; the others do not.
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        await record(client, WorkerHeartbeat(worker_instance_key=kept, task_queue=tq, status=RUNNING))
        await asyncio.sleep(0.5)
        assert not await is_gone(client, kept)
    assert await is_gone(client, dropped)
    assert await is_gone(client, stopped)
    assert await keys(client, f"TaskQueue = '{tq}'") == {kept}

    # Once it stops, it goes too.
    await eventually(lambda: is_gone(client, kept), f"{kept} to expire", timeout=10)
    assert await keys(client, f"TaskQueue = '{tq}'") == set()


# ---------------------------------------------------------------- CLI


class Cli:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.binary = temporal_bin()
        # Nothing from the developer's environment may redirect the CLI.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        self.env["NO_COLOR"] = "1"

    def run_sync(self, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
        cmd = [self.binary, *args, "--address", self.server.address, "--color", "never"]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=self.env, stdin=subprocess.DEVNULL, timeout=CLI_TIMEOUT_S
        )
        shown = " ".join(args)
        if expect_ok:
            assert proc.returncode == 0, (
                f"`temporal {shown}` exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        else:
            assert proc.returncode != 0, f"`temporal {shown}` should have failed\nstdout:\n{proc.stdout}"
        return proc

    async def run(self, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
        return await asyncio.to_thread(self.run_sync, *args, expect_ok=expect_ok)

    async def text(self, *args: str) -> str:
        return (await self.run(*args)).stdout

    async def json(self, *args: str):
        out = (await self.run(*args, "-o", "json")).stdout
        try:
            return json.loads(out)
        except json.JSONDecodeError as e:  # pragma: no cover - diagnostic
            raise AssertionError(f"`temporal {' '.join(args)} -o json` printed non-JSON:\n{out}") from e


@pytest.fixture(scope="module")
def cli(server: ServerProcess) -> Cli:
    return Cli(server)


LIST_HEADER = [
    "WorkerInstanceKey",
    "Status",
    "TaskQueue",
    "WorkerIdentity",
    "HostName",
    "Deployment",
    "HeartbeatTime",
    "Elapsed",
]


def table_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of the CLI's table (cells split on runs of 2+ spaces)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "no table printed"
    header = lines[0].split()
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]
    return header, rows


def kv_lines(text: str) -> dict[str, str]:
    """The CLI's aligned `Key  Value` card as a dict."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^\s+(\S+)\s{2,}(.*?)\s*$", line)
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


async def test_cli_worker_list(cli: Cli, client: Client):
    p = unique("cli")
    tq = f"{p}-tq"
    sent = full_heartbeat(f"{p}-full", tq)
    sent.heartbeat_time.CopyFrom(now_ts())
    bare = WorkerHeartbeat(worker_instance_key=f"{p}-bare", task_queue=tq, status=SHUTTING_DOWN)
    system = WorkerHeartbeat(worker_instance_key=f"{p}-sys", task_queue=f"temporal-sys-{p}", status=RUNNING)
    await record(client, sent, bare, system)
    query = f"WorkerInstanceKey starts_with '{p}-'"

    header, rows = table_rows(await cli.text("worker", "list", "--query", query))
    assert header == LIST_HEADER
    by_key = {r[0]: r for r in rows}
    assert set(by_key) == {f"{p}-full", f"{p}-bare"}
    full = by_key[f"{p}-full"]
    assert full[:6] == [f"{p}-full", "Running", tq, "full-identity@host", "full-host", "full-dep@full-build"]
    assert full[-1] == "2.5s"
    assert re.fullmatch(r"now|\d+ seconds? ago", full[6]), full
    assert by_key[f"{p}-bare"] == [f"{p}-bare", "ShuttingDown", tq]

    _, rows = table_rows(await cli.text("worker", "list", "--query", query, "--include-system-workers"))
    assert {r[0] for r in rows} == {f"{p}-full", f"{p}-bare", f"{p}-sys"}
    _, rows = table_rows(await cli.text("worker", "list", "--query", query, "--limit", "1"))
    assert len(rows) == 1 and rows[0][0] in {f"{p}-full", f"{p}-bare"}

    listed = await cli.json("worker", "list", "--query", query)
    assert isinstance(listed, list)
    by_key = {w["workerHeartbeat"]["workerInstanceKey"]: w for w in listed}
    assert set(by_key) == {f"{p}-full", f"{p}-bare"}
    assert by_key[f"{p}-bare"] == {
        "workerHeartbeat": {
            "workerInstanceKey": f"{p}-bare",
            "taskQueue": tq,
            "status": "WORKER_STATUS_SHUTTING_DOWN",
        }
    }
    hb = by_key[f"{p}-full"]["workerHeartbeat"]
    assert hb["workerIdentity"] == "full-identity@host"
    assert hb["status"] == "WORKER_STATUS_RUNNING"
    assert hb["hostInfo"] == {
        "hostName": "full-host",
        "workerGroupingKey": "grouping-1",
        "processId": "4242",
        "currentHostCpuUsage": 0.25,
        "currentHostMemUsage": 0.5,
    }
    assert hb["deploymentVersion"] == {"deploymentName": "full-dep", "buildId": "full-build"}
    assert hb["sdkName"] == "temporal-test-sdk" and hb["sdkVersion"] == "9.8.7"
    assert hb["startTime"] == "2025-03-01T12:00:00Z"
    assert hb["elapsedSinceLastHeartbeat"] == "2.500s"
    assert hb["workflowTaskSlotsInfo"]["totalProcessedTasks"] == 12
    assert hb["workflowPollerInfo"] == {
        "currentPollers": 2,
        "lastSuccessfulPollTime": "2025-03-01T12:04:59Z",
        "isAutoscaling": True,
    }
    assert hb["totalStickyCacheHit"] == 7
    assert hb["plugins"] == [{"name": "test-plugin", "version": "0.1"}]

    assert await cli.json("worker", "list", "--query", f"WorkerInstanceKey = '{p}-nobody'") == []

    proc = await cli.run("worker", "list", "--query", "TaskQueue = '", expect_ok=False)
    assert "malformed query" in proc.stderr


async def test_cli_worker_describe(cli: Cli, client: Client):
    key = unique("cli-describe")
    sent = full_heartbeat(key, unique("tq-cli-describe"))
    await record(client, sent)

    card = kv_lines(await cli.text("worker", "describe", "--worker-instance-key", key))
    assert card["WorkerInstanceKey"] == key
    assert card["WorkerIdentity"] == "full-identity@host"
    assert card["Status"] == "Running"
    assert card["TaskQueue"] == sent.task_queue
    assert json.loads(card["DeploymentVersion"]) == {"DeploymentName": "full-dep", "BuildId": "full-build"}
    assert card["SdkName"] == "temporal-test-sdk"
    assert card["SdkVersion"] == "9.8.7"
    assert card["ElapsedSinceLastHeartbeat"] == "2.5s"
    assert json.loads(card["HostInfo"])["HostName"] == "full-host"
    assert json.loads(card["WorkflowTaskSlotsInfo"])["TotalProcessedTasks"] == 12
    assert json.loads(card["WorkflowPollerInfo"])["IsAutoscaling"] is True
    assert card["TotalStickyCacheHit"] == "7"
    assert card["TotalStickyCacheMiss"] == "2"
    assert card["CurrentStickyCacheSize"] == "5"

    described = await cli.json("worker", "describe", "--worker-instance-key", key)
    assert set(described) == {"workerHeartbeat"}
    hb = described["workerHeartbeat"]
    assert hb["workerInstanceKey"] == key
    assert hb["status"] == "WORKER_STATUS_RUNNING"
    assert hb["heartbeatTime"] == "2025-03-01T12:05:00Z"
    assert hb["activityTaskSlotsInfo"] == {"currentAvailableSlots": 50, "slotSupplierKind": "ResourceBased"}

    missing = unique("cli-missing")
    proc = await cli.run("worker", "describe", "--worker-instance-key", missing, expect_ok=False)
    assert f"Worker {missing} not found" in proc.stderr


async def test_cli_lists_a_running_then_stopped_sdk_worker(cli: Cli, hb_client: Client, task_queue: str):
    query = f"TaskQueue = '{task_queue}'"
    async with new_worker(hb_client, task_queue, [AddOneWorkflow], [add_one], identity="cli-sdk-worker"):
        hb = await heartbeat_of_queue(hb_client, task_queue)
        _, rows = table_rows(await cli.text("worker", "list", "--query", query))
        assert [r[:5] for r in rows] == [
            [hb.worker_instance_key, "Running", task_queue, "cli-sdk-worker", socket.gethostname()]
        ]
    await heartbeat_of_queue(hb_client, task_queue, lambda hb: hb.status == SHUTTING_DOWN)
    _, rows = table_rows(await cli.text("worker", "list", "--query", query))
    assert [r[:4] for r in rows] == [[hb.worker_instance_key, "ShuttingDown", task_queue, "cli-sdk-worker"]]
    card = kv_lines(await cli.text("worker", "describe", "--worker-instance-key", hb.worker_instance_key))
    assert card["Status"] == "ShuttingDown"
    assert card["SdkName"] == "temporal-python"
