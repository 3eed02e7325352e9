"""Worker Deployments and worker versioning: versioned workers (the SDK's
``WorkerDeploymentConfig``, ``use_worker_versioning=True``), Pinned and AutoUpgrade
workflows, DescribeWorkerDeployment, DescribeWorkerDeploymentVersion,
ListWorkerDeployments, SetWorkerDeploymentCurrentVersion,
SetWorkerDeploymentRampingVersion, DeleteWorkerDeploymentVersion,
DeleteWorkerDeployment, UpdateWorkerDeploymentVersionMetadata,
SetWorkerDeploymentManager (raw service calls and ``temporal worker deployment``),
UpdateWorkflowExecutionOptions with a versioning override (``temporal workflow
update-options``), the versioning search attributes, continue-as-new and children,
and the older build-id APIs.

Validated against the real dev server (Temporal 1.32.0, CLI 1.9.1, temporalio
1.35); /work/notes/worker-deployments.md has the wire facts. Deployment versions
need no switch on 1.32 (``system.enableDeploymentVersions`` and
``frontend.workerVersioningWorkflowAPIs`` default to true); the module's server gets
``matching.wv.VersionDrainageStatusVisibilityGracePeriod`` and
``matching.wv.VersionDrainageStatusRefreshInterval`` = ``"1s"`` (default 3 min each:
a version would stay DRAINING for minutes), and the deletion test's own server also
``matching.PollerHistoryTTL`` = ``"1s"`` (default 5 min: a version that had pollers
cannot be deleted before). What these tests pin:

* A version exists once a versioned worker polls (``deployment_options`` with
  deployment name, build id, mode VERSIONED), status INACTIVE, with the polled task
  queues and types. The deployment's routing starts at current ``__unversioned__``.
  Strings: ``<deployment>.<build>`` in the deprecated ``version`` fields, the
  structured ``deployment_version`` beside them; search attributes and error
  messages use ``<deployment>:<build>``.
* Routing: new runs go to the current version, or to the ramping one when
  ``100 * farmhash.Fingerprint32(workflow_id) / 2^32 <= percentage`` (exact, checked
  run by run). A Pinned run stays on the version that completed its first task (its
  later tasks carry ``target_worker_deployment_version_changed`` once the current
  version moved); an AutoUpgrade run moves to the current version at its next task.
  WorkflowTaskCompleted records ``versioning_behavior``, ``deployment_version`` and
  ``worker_deployment_name``; Describe's ``versioning_info`` has behavior, version,
  deployment_version and the routing ``revision_number`` the run last saw.
* Describe/List shapes: version summaries newest first with status
  (INACTIVE/CURRENT/RAMPING/DRAINING/DRAINED) and their timestamps; routing config with
  ``revision_number`` (+1 per routing change); the conflict token is Go's
  ``time.MarshalBinary`` (15 bytes) of the last change; repeating a change is a no-op
  keeping the token. Errors exact (codes and messages) for unknown deployments and
  versions, bad percentages, stale tokens, ramping the current version, deleting a
  current, ramping, polled or draining version, deleting a deployment with versions,
  a manager identity mismatch.
* Drainage: a version that stops being current or ramping is DRAINING while pinned runs
  are open on it (rechecked every refresh interval), DRAINED after the grace period
  once they closed.
* Versioning overrides (UpdateWorkflowExecutionOptions, the CLI's ``update-options``,
  a start's ``versioning_override``): pinned sends the next task to that version,
  auto_upgrade to the current one, one_time to its target once, unspecified removes
  the override; WorkflowExecutionOptionsUpdated records them.
* Search attributes ``TemporalWorkerDeployment``, ``TemporalWorkerDeploymentVersion``
  (``dep:build``), ``TemporalWorkflowVersioningBehavior`` (``Pinned``/``AutoUpgrade``),
  ``TemporalUsedWorkerDeploymentVersions`` and ``BuildIds`` (``pinned:dep:build``,
  ``unversioned:<build>``), and the queries on them.
* Continue-as-new: a Pinned run's new run inherits its version
  (``inherited_pinned_version``, ``declined_target_version_upgrade``) unless the command
  asks ``initial_versioning_behavior`` AUTO_UPGRADE (``inherited_auto_upgrade_info``);
  an AutoUpgrade run's new run goes to the current version. Children on the parent's
  task queue start on a Pinned parent's version (``inherited_pinned_version``).
* Polls: deployment options are validated (INVALID_ARGUMENT: name and build id together,
  no ``.`` in the name, no ``__`` build id prefix); a deadline of 2 s or less is
  FAILED_PRECONDITION "Context timeout is too short."; an UNVERSIONED-mode poller does not
  create the deployment; ``allow_no_pollers`` makes a never-polled version current.
* The older build-id APIs answer PERMISSION_DENIED "Worker versioning v0.1 ... / v0.2
  ... is disabled on this namespace."
"""

from __future__ import annotations

import asyncio
import os
import pwd
import socket
import time
import uuid
from datetime import timedelta
from typing import Any, Iterator

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio import workflow
from temporalio.api.common.v1 import WorkerVersionCapabilities, WorkflowExecution
from temporalio.api.deployment.v1 import WorkerDeploymentOptions
from temporalio.api.deployment.v1 import WorkerDeploymentVersion as WDV
from temporalio.api.enums.v1 import (
    ContinueAsNewVersioningBehavior as CanVB,
)
from temporalio.api.enums.v1 import (
    EventType,
    RoutingConfigUpdateState,
    TaskQueueType,
    VersionDrainageStatus,
    WorkerDeploymentVersionStatus,
    WorkerVersioningMode,
)
from temporalio.api.enums.v1 import VersioningBehavior as VB
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import (
    BuildIdAssignmentRule,
    TaskQueue,
)
from temporalio.api.workflow.v1 import VersioningOverride, WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import (
    DeleteWorkerDeploymentRequest,
    DeleteWorkerDeploymentVersionRequest,
    DescribeTaskQueueRequest,
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentResponse,
    DescribeWorkerDeploymentVersionRequest,
    DescribeWorkerDeploymentVersionResponse,
    GetWorkerBuildIdCompatibilityRequest,
    GetWorkerTaskReachabilityRequest,
    GetWorkerVersioningRulesRequest,
    ListWorkerDeploymentsRequest,
    PollWorkflowTaskQueueRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentManagerRequest,
    SetWorkerDeploymentRampingVersionRequest,
    UpdateWorkerBuildIdCompatibilityRequest,
    UpdateWorkerDeploymentVersionMetadataRequest,
    UpdateWorkerVersioningRulesRequest,
    UpdateWorkflowExecutionOptionsRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.common import PinnedVersioningOverride, VersioningBehavior, WorkerDeploymentVersion
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig
from temporalio.workflow import ContinueAsNewVersioningBehavior

from conftest import new_worker, start_server, unique
from endure_testing.cli import Cli
from endure_testing.servers import ServerProcess

NS = "default"
WAIT_S = 20.0
PC = DataConverter.default.payload_converter

# Drainage is checked through visibility: 3 minutes of grace and refresh by default.
DRAINAGE_CONFIG = {
    "matching.wv.VersionDrainageStatusVisibilityGracePeriod": '"1s"',
    "matching.wv.VersionDrainageStatusRefreshInterval": '"1s"',
}

UNVERSIONED = "__unversioned__"
S = WorkerDeploymentVersionStatus
INACTIVE = S.WORKER_DEPLOYMENT_VERSION_STATUS_INACTIVE
CURRENT = S.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT
RAMPING = S.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING
DRAINING = S.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING
DRAINED = S.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED
D = VersionDrainageStatus
PINNED = VB.VERSIONING_BEHAVIOR_PINNED
AUTO_UPGRADE = VB.VERSIONING_BEHAVIOR_AUTO_UPGRADE
WORKFLOW_TQ = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW

NOT_FOUND = RPCStatusCode.NOT_FOUND
INVALID = RPCStatusCode.INVALID_ARGUMENT
PRECONDITION = RPCStatusCode.FAILED_PRECONDITION
DENIED = RPCStatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("worker-deployments-server"), dynamic_config=DRAINAGE_CONFIG)
    try:
        yield srv
    finally:
        srv.stop()


# ---------------------------------------------------------------- ramp hash


_M32 = 0xFFFFFFFF
_C1, _C2 = 0xCC9E2D51, 0x1B873593


def _rot(v: int, s: int) -> int:
    return ((v >> s) | (v << (32 - s))) & _M32


def _fmix(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def _mur(a: int, h: int) -> int:
    a = (_rot((a * _C1) & _M32, 17) * _C2) & _M32
    h = _rot(h ^ a, 19)
    return (h * 5 + 0xE6546B64) & _M32


def _fetch(s: bytes, i: int) -> int:
    return int.from_bytes(s[i : i + 4], "little")


def fingerprint32(s: bytes) -> int:
    """FarmHash Fingerprint32 (farmhashmk Hash32, as Go's dgryski/go-farm has it)."""
    n = len(s)
    if n <= 4:
        b, c = 0, 9
        for x in s:
            b = (b * _C1 + (x - 256 if x >= 128 else x)) & _M32
            c ^= b
        return _fmix(_mur(b, _mur(n, c)))
    if n <= 12:
        a = (n + _fetch(s, 0)) & _M32
        b = (n * 5 + _fetch(s, n - 4)) & _M32
        c = (9 + _fetch(s, (n >> 1) & 4)) & _M32
        return _fmix(_mur(c, _mur(b, _mur(a, n * 5))))
    if n <= 24:
        a, b, c = _fetch(s, (n >> 1) - 4), _fetch(s, 4), _fetch(s, n - 8)
        d, e, f = _fetch(s, n >> 1), _fetch(s, 0), _fetch(s, n - 4)
        h = (d * _C1 + n) & _M32
        a = (_rot(a, 12) + f) & _M32
        h = (_mur(c, h) + a) & _M32
        a = (_rot(a, 3) + c) & _M32
        h = (_mur(e, h) + a) & _M32
        a = (_rot((a + f) & _M32, 12) + d) & _M32
        h = (_mur(b, h) + a) & _M32
        return _fmix(h)
    h, g = n, (_C1 * n) & _M32
    f = g
    a0, a1, a2, a3, a4 = ((_rot((_fetch(s, n - k) * _C1) & _M32, 17) * _C2) & _M32 for k in (4, 8, 16, 12, 20))
    h = (_rot(h ^ a0, 19) * 5 + 0xE6546B64) & _M32
    h = (_rot(h ^ a2, 19) * 5 + 0xE6546B64) & _M32
    g = (_rot(g ^ a1, 19) * 5 + 0xE6546B64) & _M32
    g = (_rot(g ^ a3, 19) * 5 + 0xE6546B64) & _M32
    f = (_rot((f + a4) & _M32, 19) + 113) & _M32
    for p in range(0, ((n - 1) // 20) * 20, 20):
        a, b, c, d, e = (_fetch(s, p + k) for k in (0, 4, 8, 12, 16))
        h = (h + a) & _M32
        g = (g + b) & _M32
        f = (f + c) & _M32
        h = (_mur(d, h) + e) & _M32
        g = (_mur(c, g) + a) & _M32
        f = (_mur((b + e * _C1) & _M32, f) + d) & _M32
        f = (f + g) & _M32
        g = (g + f) & _M32
    g = (_rot((_rot(g, 11) * _C1) & _M32, 17) * _C1) & _M32
    f = (_rot((_rot(f, 11) * _C1) & _M32, 17) * _C1) & _M32
    h = (_rot((h + g) & _M32, 19) * 5 + 0xE6546B64) & _M32
    h = (_rot(h, 17) * _C1) & _M32
    h = (_rot((h + f) & _M32, 19) * 5 + 0xE6546B64) & _M32
    return (_rot(h, 17) * _C1) & _M32


def goes_to_ramping(workflow_id: str, percentage: float) -> bool:
    """The server's choice for a partial ramp: [0, 100) threshold from the workflow id."""
    return 100 * (fingerprint32(workflow_id.encode()) / 2**32) <= percentage


# ---------------------------------------------------------------- workflows


def build_id() -> str | None:
    """The build id of the worker running the current workflow task."""
    v = workflow.info().get_current_deployment_version()
    return v.build_id if v else None


class _Stepper:
    """Records the build id of every workflow task; ``step`` wakes it, ``finish`` ends it."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []
        self.steps = 0
        self.done = False

    async def body(self) -> list:
        self.seen.append(build_id())
        while not self.done:
            steps = self.steps
            await workflow.wait_condition(lambda: self.done or self.steps > steps)
            self.seen.append(build_id())
        return self.seen


@workflow.defn(name="WdPinned", versioning_behavior=VersioningBehavior.PINNED)
class WdPinned(_Stepper):
    @workflow.signal
    def step(self) -> None:
        self.steps += 1

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> list:
        return await self.body()


@workflow.defn(name="WdAuto", versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class WdAuto(_Stepper):
    @workflow.signal
    def step(self) -> None:
        self.steps += 1

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> list:
        return await self.body()


@workflow.defn(name="WdQuick", versioning_behavior=VersioningBehavior.PINNED)
class WdQuick:
    @workflow.run
    async def run(self) -> str | None:
        return build_id()


@workflow.defn(name="WdPinnedLooper", versioning_behavior=VersioningBehavior.PINNED)
class WdPinnedLooper:
    """Stage 0 continues as new on ``go`` (asking AUTO_UPGRADE when ``upgrade``); stage 1
    returns the build ids of its first and last task."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def go_on(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, stage: int, upgrade: bool) -> list:
        first = build_id()
        await workflow.wait_condition(lambda: self.go)
        if stage == 0:
            workflow.continue_as_new(
                args=[1, upgrade],
                initial_versioning_behavior=ContinueAsNewVersioningBehavior.AUTO_UPGRADE if upgrade else None,
            )
        return [first, build_id()]


@workflow.defn(name="WdAutoLooper", versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class WdAutoLooper:
    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def go_on(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, stage: int, upgrade: bool) -> list:
        first = build_id()
        await workflow.wait_condition(lambda: self.go)
        if stage == 0:
            workflow.continue_as_new(args=[1, upgrade])
        return [first, build_id()]


@workflow.defn(name="WdParent", versioning_behavior=VersioningBehavior.PINNED)
class WdParent:
    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def go_on(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, child_type: str, child_id: str) -> list:
        await workflow.wait_condition(lambda: self.go)
        child = await workflow.execute_child_workflow(child_type, id=child_id)
        return [build_id(), child]


@workflow.defn(name="WdChildPinned", versioning_behavior=VersioningBehavior.PINNED)
class WdChildPinned:
    @workflow.run
    async def run(self) -> list:
        first = build_id()
        await workflow.sleep(0.1)
        return [first, build_id()]


@workflow.defn(name="WdChildAuto", versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class WdChildAuto:
    @workflow.run
    async def run(self) -> list:
        first = build_id()
        await workflow.sleep(0.1)
        return [first, build_id()]


WORKFLOWS = [WdPinned, WdAuto, WdQuick, WdPinnedLooper, WdAutoLooper, WdParent, WdChildPinned, WdChildAuto]


# ---------------------------------------------------------------- helpers


def versioned_worker(client: Client, task_queue: str, deployment: str, build: str, **kw):
    return new_worker(
        client,
        task_queue,
        workflows=WORKFLOWS,
        deployment_config=WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(deployment, build), use_worker_versioning=True
        ),
        **kw,
    )


def wdv(deployment: str, build: str) -> WDV:
    return WDV(deployment_name=deployment, build_id=build)


async def describe_deployment(client: Client, deployment: str) -> DescribeWorkerDeploymentResponse:
    return await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(namespace=NS, deployment_name=deployment)
    )


async def describe_version(
    client: Client, deployment: str, build: str, **kw
) -> DescribeWorkerDeploymentVersionResponse:
    return await client.workflow_service.describe_worker_deployment_version(
        DescribeWorkerDeploymentVersionRequest(namespace=NS, deployment_version=wdv(deployment, build), **kw)
    )


async def wait_version(client: Client, deployment: str, build: str, task_queues: int = 1):
    """Until the version exists with ``task_queues`` task queues (its workers polled)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            d = await describe_version(client, deployment, build)
            if len(d.version_task_queues) >= task_queues:
                return d
        except RPCError as e:
            if e.status != NOT_FOUND:
                raise
        if time.monotonic() > deadline:
            pytest.fail(f"version {deployment}:{build} not registered after {WAIT_S}s")
        await asyncio.sleep(0.1)


async def wait_routing_done(client: Client, deployment: str) -> DescribeWorkerDeploymentResponse:
    """Until the last routing change reached every task queue of the deployment."""
    deadline = time.monotonic() + WAIT_S
    while True:
        d = await describe_deployment(client, deployment)
        if (
            d.worker_deployment_info.routing_config_update_state
            == RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_COMPLETED
        ):
            return d
        if time.monotonic() > deadline:
            pytest.fail(f"routing of {deployment} still propagating after {WAIT_S}s: {d}")
        await asyncio.sleep(0.1)


async def set_current(client: Client, deployment: str, build: str, wait: bool = True, **kw):
    """SetWorkerDeploymentCurrentVersion; with ``wait``, until the routing reached the task queues."""
    r = await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(namespace=NS, deployment_name=deployment, build_id=build, **kw)
    )
    if wait:
        await wait_routing_done(client, deployment)
    return r


async def set_ramping(client: Client, deployment: str, build: str, percentage: float, wait: bool = True, **kw):
    """SetWorkerDeploymentRampingVersion; with ``wait``, until the routing reached the task queues."""
    r = await client.workflow_service.set_worker_deployment_ramping_version(
        SetWorkerDeploymentRampingVersionRequest(
            namespace=NS, deployment_name=deployment, build_id=build, percentage=percentage, **kw
        )
    )
    if wait:
        await wait_routing_done(client, deployment)
    return r


async def rpc_error(awaitable) -> tuple[RPCStatusCode, str]:
    with pytest.raises(RPCError) as err:
        await awaitable
    return err.value.status, err.value.message


async def history(handle: WorkflowHandle) -> list[HistoryEvent]:
    return [e async for e in handle.fetch_history_events()]


def of_type(events: list[HistoryEvent], t: int) -> list[HistoryEvent]:
    return [e for e in events if e.event_type == t]


def tasks_completed(events: list[HistoryEvent]):
    return [
        e.workflow_task_completed_event_attributes
        for e in of_type(events, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    ]


async def wait_tasks(handle: WorkflowHandle, n: int) -> list[HistoryEvent]:
    """Until ``n`` workflow tasks completed; the history."""
    deadline = time.monotonic() + WAIT_S
    while True:
        events = await history(handle)
        if len(tasks_completed(events)) >= n:
            return events
        if time.monotonic() > deadline:
            names = [EventType.Name(e.event_type) for e in events]
            pytest.fail(f"{handle.id}: fewer than {n} completed workflow tasks after {WAIT_S}s: {names}")
        await asyncio.sleep(0.05)


async def versioning_info(handle: WorkflowHandle):
    return (await handle.describe()).raw_description.workflow_execution_info.versioning_info


async def search_attrs(handle: WorkflowHandle) -> dict[str, Any]:
    info = (await handle.describe()).raw_description.workflow_execution_info
    return {k: PC.from_payload(v) for k, v in info.search_attributes.indexed_fields.items()}


async def wait_listed(client: Client, query: str, expected: set[str]) -> None:
    """Until ListWorkflowExecutions answers exactly ``expected`` (workflow ids) for ``query``."""
    deadline = time.monotonic() + WAIT_S
    while True:
        got = {w.id async for w in client.list_workflows(query)}
        if got == expected:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{query!r}: listed {sorted(got)}, want {sorted(expected)}")
        await asyncio.sleep(0.2)


GO_UNIX_OFFSET = 62135596800  # seconds from 0001-01-01 to 1970-01-01


def token_time(token: bytes) -> tuple[int, int]:
    """A conflict token: Go's ``time.Time.MarshalBinary`` (version 1, seconds since year 1,
    nanoseconds, UTC offset -1 = UTC), as unix (seconds, nanos)."""
    assert len(token) == 15 and token[0] == 1 and token[13:] == b"\xff\xff", token
    return int.from_bytes(token[1:9], "big") - GO_UNIX_OFFSET, int.from_bytes(token[9:13], "big")


def ts(t) -> tuple[int, int]:
    return t.seconds, t.nanos


def summary(d: DescribeWorkerDeploymentResponse, build: str):
    (s,) = [s for s in d.worker_deployment_info.version_summaries if s.deployment_version.build_id == build]
    return s


def cli_identity() -> str:
    return f"temporal-cli:{pwd.getpwuid(os.getuid()).pw_name}@{socket.gethostname()}"


# ---------------------------------------------------------------- rollout


async def test_rollout_pinned_stays_auto_upgrade_moves(client: Client):
    dep, tq = unique("dep"), unique("tq")
    async with versioned_worker(client, tq, dep, "v1"):
        await wait_version(client, dep, "v1")
        first = await set_current(client, dep, "v1")
        assert first.previous_version == UNVERSIONED
        assert not first.HasField("previous_deployment_version")

        pinned = await client.start_workflow("WdPinned", id=unique("pinned"), task_queue=tq)
        auto = await client.start_workflow("WdAuto", id=unique("auto"), task_queue=tq)
        for handle, behavior in ((pinned, PINNED), (auto, AUTO_UPGRADE)):
            events = await wait_tasks(handle, 1)
            started = events[0].workflow_execution_started_event_attributes
            assert not started.HasField("versioning_override")
            assert not started.HasField("inherited_pinned_version")
            (done,) = tasks_completed(events)
            assert done.versioning_behavior == behavior
            assert done.deployment_version == wdv(dep, "v1")
            assert done.worker_deployment_name == dep
            assert done.worker_version.build_id == "v1" and not done.worker_version.use_versioning
            assert done.worker_deployment_version == "" and not done.HasField("deployment")
            info = (await handle.describe()).raw_description.workflow_execution_info
            assert info.worker_deployment_name == dep
            vi = info.versioning_info
            assert vi.behavior == behavior
            assert vi.version == f"{dep}.v1"
            assert vi.deployment_version == wdv(dep, "v1")
            assert vi.revision_number == 1
            assert not vi.HasField("versioning_override") and not vi.HasField("version_transition")

        async with versioned_worker(client, tq, dep, "v2"):
            await wait_version(client, dep, "v2")
            second = await set_current(client, dep, "v2")
            assert second.previous_version == f"{dep}.v1"
            assert second.previous_deployment_version == wdv(dep, "v1")

            for handle in (pinned, auto):
                await handle.signal("step")
            pinned_events, auto_events = await wait_tasks(pinned, 2), await wait_tasks(auto, 2)

            # The pinned run's next task completes on v1, the auto-upgrade run's on v2.
            task = tasks_completed(pinned_events)[1]
            assert (task.versioning_behavior, task.deployment_version) == (PINNED, wdv(dep, "v1"))
            task = tasks_completed(auto_events)[1]
            assert (task.versioning_behavior, task.deployment_version) == (AUTO_UPGRADE, wdv(dep, "v2"))
            assert task.worker_version.build_id == "v2"
            # Only the pinned run is told that its target version moved.
            changed = [
                e.workflow_task_started_event_attributes.target_worker_deployment_version_changed
                for e in of_type(pinned_events, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
            ]
            assert changed == [False, True]
            changed = [
                e.workflow_task_started_event_attributes.target_worker_deployment_version_changed
                for e in of_type(auto_events, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
            ]
            assert changed == [False, False]

            vi = await versioning_info(pinned)
            assert (vi.behavior, vi.version, vi.revision_number) == (PINNED, f"{dep}.v1", 1)
            vi = await versioning_info(auto)
            assert (vi.behavior, vi.version, vi.revision_number) == (AUTO_UPGRADE, f"{dep}.v2", 2)
            assert vi.deployment_version == wdv(dep, "v2")

            # New runs go to the new current version.
            fresh = await client.start_workflow("WdPinned", id=unique("fresh"), task_queue=tq)
            (task,) = tasks_completed(await wait_tasks(fresh, 1))
            assert task.deployment_version == wdv(dep, "v2")

            for handle in (pinned, auto, fresh):
                await handle.signal("finish")
            assert await pinned.result() == ["v1", "v1", "v1"]
            assert await auto.result() == ["v1", "v2", "v2"]
            assert await fresh.result() == ["v2", "v2"]


async def test_ramping_routes_new_runs_by_workflow_id_hash(client: Client):
    dep, tq = unique("dep"), unique("tq")
    async with versioned_worker(client, tq, dep, "v1"), versioned_worker(client, tq, dep, "v2"):
        await wait_version(client, dep, "v1")
        await wait_version(client, dep, "v2")
        await set_current(client, dep, "v1")
        r = await set_ramping(client, dep, "v2", 50)
        assert (r.previous_version, r.previous_percentage) == ("", 0)
        assert not r.HasField("previous_deployment_version")

        async def run_all(ids: list[str]) -> dict[str, str]:
            handles = [await client.start_workflow("WdQuick", id=i, task_queue=tq) for i in ids]
            return {h.id: await h.result() for h in handles}

        ids = [f"ramp-{i}-{uuid.uuid4().hex}" for i in range(40)]
        got = await run_all(ids)
        want = {i: "v2" if goes_to_ramping(i, 50) else "v1" for i in ids}
        assert got == want
        assert 0 < sum(v == "v2" for v in got.values()) < len(ids)
        # The hash's other length classes (0-4, 5-12, 13-24 bytes; the ids above are longer).
        short = [uuid.uuid4().hex[:n] for n in (3, 4, 7, 12, 17, 24)]
        got = await run_all(short)
        assert got == {i: "v2" if goes_to_ramping(i, 50) else "v1" for i in short}

        r = await set_ramping(client, dep, "v2", 100)
        assert (r.previous_version, r.previous_percentage) == (f"{dep}.v2", 50)
        assert r.previous_deployment_version == wdv(dep, "v2")
        assert set((await run_all([unique("all") for _ in range(5)])).values()) == {"v2"}

        # 0 % keeps v2 as the ramping version (status RAMPING) with no traffic.
        r = await set_ramping(client, dep, "v2", 0)
        assert r.previous_percentage == 100
        d = await describe_deployment(client, dep)
        rc = d.worker_deployment_info.routing_config
        assert rc.ramping_deployment_version == wdv(dep, "v2") and rc.ramping_version_percentage == 0
        assert summary(d, "v2").status == RAMPING
        assert set((await run_all([unique("none") for _ in range(5)])).values()) == {"v1"}

        # No version in the request: the ramp is removed.
        r = await client.workflow_service.set_worker_deployment_ramping_version(
            SetWorkerDeploymentRampingVersionRequest(namespace=NS, deployment_name=dep)
        )
        assert (r.previous_version, r.previous_percentage) == (f"{dep}.v2", 0)
        rc = (await wait_routing_done(client, dep)).worker_deployment_info.routing_config
        assert rc.ramping_version == "" and not rc.HasField("ramping_deployment_version")
        assert rc.revision_number == 5


# ---------------------------------------------------------------- describe / list


async def test_describe_deployment_and_version_shapes(client: Client):
    dep, tq = unique("dep"), unique("tq")
    async with versioned_worker(client, tq, dep, "v1"):
        await wait_version(client, dep, "v1")
        async with versioned_worker(client, tq, dep, "v2"):
            await wait_version(client, dep, "v2")

            # Registered by the polls: inactive, routing still unversioned.
            d = await describe_deployment(client, dep)
            info = d.worker_deployment_info
            assert info.name == dep
            assert [s.version for s in info.version_summaries] == [f"{dep}.v2", f"{dep}.v1"]
            s1, s2 = summary(d, "v1"), summary(d, "v2")
            assert ts(s1.create_time) < ts(s2.create_time)
            assert ts(info.create_time) == ts(s1.create_time)
            for s in (s1, s2):
                assert s.status == INACTIVE
                assert s.drainage_status == D.VERSION_DRAINAGE_STATUS_UNSPECIFIED
                assert not s.HasField("drainage_info") and not s.HasField("current_since_time")
            rc = info.routing_config
            assert rc.current_version == UNVERSIONED and not rc.HasField("current_deployment_version")
            assert rc.revision_number == 0 and not rc.HasField("current_version_changed_time")
            assert info.routing_config_update_state == RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_COMPLETED
            assert info.manager_identity == "" and info.last_modifier_identity == ""
            assert token_time(d.conflict_token) == ts(info.create_time)

            v = await describe_version(client, dep, "v1")
            vi = v.worker_deployment_version_info
            assert vi.version == f"{dep}.v1" and vi.deployment_version == wdv(dep, "v1")
            assert vi.deployment_name == "" and vi.status == INACTIVE
            assert [(q.name, q.type) for q in vi.task_queue_infos] == [(tq, WORKFLOW_TQ)]
            assert [(q.name, q.type) for q in v.version_task_queues] == [(tq, WORKFLOW_TQ)]
            assert not vi.HasField("routing_changed_time") and not vi.HasField("drainage_info")
            assert not v.version_task_queues[0].HasField("stats")

            # Current v1.
            r = await set_current(client, dep, "v1", identity="operator-a")
            d = await describe_deployment(client, dep)
            info, rc = d.worker_deployment_info, d.worker_deployment_info.routing_config
            t = ts(rc.current_version_changed_time)
            assert token_time(r.conflict_token) == t and d.conflict_token == r.conflict_token
            assert rc.current_version == f"{dep}.v1" and rc.current_deployment_version == wdv(dep, "v1")
            assert rc.revision_number == 1
            assert info.last_modifier_identity == "operator-a"
            s1 = summary(d, "v1")
            assert s1.status == CURRENT
            for field in ("current_since_time", "routing_update_time", "first_activation_time", "last_current_time"):
                assert ts(getattr(s1, field)) == t, field
            # A current version carries drainage_info with no status.
            assert s1.drainage_info.status == D.VERSION_DRAINAGE_STATUS_UNSPECIFIED
            assert ts(s1.drainage_info.last_changed_time) == ts(s1.drainage_info.last_checked_time) == t
            vi = (await describe_version(client, dep, "v1")).worker_deployment_version_info
            assert vi.status == CURRENT
            assert ts(vi.current_since_time) == ts(vi.routing_changed_time) == t
            assert not vi.HasField("first_activation_time") and not vi.HasField("last_current_time")

            # The same change again is a no-op: same token, same revision.
            again = await set_current(client, dep, "v1", identity="operator-a")
            assert again.conflict_token == r.conflict_token
            assert again.previous_version == f"{dep}.v1"
            assert (await describe_deployment(client, dep)).worker_deployment_info.routing_config.revision_number == 1

            # Ramping v2 at 25 %.
            r = await set_ramping(client, dep, "v2", 25)
            d = await describe_deployment(client, dep)
            rc = d.worker_deployment_info.routing_config
            t = ts(rc.ramping_version_changed_time)
            assert token_time(r.conflict_token) == t == ts(rc.ramping_version_percentage_changed_time)
            assert (rc.ramping_version, rc.ramping_version_percentage) == (f"{dep}.v2", 25)
            assert rc.ramping_deployment_version == wdv(dep, "v2") and rc.revision_number == 2
            s2 = summary(d, "v2")
            assert s2.status == RAMPING and not s2.HasField("drainage_info")
            assert ts(s2.ramping_since_time) == ts(s2.routing_update_time) == ts(s2.first_activation_time) == t
            vi = (await describe_version(client, dep, "v2")).worker_deployment_version_info
            assert (vi.status, vi.ramp_percentage) == (RAMPING, 25)
            assert ts(vi.ramping_since_time) == ts(vi.routing_changed_time) == t

            # The task queue reports the routing and its versioned pollers.
            tq_desc = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(namespace=NS, task_queue=TaskQueue(name=tq), task_queue_type=WORKFLOW_TQ)
            )
            tvi = tq_desc.versioning_info
            assert tvi.current_deployment_version == wdv(dep, "v1") and tvi.current_version == f"{dep}.v1"
            assert tvi.ramping_deployment_version == wdv(dep, "v2") and tvi.ramping_version_percentage == 25
            assert {(p.deployment_options.deployment_name, p.deployment_options.build_id) for p in tq_desc.pollers} == {
                (dep, "v1"),
                (dep, "v2"),
            }
            for p in tq_desc.pollers:
                assert p.deployment_options.worker_versioning_mode == WorkerVersioningMode.WORKER_VERSIONING_MODE_VERSIONED
                assert p.worker_version_capabilities.build_id == p.deployment_options.build_id

            # Promoting the ramping version clears the ramp; v1 starts draining.
            r = await set_current(client, dep, "v2")
            assert r.previous_deployment_version == wdv(dep, "v1")
            d = await describe_deployment(client, dep)
            rc = d.worker_deployment_info.routing_config
            assert rc.current_deployment_version == wdv(dep, "v2") and rc.revision_number == 3
            assert rc.ramping_version == "" and rc.ramping_version_percentage == 0
            assert summary(d, "v2").status == CURRENT
            s1 = summary(d, "v1")
            assert s1.status in (DRAINING, DRAINED)
            assert ts(s1.last_deactivation_time) == ts(rc.current_version_changed_time)
            assert not s1.HasField("current_since_time")

            # Metadata.
            m = await client.workflow_service.update_worker_deployment_version_metadata(
                UpdateWorkerDeploymentVersionMetadataRequest(
                    namespace=NS,
                    deployment_version=wdv(dep, "v2"),
                    upsert_entries={"owner": PC.to_payload("team-a"), "n": PC.to_payload(3)},
                )
            )
            assert {k: PC.from_payload(v) for k, v in m.metadata.entries.items()} == {"owner": "team-a", "n": 3}
            m = await client.workflow_service.update_worker_deployment_version_metadata(
                UpdateWorkerDeploymentVersionMetadataRequest(
                    namespace=NS, deployment_version=wdv(dep, "v2"), remove_entries=["n", "absent"]
                )
            )
            assert {k: PC.from_payload(v) for k, v in m.metadata.entries.items()} == {"owner": "team-a"}
            vi = (await describe_version(client, dep, "v2")).worker_deployment_version_info
            assert {k: PC.from_payload(v) for k, v in vi.metadata.entries.items()} == {"owner": "team-a"}
            # Metadata is not routing: the deployment's token does not move.
            assert (await describe_deployment(client, dep)).conflict_token == r.conflict_token

            # List: routing, the latest and the current version, no version list.
            listed = await client.workflow_service.list_worker_deployments(ListWorkerDeploymentsRequest(namespace=NS))
            (entry,) = [e for e in listed.worker_deployments if e.name == dep]
            assert ts(entry.create_time) == ts(d.worker_deployment_info.create_time)
            assert entry.routing_config == rc
            assert entry.latest_version_summary.deployment_version == wdv(dep, "v2")
            assert entry.current_version_summary.deployment_version == wdv(dep, "v2")
            assert entry.current_version_summary.status == CURRENT
            assert not entry.HasField("ramping_version_summary")


async def test_operator_errors(client: Client):
    ws = client.workflow_service
    dep, tq = unique("dep"), unique("tq")
    unknown = unique("nodep")
    found_no_deployment = f"no Worker Deployment found with name '{unknown}'; does your Worker Deployment have pollers?"

    assert await rpc_error(describe_deployment(client, unknown)) == (NOT_FOUND, found_no_deployment)
    assert await rpc_error(describe_deployment(client, "")) == (INVALID, "WorkerDeploymentName cannot be empty")
    assert await rpc_error(describe_version(client, unknown, "v1")) == (NOT_FOUND, "Worker Deployment Version not found")
    assert await rpc_error(
        ws.describe_worker_deployment_version(DescribeWorkerDeploymentVersionRequest(namespace=NS))
    ) == (INVALID, "deployment version cannot be empty")
    assert await rpc_error(set_current(client, unknown, "v1")) == (NOT_FOUND, found_no_deployment)
    assert await rpc_error(set_ramping(client, unknown, "v1", 10)) == (NOT_FOUND, found_no_deployment)
    assert await rpc_error(
        ws.delete_worker_deployment_version(
            DeleteWorkerDeploymentVersionRequest(namespace=NS, deployment_version=wdv(unknown, "v1"))
        )
    ) == (NOT_FOUND, f"workflow not found for ID: temporal-sys-worker-deployment:{unknown}")
    assert await rpc_error(
        ws.update_worker_deployment_version_metadata(
            UpdateWorkerDeploymentVersionMetadataRequest(
                namespace=NS, deployment_version=wdv(unknown, "v1"), remove_entries=["x"]
            )
        )
    ) == (NOT_FOUND, f"workflow not found for ID: temporal-sys-worker-deployment-version:{unknown}:v1")
    assert await rpc_error(
        ws.set_worker_deployment_manager(
            SetWorkerDeploymentManagerRequest(namespace=NS, deployment_name=unknown, manager_identity="m")
        )
    ) == (INVALID, "Identity is required")
    # Deleting a deployment that does not exist succeeds.
    await ws.delete_worker_deployment(DeleteWorkerDeploymentRequest(namespace=NS, deployment_name=unknown))

    async with versioned_worker(client, tq, dep, "v1"), versioned_worker(client, tq, dep, "v2"):
        await wait_version(client, dep, "v1")
        await wait_version(client, dep, "v2")
        no_build = f"build ID 'v9' not found in Worker Deployment '{dep}'"
        assert await rpc_error(describe_version(client, dep, "v9")) == (NOT_FOUND, "Worker Deployment Version not found")
        assert await rpc_error(set_current(client, dep, "v9", wait=False)) == (NOT_FOUND, no_build)
        assert await rpc_error(set_ramping(client, dep, "v9", 10, wait=False)) == (NOT_FOUND, no_build)
        for bad in (101, -1):
            assert await rpc_error(set_ramping(client, dep, "v2", bad, wait=False)) == (
                INVALID,
                "Percentage must be between 0 and 100 (inclusive)",
            )

        stale = (await describe_deployment(client, dep)).conflict_token
        await set_current(client, dep, "v1", conflict_token=stale, wait=False)
        mismatch = (PRECONDITION, "conflict token mismatch")
        assert await rpc_error(set_current(client, dep, "v2", conflict_token=stale, wait=False)) == mismatch
        assert await rpc_error(set_current(client, dep, "v2", conflict_token=b"garbage", wait=False)) == mismatch
        assert await rpc_error(set_ramping(client, dep, "v2", 10, conflict_token=stale, wait=False)) == mismatch

        assert await rpc_error(set_ramping(client, dep, "v1", 10, wait=False)) == (
            PRECONDITION,
            f"requested ramping version {dep}.v1 is already current",
        )

        def delete(build: str, **kw):
            return ws.delete_worker_deployment_version(
                DeleteWorkerDeploymentVersionRequest(namespace=NS, deployment_version=wdv(dep, build), **kw)
            )

        in_use = f"version '{dep}:v1' cannot be deleted since it is current or ramping"
        assert await rpc_error(delete("v1")) == (PRECONDITION, in_use)
        polled = f"version '{dep}:v2' cannot be deleted since it has active pollers"
        assert await rpc_error(delete("v2")) == (PRECONDITION, polled)
        assert await rpc_error(delete("v2", skip_drainage=True)) == (PRECONDITION, polled)
        # A version never seen: deleting it succeeds.
        await delete("never-polled")
        assert await rpc_error(
            ws.delete_worker_deployment(DeleteWorkerDeploymentRequest(namespace=NS, deployment_name=dep, identity="x"))
        ) == (PRECONDITION, "deployment has versions, can't be deleted")

        await set_ramping(client, dep, "v2", 10, wait=False)
        assert await rpc_error(delete("v2")) == (
            PRECONDITION,
            f"version '{dep}:v2' cannot be deleted since it is current or ramping",
        )

        # Manager identity: only the manager may change routing.
        r = await ws.set_worker_deployment_manager(
            SetWorkerDeploymentManagerRequest(namespace=NS, deployment_name=dep, manager_identity="boss", identity="admin")
        )
        assert r.previous_manager_identity == ""
        assert token_time(r.conflict_token) > token_time(stale)
        assert await rpc_error(set_current(client, dep, "v2", identity="someone", wait=False)) == (
            PRECONDITION,
            "ManagerIdentity 'boss' is set and does not match user identity 'someone'; to proceed, set your own "
            "identity as the ManagerIdentity, remove the ManagerIdentity, or wait for the other client to do so",
        )
        await set_current(client, dep, "v2", identity="boss", wait=False)
        # ``self`` takes the caller's identity.
        r = await ws.set_worker_deployment_manager(
            SetWorkerDeploymentManagerRequest(namespace=NS, deployment_name=dep, self=True, identity="chief")
        )
        assert r.previous_manager_identity == "boss"
        info = (await describe_deployment(client, dep)).worker_deployment_info
        assert (info.manager_identity, info.last_modifier_identity) == ("chief", "chief")
        # Empty manager identity: removed.
        r = await ws.set_worker_deployment_manager(
            SetWorkerDeploymentManagerRequest(namespace=NS, deployment_name=dep, identity="chief")
        )
        assert r.previous_manager_identity == "chief"
        assert (await describe_deployment(client, dep)).worker_deployment_info.manager_identity == ""
        await set_current(client, dep, "v1", identity="anyone", wait=False)


# ---------------------------------------------------------------- CLI


async def test_cli_worker_deployment_commands(client: Client, server: ServerProcess):
    cli = Cli(server, prefix=("worker", "deployment"))
    dep, tq = unique("dep"), unique("tq")
    me = cli_identity()

    assert await cli.error("describe", "--name", "nodep") == (
        "Error: error describing worker deployment: no Worker Deployment found with name 'nodep'; "
        "does your Worker Deployment have pollers?"
    )
    assert await cli.error("describe-version", "--deployment-name", "nodep", "--build-id", "x") == (
        "Error: error describing worker deployment version: Worker Deployment Version not found"
    )

    async with versioned_worker(client, tq, dep, "v1"), versioned_worker(client, tq, dep, "v2"):
        await wait_version(client, dep, "v1")
        await wait_version(client, dep, "v2")

        d = await cli.json("describe", "--name", dep)
        assert d["name"] == dep and d["managerIdentity"] == "" and d["lastModifierIdentity"] == ""
        assert sorted((v["deploymentName"], v["BuildID"], v["drainageStatus"]) for v in d["versionSummaries"]) == [
            (dep, "v1", "unspecified"),
            (dep, "v2", "unspecified"),
        ]
        assert d["routingConfig"]["currentVersionBuildID"] == ""

        # Without --yes the CLI asks (stdin is closed: denied).
        assert (await cli.error("set-current-version", "--deployment-name", dep, "--build-id", "v1")).endswith(
            "Error: user denied confirmation"
        )
        out = await cli.out("set-current-version", "--deployment-name", dep, "--build-id", "v1", "--yes")
        assert out.strip() == "Successfully set the current worker deployment version"
        assert await cli.error(
            "set-ramping-version", "--deployment-name", dep, "--build-id", "v2", "--percentage", "150", "--yes"
        ) == "Error: error  setting the ramping worker deployment version: Percentage must be between 0 and 100 (inclusive)"
        out = await cli.out(
            "set-ramping-version", "--deployment-name", dep, "--build-id", "v2", "--percentage", "20", "--yes"
        )
        assert out.strip() == "Successfully set the ramping worker deployment version"
        await wait_routing_done(client, dep)

        d = await cli.json("describe", "--name", dep)
        rc = d["routingConfig"]
        assert (rc["currentVersionDeploymentName"], rc["currentVersionBuildID"]) == (dep, "v1")
        assert (rc["rampingVersionDeploymentName"], rc["rampingVersionBuildID"]) == (dep, "v2")
        assert rc["rampingVersionPercentage"] == 20
        assert d["lastModifierIdentity"] == me

        v = await cli.json("describe-version", "--deployment-name", dep, "--build-id", "v2")
        assert (v["deploymentName"], v["BuildID"], v["rampPercentage"]) == (dep, "v2", 20)
        assert v["taskQueuesInfos"] == [{"name": tq, "type": "workflow"}]
        assert v["metadata"] is None

        listed = await cli.json("list")
        (entry,) = [e for e in listed if e["name"] == dep]
        assert entry["routingConfig"] == rc and entry["versionSummaries"] is None

        assert await cli.error("delete-version", "--deployment-name", dep, "--build-id", "v1") == (
            f"Error: error deleting worker deployment version: version '{dep}:v1' cannot be deleted since it is "
            "current or ramping"
        )

        out = await cli.out(
            "update-version-metadata", "--deployment-name", dep, "--build-id", "v2",
            "--metadata", 'owner="team-a"', "--metadata", 'cfg={"a": 1}',
        )
        assert out.strip().endswith("Successfully updating metadata for worker deployment version")
        await cli.out("update-version-metadata", "--deployment-name", dep, "--build-id", "v2", "--remove-entries", "cfg")
        vi = (await describe_version(client, dep, "v2")).worker_deployment_version_info
        assert {k: PC.from_payload(p) for k, p in vi.metadata.entries.items()} == {"owner": "team-a"}

        out = await cli.out("manager-identity", "set", "--deployment-name", dep, "--manager-identity", "boss", "--yes")
        assert out.strip() == "Successfully set manager identity to 'boss', was previously ''"
        assert await cli.error("set-ramping-version", "--deployment-name", dep, "--build-id", "v2", "--delete", "--yes") == (
            "Error: error  setting the ramping worker deployment version: ManagerIdentity 'boss' is set and does not "
            f"match user identity '{me}'; to proceed, set your own identity as the ManagerIdentity, remove the "
            "ManagerIdentity, or wait for the other client to do so"
        )
        out = await cli.out("manager-identity", "unset", "--deployment-name", dep, "--yes")
        assert out.strip() == "Successfully unset manager identity, was previously 'boss'"
        out = await cli.out("manager-identity", "set", "--deployment-name", dep, "--self", "--yes")
        assert out.strip() == f"Successfully set manager identity to '{me}', was previously ''"
        assert (await cli.json("describe", "--name", dep))["managerIdentity"] == me

        # ``--delete`` sends the build id with 0 %: v2 stays the ramping version, at 0 %.
        await cli.out("set-ramping-version", "--deployment-name", dep, "--build-id", "v2", "--delete", "--yes")
        rc = (await wait_routing_done(client, dep)).worker_deployment_info.routing_config
        assert rc.ramping_deployment_version == wdv(dep, "v2") and rc.ramping_version_percentage == 0

        # ``--unversioned``: unversioned workers become the current version.
        await cli.out("set-current-version", "--deployment-name", dep, "--unversioned", "--yes")
        rc = (await wait_routing_done(client, dep)).worker_deployment_info.routing_config
        assert rc.current_version == UNVERSIONED and not rc.HasField("current_deployment_version")


# ---------------------------------------------------------------- drainage


async def test_drainage_draining_while_pinned_runs_are_open_then_drained(client: Client):
    dep, tq = unique("dep"), unique("tq")
    async with versioned_worker(client, tq, dep, "v1"), versioned_worker(client, tq, dep, "v2"):
        await wait_version(client, dep, "v1")
        await wait_version(client, dep, "v2")
        await set_current(client, dep, "v1")
        pinned = await client.start_workflow("WdPinned", id=unique("drain"), task_queue=tq)
        await wait_tasks(pinned, 1)

        r = await set_current(client, dep, "v2")
        switched = token_time(r.conflict_token)
        vi = (await describe_version(client, dep, "v1")).worker_deployment_version_info
        assert vi.status == DRAINING
        assert vi.drainage_info.status == D.VERSION_DRAINAGE_STATUS_DRAINING
        first_change = ts(vi.drainage_info.last_changed_time)
        assert first_change >= switched
        s1 = summary(await describe_deployment(client, dep), "v1")
        assert (s1.status, s1.drainage_status) == (DRAINING, D.VERSION_DRAINAGE_STATUS_DRAINING)
        assert s1.drainage_info.status == D.VERSION_DRAINAGE_STATUS_DRAINING
        # A version never current or ramping has no drainage.
        assert not (await describe_version(client, dep, "v2")).worker_deployment_version_info.drainage_info.status

        # Still draining while the pinned run is open; rechecked every refresh interval.
        await asyncio.sleep(2.5)
        vi = (await describe_version(client, dep, "v1")).worker_deployment_version_info
        assert vi.status == DRAINING
        assert ts(vi.drainage_info.last_changed_time) == first_change
        assert ts(vi.drainage_info.last_checked_time) > first_change

        await pinned.signal("finish")
        await pinned.result()
        closed = time.monotonic()
        deadline = closed + WAIT_S
        while True:
            vi = (await describe_version(client, dep, "v1")).worker_deployment_version_info
            if vi.status == DRAINED:
                break
            assert vi.status == DRAINING
            if time.monotonic() > deadline:
                pytest.fail(f"v1 not drained {WAIT_S}s after its last pinned run closed: {vi}")
            await asyncio.sleep(0.1)
        assert vi.drainage_info.status == D.VERSION_DRAINAGE_STATUS_DRAINED
        assert ts(vi.drainage_info.last_changed_time) == ts(vi.drainage_info.last_checked_time)
        s1 = summary(await describe_deployment(client, dep), "v1")
        assert (s1.status, s1.drainage_status) == (DRAINED, D.VERSION_DRAINAGE_STATUS_DRAINED)


async def test_delete_versions_and_deployment(tmp_path):
    """Own server: deleting a version needs it to have had no poller within
    ``matching.PollerHistoryTTL`` (default 5 min)."""
    srv = await asyncio.to_thread(
        start_server, tmp_path, "ttl", dynamic_config={**DRAINAGE_CONFIG, "matching.PollerHistoryTTL": '"1s"'}
    )
    try:
        client = await Client.connect(srv.address, namespace=NS)
        ws = client.workflow_service
        dep, tq = unique("dep"), unique("tq")

        def delete(build: str, **kw):
            return ws.delete_worker_deployment_version(
                DeleteWorkerDeploymentVersionRequest(namespace=NS, deployment_version=wdv(dep, build), **kw)
            )

        async with versioned_worker(client, tq, dep, "v1"), versioned_worker(client, tq, dep, "v2"):
            await wait_version(client, dep, "v1")
            await wait_version(client, dep, "v2")
            await set_current(client, dep, "v1")
            pinned = await client.start_workflow("WdPinned", id=unique("kept"), task_queue=tq)
            await wait_tasks(pinned, 1)
            await set_current(client, dep, "v2")
        await asyncio.sleep(2)  # past the poller TTL

        assert await rpc_error(delete("v1")) == (
            PRECONDITION,
            f"version '{dep}:v1' cannot be deleted since it is draining",
        )
        await delete("v1", skip_drainage=True, identity="deleter")
        assert await rpc_error(describe_version(client, dep, "v1")) == (NOT_FOUND, "Worker Deployment Version not found")
        d = await describe_deployment(client, dep)
        assert [s.deployment_version.build_id for s in d.worker_deployment_info.version_summaries] == ["v2"]
        # The pinned run keeps its (deleted) version.
        vi = await versioning_info(pinned)
        assert (vi.behavior, vi.deployment_version) == (PINNED, wdv(dep, "v1"))
        await pinned.terminate()

        assert await rpc_error(delete("v2")) == (
            PRECONDITION,
            f"version '{dep}:v2' cannot be deleted since it is current or ramping",
        )
        r = await ws.set_worker_deployment_current_version(
            SetWorkerDeploymentCurrentVersionRequest(namespace=NS, deployment_name=dep)
        )
        assert r.previous_deployment_version == wdv(dep, "v2")
        deadline = time.monotonic() + WAIT_S
        while (await describe_version(client, dep, "v2")).worker_deployment_version_info.status != DRAINED:
            assert time.monotonic() < deadline, "v2 not drained"
            await asyncio.sleep(0.1)
        await delete("v2")

        await ws.delete_worker_deployment(DeleteWorkerDeploymentRequest(namespace=NS, deployment_name=dep, identity="x"))
        assert await rpc_error(describe_deployment(client, dep)) == (
            NOT_FOUND,
            f"no Worker Deployment found with name '{dep}'; does your Worker Deployment have pollers?",
        )
        await ws.delete_worker_deployment(DeleteWorkerDeploymentRequest(namespace=NS, deployment_name=dep, identity="x"))
        listed = await ws.list_worker_deployments(ListWorkerDeploymentsRequest(namespace=NS))
        assert dep not in [e.name for e in listed.worker_deployments]
    finally:
        await asyncio.to_thread(srv.stop)


# ---------------------------------------------------------------- overrides


async def test_versioning_override_update_options(client: Client, server: ServerProcess):
    cli = Cli(server, prefix=("workflow",))
    ws = client.workflow_service
    dep, tq = unique("dep"), unique("tq")
    async with versioned_worker(client, tq, dep, "v1"), versioned_worker(client, tq, dep, "v2"):
        await wait_version(client, dep, "v1")
        await wait_version(client, dep, "v2")
        await set_current(client, dep, "v1")
        auto = await client.start_workflow("WdAuto", id=unique("override"), task_queue=tq)
        await wait_tasks(auto, 1)

        async def step_lands_on(n: int) -> str:
            await auto.signal("step")
            return tasks_completed(await wait_tasks(auto, n))[n - 1].deployment_version.build_id

        # Pinned to v2 (not current): Describe shows both the new and the deprecated fields.
        out = await cli.out(
            "update-options", "-w", auto.id, "--versioning-override-behavior", "pinned",
            "--versioning-override-deployment-name", dep, "--versioning-override-build-id", "v2",
        )
        assert out.strip() == "Update workflow options succeeded"
        vi = await versioning_info(auto)
        assert vi.behavior == AUTO_UPGRADE and vi.deployment_version == wdv(dep, "v1")
        o = vi.versioning_override
        assert o.pinned.behavior == VersioningOverride.PINNED_OVERRIDE_BEHAVIOR_PINNED
        assert o.pinned.version == wdv(dep, "v2")
        assert (o.behavior, o.pinned_version) == (PINNED, f"{dep}.v2")
        sa = await search_attrs(auto)
        assert sa["TemporalWorkerDeploymentVersion"] == f"{dep}:v2"
        assert sa["TemporalWorkflowVersioningBehavior"] == "Pinned"
        assert sa["BuildIds"] == [f"pinned:{dep}:v2", "unversioned:v1"]
        assert await step_lands_on(2) == "v2"
        vi = await versioning_info(auto)
        assert vi.deployment_version == wdv(dep, "v2") and vi.behavior == AUTO_UPGRADE

        # Auto-upgrade: the next task goes to the current version.
        await cli.out("update-options", "-w", auto.id, "--versioning-override-behavior", "auto_upgrade")
        o = (await versioning_info(auto)).versioning_override
        assert (o.auto_upgrade, o.behavior) == (True, AUTO_UPGRADE)
        assert await step_lands_on(3) == "v1"

        # Unspecified removes the override.
        await cli.out("update-options", "-w", auto.id, "--versioning-override-behavior", "unspecified")
        assert not (await versioning_info(auto)).HasField("versioning_override")

        # One-time: the next task goes to the target, then the override is gone.
        await cli.out(
            "update-options", "-w", auto.id, "--versioning-override-behavior", "one_time",
            "--versioning-override-deployment-name", dep, "--versioning-override-build-id", "v2",
        )
        o = (await versioning_info(auto)).versioning_override
        assert o.one_time.target_deployment_version == wdv(dep, "v2")
        assert await step_lands_on(4) == "v2"
        assert not (await versioning_info(auto)).HasField("versioning_override")
        assert await step_lands_on(5) == "v1"

        # Errors.
        assert await cli.error(
            "update-options", "-w", auto.id, "--versioning-override-behavior", "pinned",
            "--versioning-override-deployment-name", dep, "--versioning-override-build-id", "nope",
        ) == (
            f"Error: failed to update workflow options: Pinned version '{dep}:nope' is not present in task queue "
            f"'{tq}' of type 'Workflow'"
        )

        def options(wid: str, override: VersioningOverride | None, paths=("versioning_override",), identity="raw"):
            return ws.update_workflow_execution_options(
                UpdateWorkflowExecutionOptionsRequest(
                    namespace=NS,
                    workflow_execution=WorkflowExecution(workflow_id=wid),
                    workflow_execution_options=WorkflowExecutionOptions(versioning_override=override),
                    update_mask=FieldMask(paths=list(paths)) if paths is not None else None,
                    identity=identity,
                )
            )

        pin_v1 = VersioningOverride(
            pinned=VersioningOverride.PinnedOverride(
                behavior=VersioningOverride.PINNED_OVERRIDE_BEHAVIOR_PINNED, version=wdv(dep, "v1")
            )
        )
        pin_nope = VersioningOverride(
            pinned=VersioningOverride.PinnedOverride(
                behavior=VersioningOverride.PINNED_OVERRIDE_BEHAVIOR_PINNED, version=wdv(dep, "nope")
            )
        )
        assert await rpc_error(options(auto.id, pin_nope)) == (
            PRECONDITION,
            f"Pinned version '{dep}:nope' is not present in task queue '{tq}' of type 'Workflow'",
        )
        assert await rpc_error(options(auto.id, pin_v1, paths=None)) == (INVALID, "UpdateMask is required")
        code, message = await rpc_error(options("missing-" + tq, pin_v1))
        assert (code, message) == (NOT_FOUND, f"workflow not found for ID: missing-{tq}")

        # The raw call answers the new-style override only.
        r = await options(auto.id, pin_v1)
        assert r.workflow_execution_options.versioning_override == pin_v1

        await auto.signal("finish")
        assert await auto.result() == ["v1", "v2", "v1", "v2", "v1", "v1"]
        assert await rpc_error(options(auto.id, pin_v1)) == (NOT_FOUND, "workflow execution already completed")

        updated = [
            e.workflow_execution_options_updated_event_attributes
            for e in of_type(await history(auto), EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED)
        ]
        assert [u.versioning_override for u in updated] == [
            VersioningOverride(
                pinned=VersioningOverride.PinnedOverride(
                    behavior=VersioningOverride.PINNED_OVERRIDE_BEHAVIOR_PINNED, version=wdv(dep, "v2")
                )
            ),
            VersioningOverride(auto_upgrade=True),
            VersioningOverride(),
            VersioningOverride(one_time=VersioningOverride.OneTimeOverride(target_deployment_version=wdv(dep, "v2"))),
            pin_v1,
        ]
        assert [u.unset_versioning_override for u in updated] == [False, False, True, False, False]
        assert [u.identity for u in updated] == ["", "", "", cli_identity(), "raw"]

        # An override given at start: the first task goes to that version.
        started = await client.start_workflow(
            "WdAuto",
            id=unique("start-override"),
            task_queue=tq,
            versioning_override=PinnedVersioningOverride(WorkerDeploymentVersion(dep, "v2")),
        )
        events = await wait_tasks(started, 1)
        assert events[0].workflow_execution_started_event_attributes.versioning_override == VersioningOverride(
            pinned=VersioningOverride.PinnedOverride(
                behavior=VersioningOverride.PINNED_OVERRIDE_BEHAVIOR_PINNED, version=wdv(dep, "v2")
            )
        )
        assert tasks_completed(events)[0].deployment_version == wdv(dep, "v2")
        vi = await versioning_info(started)
        assert (vi.behavior, vi.deployment_version, vi.versioning_override.pinned_version) == (
            AUTO_UPGRADE,
            wdv(dep, "v2"),
            f"{dep}.v2",
        )
        await started.signal("finish")
        assert await started.result() == ["v2", "v2"]


# ---------------------------------------------------------------- search attributes


async def test_versioning_search_attributes(client: Client):
    dep, tq = unique("dep"), unique("tq")
    async with versioned_worker(client, tq, dep, "v1"), versioned_worker(client, tq, dep, "v2"):
        await wait_version(client, dep, "v1")
        await wait_version(client, dep, "v2")
        await set_current(client, dep, "v1")
        pinned = await client.start_workflow("WdPinned", id=unique("sa-pinned"), task_queue=tq)
        auto = await client.start_workflow("WdAuto", id=unique("sa-auto"), task_queue=tq)
        await wait_tasks(pinned, 1)
        await wait_tasks(auto, 1)
        assert await search_attrs(pinned) == {
            "TemporalWorkerDeployment": dep,
            "TemporalWorkerDeploymentVersion": f"{dep}:v1",
            "TemporalWorkflowVersioningBehavior": "Pinned",
            "TemporalUsedWorkerDeploymentVersions": [f"{dep}:v1"],
            "BuildIds": [f"pinned:{dep}:v1", "unversioned:v1"],
        }
        assert (await search_attrs(auto))["BuildIds"] == ["unversioned:v1"]

        await set_current(client, dep, "v2")
        await auto.signal("step")
        await wait_tasks(auto, 2)
        fresh = await client.start_workflow("WdPinned", id=unique("sa-fresh"), task_queue=tq)
        await wait_tasks(fresh, 1)
        assert await search_attrs(auto) == {
            "TemporalWorkerDeployment": dep,
            "TemporalWorkerDeploymentVersion": f"{dep}:v2",
            "TemporalWorkflowVersioningBehavior": "AutoUpgrade",
            "TemporalUsedWorkerDeploymentVersions": [f"{dep}:v1", f"{dep}:v2"],
            "BuildIds": ["unversioned:v1", "unversioned:v2"],
        }
        assert (await search_attrs(fresh))["BuildIds"] == [f"pinned:{dep}:v2", "unversioned:v2"]

        p, a, f = pinned.id, auto.id, fresh.id
        queries = {
            f"TemporalWorkerDeployment = '{dep}'": {p, a, f},
            f"TemporalWorkerDeploymentVersion = '{dep}:v1'": {p},
            f"TemporalWorkerDeploymentVersion = '{dep}:v2'": {a, f},
            f"TemporalWorkerDeploymentVersion = '{dep}.v1'": set(),
            f"TemporalWorkerDeploymentVersion STARTS_WITH '{dep}:'": {p, a, f},
            f"TemporalWorkerDeployment = '{dep}' AND TemporalWorkflowVersioningBehavior = 'Pinned'": {p, f},
            f"TemporalWorkerDeployment = '{dep}' AND TemporalWorkflowVersioningBehavior = 'AutoUpgrade'": {a},
            f"TemporalUsedWorkerDeploymentVersions = '{dep}:v1'": {p, a},
            f"BuildIds = 'pinned:{dep}:v1'": {p},
            f"BuildIds IN ('pinned:{dep}:v1', 'pinned:{dep}:v2')": {p, f},
            f"BuildIds = 'unversioned:v2' AND TemporalWorkerDeployment = '{dep}'": {a, f},
        }
        for query, expected in queries.items():
            await wait_listed(client, query, expected)

        # Closed runs keep them.
        for handle in (pinned, auto, fresh):
            await handle.signal("finish")
            await handle.result()
        await wait_listed(client, f"TemporalWorkerDeployment = '{dep}' AND ExecutionStatus = 'Running'", set())
        await wait_listed(client, f"TemporalWorkerDeploymentVersion = '{dep}:v1'", {p})


# ---------------------------------------------------------------- continue-as-new, children


async def test_continue_as_new_keeps_or_upgrades_the_version(client: Client):
    dep, tq = unique("dep"), unique("tq")
    async with versioned_worker(client, tq, dep, "v1"), versioned_worker(client, tq, dep, "v2"):
        await wait_version(client, dep, "v1")
        await wait_version(client, dep, "v2")
        await set_current(client, dep, "v1")
        keep = await client.start_workflow("WdPinnedLooper", args=[0, False], id=unique("can-keep"), task_queue=tq)
        upgrade = await client.start_workflow("WdPinnedLooper", args=[0, True], id=unique("can-up"), task_queue=tq)
        auto = await client.start_workflow("WdAutoLooper", args=[0, False], id=unique("can-auto"), task_queue=tq)
        for handle in (keep, upgrade, auto):
            await wait_tasks(handle, 1)
        await set_current(client, dep, "v2")
        for handle in (keep, upgrade, auto):
            await handle.signal("go_on")

        async def new_run(handle: WorkflowHandle) -> tuple[WorkflowHandle, list[HistoryEvent]]:
            deadline = time.monotonic() + WAIT_S
            while True:
                latest = client.get_workflow_handle(handle.id)
                desc = await latest.describe()
                if desc.run_id != handle.first_execution_run_id:
                    run = client.get_workflow_handle(handle.id, run_id=desc.run_id)
                    return run, await wait_tasks(run, 1)
                assert time.monotonic() < deadline, f"{handle.id} did not continue as new"
                await asyncio.sleep(0.05)

        # Pinned, inheriting: the new run stays on v1 and records the declined upgrade.
        run, events = await new_run(keep)
        started = events[0].workflow_execution_started_event_attributes
        assert started.inherited_pinned_version == wdv(dep, "v1")
        assert started.declined_target_version_upgrade.deployment_version == wdv(dep, "v2")
        assert started.declined_target_version_upgrade.revision_number == 2
        assert not started.HasField("inherited_auto_upgrade_info")
        assert tasks_completed(events)[0].deployment_version == wdv(dep, "v1")
        vi = await versioning_info(run)
        assert (vi.behavior, vi.deployment_version) == (PINNED, wdv(dep, "v1"))
        old = await history(client.get_workflow_handle(keep.id, run_id=keep.first_execution_run_id))
        (can,) = of_type(old, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW)
        attrs = can.workflow_execution_continued_as_new_event_attributes
        assert (attrs.initial_versioning_behavior, attrs.inherit_build_id) == (0, True)

        # Pinned, asking AUTO_UPGRADE: the new run starts on the current version.
        run, events = await new_run(upgrade)
        started = events[0].workflow_execution_started_event_attributes
        assert not started.HasField("inherited_pinned_version")
        info = started.inherited_auto_upgrade_info
        assert info.source_deployment_version == wdv(dep, "v1")
        assert info.source_deployment_revision_number == 1
        assert info.continue_as_new_initial_versioning_behavior == CanVB.CONTINUE_AS_NEW_VERSIONING_BEHAVIOR_AUTO_UPGRADE
        assert tasks_completed(events)[0].deployment_version == wdv(dep, "v2")
        vi = await versioning_info(run)
        assert (vi.behavior, vi.deployment_version, vi.revision_number) == (PINNED, wdv(dep, "v2"), 2)
        assert vi.continue_as_new_initial_versioning_behavior == CanVB.CONTINUE_AS_NEW_VERSIONING_BEHAVIOR_AUTO_UPGRADE
        # The command's initial_versioning_behavior is not echoed in the event.
        old = await history(client.get_workflow_handle(upgrade.id, run_id=upgrade.first_execution_run_id))
        (can,) = of_type(old, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW)
        attrs = can.workflow_execution_continued_as_new_event_attributes
        assert (attrs.initial_versioning_behavior, attrs.inherit_build_id) == (0, True)

        # AutoUpgrade: already moved to v2 at the task that continued; the new run follows.
        run, events = await new_run(auto)
        info = events[0].workflow_execution_started_event_attributes.inherited_auto_upgrade_info
        assert info.source_deployment_version == wdv(dep, "v2")
        assert info.source_deployment_revision_number == 2
        assert info.continue_as_new_initial_versioning_behavior == 0
        assert tasks_completed(events)[0].deployment_version == wdv(dep, "v2")

        for handle, want in ((keep, ["v1", "v1"]), (upgrade, ["v2", "v2"]), (auto, ["v2", "v2"])):
            latest = client.get_workflow_handle(handle.id)
            await latest.signal("go_on")
            assert await latest.result() == want


async def test_children_start_on_the_pinned_parent_version(client: Client):
    dep, tq = unique("dep"), unique("tq")
    async with versioned_worker(client, tq, dep, "v1"), versioned_worker(client, tq, dep, "v2"):
        await wait_version(client, dep, "v1")
        await wait_version(client, dep, "v2")
        await set_current(client, dep, "v1")
        pinned_child, auto_child = unique("child-pinned"), unique("child-auto")
        p1, p2 = [
            await client.start_workflow("WdParent", args=[child_type, child_id], id=unique("parent"), task_queue=tq)
            for child_type, child_id in (("WdChildPinned", pinned_child), ("WdChildAuto", auto_child))
        ]
        await wait_tasks(p1, 1)
        await wait_tasks(p2, 1)
        await set_current(client, dep, "v2")
        for parent in (p1, p2):
            await parent.signal("go_on")

        # A pinned child stays on the parent's version; an auto-upgrade child starts there
        # and moves to the current version at its next task.
        assert await p1.result() == ["v1", ["v1", "v1"]]
        assert await p2.result() == ["v1", ["v1", "v2"]]
        for child_id, behavior, builds in (
            (pinned_child, PINNED, ["v1", "v1"]),
            (auto_child, AUTO_UPGRADE, ["v1", "v2"]),
        ):
            child = client.get_workflow_handle(child_id)
            events = await history(child)
            started = events[0].workflow_execution_started_event_attributes
            assert started.inherited_pinned_version == wdv(dep, "v1")
            assert started.parent_pinned_worker_deployment_version == ""
            done = tasks_completed(events)
            assert [t.deployment_version.build_id for t in done] == builds
            assert {t.versioning_behavior for t in done} == {behavior}
            vi = await versioning_info(child)
            assert (vi.behavior, vi.deployment_version.build_id) == (behavior, builds[-1])


# ---------------------------------------------------------------- polls, older APIs


async def test_poll_deployment_options_validation(client: Client):
    ws = client.workflow_service
    tq = unique("tq")

    def poll(options: WorkerDeploymentOptions, timeout: float = 3):
        return ws.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace=NS, task_queue=TaskQueue(name=tq), identity="probe", deployment_options=options
            ),
            timeout=timedelta(seconds=timeout),
        )

    versioned = WorkerVersioningMode.WORKER_VERSIONING_MODE_VERSIONED
    # A long poll needs a deadline of more than 2 s, checked before anything else.
    assert await rpc_error(poll(WorkerDeploymentOptions(build_id="b1"), timeout=1)) == (
        PRECONDITION,
        "Context timeout is too short.",
    )
    together = (INVALID, "Deployment name and build id must be set together.")
    assert await rpc_error(poll(WorkerDeploymentOptions(build_id="b1", worker_versioning_mode=versioned))) == together
    assert await rpc_error(poll(WorkerDeploymentOptions(deployment_name="d", worker_versioning_mode=versioned))) == together
    assert await rpc_error(
        poll(WorkerDeploymentOptions(deployment_name="a.b", build_id="b1", worker_versioning_mode=versioned))
    ) == (INVALID, "worker deployment name cannot contain '.'")
    assert await rpc_error(
        poll(WorkerDeploymentOptions(deployment_name="d", build_id="__x", worker_versioning_mode=versioned))
    ) == (INVALID, "BuildID cannot start with '__'")

    # An unversioned-mode poller names a deployment without joining it; a versioned poll
    # registers deployment and version; old-style capabilities (use_versioning) are
    # accepted. (The polls end empty at their deadline.)
    unversioned, dep = unique("dep-unversioned"), unique("dep-polled")
    await asyncio.gather(
        poll(
            WorkerDeploymentOptions(
                deployment_name=unversioned,
                build_id="b1",
                worker_versioning_mode=WorkerVersioningMode.WORKER_VERSIONING_MODE_UNVERSIONED,
            )
        ),
        poll(WorkerDeploymentOptions(deployment_name=dep, build_id="b1", worker_versioning_mode=versioned)),
        ws.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace=NS,
                task_queue=TaskQueue(name=unique("tq")),
                identity="probe",
                worker_version_capabilities=WorkerVersionCapabilities(build_id="b1", use_versioning=True),
            ),
            timeout=timedelta(seconds=3),
        ),
    )
    assert (await rpc_error(describe_deployment(client, unversioned)))[0] == NOT_FOUND
    d = await describe_deployment(client, dep)
    assert [s.version for s in d.worker_deployment_info.version_summaries] == [f"{dep}.b1"]
    assert summary(d, "b1").status == INACTIVE

    # allow_no_pollers: a version nobody polled can be made current (here the current
    # version was unversioned, so no task queue of it can go missing).
    r = await ws.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(namespace=NS, deployment_name=dep, build_id="b9", allow_no_pollers=True)
    )
    assert r.previous_version == UNVERSIONED
    v = await describe_version(client, dep, "b9")
    assert v.worker_deployment_version_info.status == CURRENT and not v.version_task_queues
    d = await describe_deployment(client, dep)
    assert [s.deployment_version.build_id for s in d.worker_deployment_info.version_summaries] == ["b9", "b1"]


async def test_legacy_build_id_apis_are_disabled(client: Client):
    ws = client.workflow_service
    tq = unique("tq")
    v01 = (DENIED, "Worker versioning v0.1 (Version Set-based, deprecated) is disabled on this namespace.")
    v02 = (DENIED, "Worker versioning v0.2 (Rules-based, deprecated) is disabled on this namespace.")
    assert await rpc_error(
        ws.get_worker_build_id_compatibility(GetWorkerBuildIdCompatibilityRequest(namespace=NS, task_queue=tq))
    ) == v01
    assert await rpc_error(
        ws.update_worker_build_id_compatibility(
            UpdateWorkerBuildIdCompatibilityRequest(namespace=NS, task_queue=tq, add_new_build_id_in_new_default_set="b1")
        )
    ) == v01
    assert await rpc_error(
        ws.get_worker_versioning_rules(GetWorkerVersioningRulesRequest(namespace=NS, task_queue=tq))
    ) == v02
    assert await rpc_error(
        ws.update_worker_versioning_rules(
            UpdateWorkerVersioningRulesRequest(
                namespace=NS,
                task_queue=tq,
                insert_assignment_rule=UpdateWorkerVersioningRulesRequest.InsertBuildIdAssignmentRule(
                    rule_index=0, rule=BuildIdAssignmentRule(target_build_id="b1")
                ),
            )
        )
    ) == v02
    assert await rpc_error(
        ws.get_worker_task_reachability(GetWorkerTaskReachabilityRequest(namespace=NS, build_ids=["b1"]))
    ) == v02
    # Even without a task queue or build ids: the switch is checked first.
    assert await rpc_error(ws.get_worker_build_id_compatibility(GetWorkerBuildIdCompatibilityRequest(namespace=NS))) == v01
    assert await rpc_error(ws.get_worker_task_reachability(GetWorkerTaskReachabilityRequest(namespace=NS))) == v02
    # ... but after the namespace.
    assert await rpc_error(
        ws.get_worker_versioning_rules(GetWorkerVersioningRulesRequest(namespace="no-such-ns", task_queue=tq))
    ) == (NOT_FOUND, "Namespace no-such-ns is not found.")
