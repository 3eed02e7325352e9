"""SDK features that need no RPC of their own but must work end to end.

Versioning (``workflow.patched`` / ``workflow.deprecate_patch``), local
activities, deterministic randomness across replays, ``workflow.info()``,
headers carried by interceptors, typed failures with details, cancellation
scopes (cancelling one activity, a shielded step after workflow cancellation)
and queries while activities are pending.

Each test asserts what the real Temporal dev server does (checked with
``ENDURE_TEST_TARGET=temporal``). Histories are compared with goldens recorded
against the real server (``history_golden``).

Activities that must be "in flight" while the test acts wait on an
``asyncio.Event`` (a gate) that the test opens: the worker runs in the test's
event loop, so the order of events in each history is deterministic.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState, RetryState
from temporalio.api.errordetails.v1 import QueryFailedFailure
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    QueryWorkflowRequest,
)
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.client import OutboundInterceptor as ClientOutboundInterceptor
from temporalio.client import QueryWorkflowInput, SignalWorkflowInput, StartWorkflowInput
from temporalio.common import (
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.converter import default as default_converter
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleQueryInput,
    HandleSignalInput,
    Interceptor,
    Replayer,
    StartActivityInput,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from conftest import new_worker, unique
from history_golden import COMMAND_EVENTS, check_golden, event_names, events_of, wait_for_events

TIMEOUT_S = 30
ACTIVITY_OPTS = dict(start_to_close_timeout=timedelta(seconds=30))
CHANGE_VERSION = SearchAttributeKey.for_keyword_list("TemporalChangeVersion")
PAYLOADS = default_converter().payload_converter


async def assert_replays(handle: WorkflowHandle, workflows: list[type], **kw) -> None:
    """Replay the server's history of the run; raises on nondeterminism."""
    history = await handle.fetch_history()
    replayer = Replayer(
        workflows=workflows, workflow_runner=UnsandboxedWorkflowRunner(), **kw
    )
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None


def decode(payload: Payload, type_hint: type | None = None) -> Any:
    return PAYLOADS.from_payload(payload, type_hint)


# --------------------------------------------------------------------------
# gates: activities that stay in flight until the test opens them

GATES: dict[str, asyncio.Event] = {}
ENTERED: dict[str, asyncio.Event] = {}
ACTIVITY_LOG: dict[str, list[str]] = {}


def gate(key: str) -> tuple[asyncio.Event, asyncio.Event]:
    """(entered, release) events for the gated activity called with ``key``."""
    GATES[key] = asyncio.Event()
    ENTERED[key] = asyncio.Event()
    ACTIVITY_LOG[key] = []
    return ENTERED[key], GATES[key]


@activity.defn
async def gated_step(key: str) -> str:
    """Heartbeats until the test opens its gate; logs a cancellation."""
    ENTERED[key].set()
    try:
        while not GATES[key].is_set():
            activity.heartbeat()
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        ACTIVITY_LOG[key].append("cancelled")
        raise
    ACTIVITY_LOG[key].append("finished")
    return f"{key} done"


@activity.defn
async def record_step(key: str, note: str) -> str:
    ACTIVITY_LOG.setdefault(key, []).append(note)
    return f"recorded {note}"


# --------------------------------------------------------------------------
# versioning: patched / deprecate_patch


@workflow.defn
class PatchedWorkflow:
    @workflow.run
    async def run(self) -> list[bool]:
        new_path = workflow.patched("change-a")
        workflow.deprecate_patch("change-b")
        # A second workflow task: the patch must replay from history.
        await workflow.sleep(0.1)
        return [new_path, workflow.patched("change-a")]


async def test_patched_and_deprecated_patch(client, task_queue):
    """The SDK records a ``core_patch`` marker per patch plus an upsert of
    TemporalChangeVersion (a KeywordList of every patch id so far); the server
    must store both and index TemporalChangeVersion for Describe."""
    async with new_worker(client, task_queue, [PatchedWorkflow]):
        handle = await client.start_workflow(
            PatchedWorkflow.run, id=unique("patched"), task_queue=task_queue
        )
        assert await asyncio.wait_for(handle.result(), TIMEOUT_S) == [True, True]

    events = list((await handle.fetch_history()).events)
    markers = [e.marker_recorded_event_attributes for e in events_of(events, "MARKER_RECORDED")]
    assert [m.marker_name for m in markers] == ["core_patch", "core_patch"]
    assert [
        json.loads(m.details["patch-data"].payloads[0].data) for m in markers
    ] == [{"id": "change-a", "deprecated": False}, {"id": "change-b", "deprecated": True}]

    upserts = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes
        for e in events_of(events, "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES")
    ]
    assert [decode(sa.indexed_fields["TemporalChangeVersion"]) for sa in upserts] == [
        ["change-a"],
        ["change-a", "change-b"],
    ]

    desc = await handle.describe()
    raw = desc.raw_description.workflow_execution_info.search_attributes
    assert "TemporalChangeVersion" in raw.indexed_fields, dict(raw.indexed_fields)
    assert raw.indexed_fields["TemporalChangeVersion"].metadata["type"] == b"KeywordList"
    assert desc.typed_search_attributes.get(CHANGE_VERSION) == ["change-a", "change-b"]

    await check_golden(
        client,
        "sdk_patch_markers",
        "workflow.patched('change-a') and deprecate_patch('change-b'), then a timer",
        events,
    )
    await assert_replays(handle, [PatchedWorkflow])


# --------------------------------------------------------------------------
# local activities


@activity.defn
async def local_greet(name: str) -> str:
    return f"hello {name} from a local activity"


@activity.defn
async def local_flaky(name: str) -> str:
    if activity.info().attempt == 1:
        raise RuntimeError("local activity fails on attempt 1")
    return f"{name} ok on attempt {activity.info().attempt}"


@activity.defn
async def local_slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


LOCAL_OPTS = dict(
    start_to_close_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
)


@workflow.defn
class LocalActivities:
    @workflow.run
    async def run(self, name: str) -> list[str]:
        first = await workflow.execute_local_activity(local_greet, name, **LOCAL_OPTS)
        second = await workflow.execute_local_activity(local_flaky, name, **LOCAL_OPTS)
        return [first, second]


@workflow.defn
class SlowLocalActivity:
    def __init__(self) -> None:
        self.stage = "starting"

    @workflow.query
    def stage_now(self) -> str:
        return self.stage

    @workflow.run
    async def run(self, seconds: float) -> str:
        self.stage = "in local activity"
        result = await workflow.execute_local_activity(local_slow, seconds, **LOCAL_OPTS)
        self.stage = "done"
        return result


async def test_local_activities_result_marker_and_retry(client, task_queue):
    """Two local activities (the second fails once and is retried inside the
    worker): results come back, each is one ``core_local_activity`` marker and
    no activity task ever reaches the server."""
    async with new_worker(
        client, task_queue, [LocalActivities], [local_greet, local_flaky]
    ):
        handle = await client.start_workflow(
            LocalActivities.run, "ada", id=unique("local"), task_queue=task_queue
        )
        result = await asyncio.wait_for(handle.result(), TIMEOUT_S)
    assert result == ["hello ada from a local activity", "ada ok on attempt 2"]

    events = list((await handle.fetch_history()).events)
    assert not any(n.startswith("ACTIVITY_TASK") for n in event_names(events)), event_names(events)
    markers = [e.marker_recorded_event_attributes for e in events_of(events, "MARKER_RECORDED")]
    assert [m.marker_name for m in markers] == ["core_local_activity"] * 2
    data = [json.loads(m.details["data"].payloads[0].data) for m in markers]
    assert [(d["activity_type"], d["attempt"]) for d in data] == [
        ("local_greet", 1),
        ("local_flaky", 2),
    ]
    assert [decode(m.details["result"].payloads[0], str) for m in markers] == result

    await check_golden(
        client,
        "sdk_local_activities",
        "two local activities in one workflow task; the second fails on attempt 1 "
        "and is retried in the worker",
        events,
    )
    await assert_replays(handle, [LocalActivities])


async def test_local_activity_longer_than_workflow_task_timeout(client, task_queue):
    """A local activity (2.5 s) running past the workflow task timeout (2 s): the
    worker heartbeats the workflow task (completes it with
    forceCreateNewWorkflowTask and gets the next one back) instead of letting
    it time out."""
    async with new_worker(client, task_queue, [SlowLocalActivity], [local_slow]):
        handle = await client.start_workflow(
            SlowLocalActivity.run,
            2.5,
            id=unique("local-slow"),
            task_queue=task_queue,
            task_timeout=timedelta(seconds=2),
        )
        assert await asyncio.wait_for(handle.result(), TIMEOUT_S) == "slept 2.5"

    events = list((await handle.fetch_history()).events)
    assert "WORKFLOW_TASK_TIMED_OUT" not in event_names(events), event_names(events)
    await check_golden(
        client,
        "sdk_local_activity_wft_heartbeat",
        "a 2.5 s local activity with a 2 s workflow task timeout",
        events,
    )
    await assert_replays(handle, [SlowLocalActivity])


async def test_query_during_local_activity(client, task_queue):
    """A query sent while the worker holds the workflow task (running a 2.5 s
    local activity, task timeout 2 s) is answered at the next workflow task:
    the real server attaches it to the task that the worker's heartbeat
    (forceCreateNewWorkflowTask at ~1.6 s) creates, and the worker answers
    from the state inside the local activity, long before the run ends."""
    async with new_worker(client, task_queue, [SlowLocalActivity], [local_slow]):
        handle = await client.start_workflow(
            SlowLocalActivity.run,
            2.5,
            id=unique("local-query"),
            task_queue=task_queue,
            task_timeout=timedelta(seconds=2),
        )
        await asyncio.sleep(0.5)
        sent = time.monotonic()
        stage = await asyncio.wait_for(handle.query(SlowLocalActivity.stage_now), TIMEOUT_S)
        waited = time.monotonic() - sent
        assert await asyncio.wait_for(handle.result(), TIMEOUT_S) == "slept 2.5"

    assert stage == "in local activity", (
        f"query answered after {waited:.2f}s with {stage!r}: not delivered at the "
        "workflow task created by the heartbeat"
    )
    events = list((await handle.fetch_history()).events)
    await check_golden(
        client,
        "sdk_query_during_local_activity",
        "query sent 0.5 s into a 2.5 s local activity (task timeout 2 s); it "
        "rides on the heartbeat's new workflow task, which completes at once, "
        "and another workflow task carries the local activity on",
        events,
    )


# --------------------------------------------------------------------------
# deterministic randomness across replays


@activity.defn
async def echo(values: list[str]) -> list[str]:
    return values


@workflow.defn
class RandomValues:
    def __init__(self) -> None:
        self.values: list[str] = []

    def draw(self) -> list[str]:
        rnd = workflow.random()
        return [
            str(workflow.uuid4()),
            str(rnd.randint(0, 10**9)),
            f"{rnd.random():.12f}",
            workflow.now().isoformat(),
        ]

    @workflow.query
    def drawn(self) -> list[str]:
        return self.values

    @workflow.run
    async def run(self) -> dict[str, Any]:
        self.values = self.draw()
        # The values generated in task 1 went into history (activity input);
        # a worker that replays task 1 from scratch must draw the same ones.
        echoed = await workflow.execute_activity(echo, self.values, **ACTIVITY_OPTS)
        await workflow.sleep(0.1)
        self.values = self.values + self.draw()
        return {"values": self.values, "echo_matches": echoed == self.values[:4]}


async def test_random_uuid_and_now_are_replay_deterministic(client, task_queue):
    """uuid4 / random / now are seeded from history: a worker without a cache
    replays the whole history on every task and draws the same values; the
    Replayer on the fetched history succeeds; a query on the closed run from
    a fresh worker sees them too. Two runs get different values (the seed is
    the run's originalExecutionRunId)."""
    # max_cached_workflows=0: every workflow task replays from event 1.
    async with new_worker(
        client, task_queue, [RandomValues], [echo], max_cached_workflows=0
    ):
        h1 = await client.start_workflow(RandomValues.run, id=unique("rand"), task_queue=task_queue)
        h2 = await client.start_workflow(RandomValues.run, id=unique("rand"), task_queue=task_queue)
        r1 = await asyncio.wait_for(h1.result(), TIMEOUT_S)
        r2 = await asyncio.wait_for(h2.result(), TIMEOUT_S)
    for r in (r1, r2):
        assert r["echo_matches"], r
        assert len(r["values"]) == 8
    assert r1["values"][:3] != r2["values"][:3], "two runs drew the same random values"

    started = events_of((await h1.fetch_history()).events, "WORKFLOW_EXECUTION_STARTED")[0]
    assert started.workflow_execution_started_event_attributes.original_execution_run_id == (
        h1.result_run_id
    )

    await assert_replays(h1, [RandomValues])
    # A fresh worker with an empty cache: the query on the closed run makes it
    # replay the full history.
    async with new_worker(client, task_queue, [RandomValues], [echo]):
        assert await asyncio.wait_for(h1.query(RandomValues.drawn), TIMEOUT_S) == r1["values"]


# --------------------------------------------------------------------------
# workflow.info()


def info_dict() -> dict[str, Any]:
    info = workflow.info()
    rp = info.retry_policy
    return {
        "attempt": info.attempt,
        "workflow_id": info.workflow_id,
        "run_id": info.run_id,
        "first_execution_run_id": info.first_execution_run_id,
        "continued_run_id": info.continued_run_id,
        "task_queue": info.task_queue,
        "workflow_type": info.workflow_type,
        "namespace": info.namespace,
        "start_time": info.start_time.isoformat(),
        "execution_timeout": info.execution_timeout.total_seconds() if info.execution_timeout else None,
        "run_timeout": info.run_timeout.total_seconds() if info.run_timeout else None,
        "task_timeout": info.task_timeout.total_seconds(),
        "cron_schedule": info.cron_schedule,
        "retry_policy": None
        if rp is None
        else {
            "initial_interval": rp.initial_interval.total_seconds(),
            "backoff_coefficient": rp.backoff_coefficient,
            "maximum_interval": rp.maximum_interval.total_seconds() if rp.maximum_interval else None,
            "maximum_attempts": rp.maximum_attempts,
            "non_retryable_error_types": list(rp.non_retryable_error_types or []),
        },
        "memo": dict(workflow.memo()),
        "change_version": info.typed_search_attributes.get(CHANGE_VERSION),
        "parent": None
        if info.parent is None
        else [info.parent.namespace, info.parent.workflow_id, info.parent.run_id],
        "root": None if info.root is None else [info.root.workflow_id, info.root.run_id],
    }


@workflow.defn
class InfoWorkflow:
    @workflow.run
    async def run(self, fail_first_attempt: bool) -> dict[str, Any]:
        if fail_first_attempt and workflow.info().attempt == 1:
            raise ApplicationError("attempt 1 fails on purpose", type="Retryable")
        return info_dict()


@workflow.defn
class InfoParent:
    @workflow.run
    async def run(self) -> dict[str, Any]:
        child = await workflow.execute_child_workflow(
            InfoWorkflow.run, False, id=f"{workflow.info().workflow_id}-child"
        )
        return {"parent": info_dict(), "child": child}


@workflow.defn
class InfoContinueAsNew:
    @workflow.run
    async def run(self, continued: bool) -> dict[str, Any]:
        if not continued:
            workflow.continue_as_new(True)
        return info_dict()


WF_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=3.0,
    maximum_interval=timedelta(seconds=20),
    maximum_attempts=2,
    non_retryable_error_types=["Fatal"],
)


def assert_start_time(value: str, before: datetime, after: datetime) -> None:
    t = datetime.fromisoformat(value)
    assert t.tzinfo is not None
    slack = timedelta(seconds=2)
    assert before - slack <= t <= after + slack, (before, t, after)


async def test_workflow_info_fields(client, task_queue):
    """attempt (2, after a workflow retry), ids, queue, type, namespace, start
    time, timeouts, retry policy, memo and search attributes given at start."""
    wf_id = unique("info")
    before = datetime.now(timezone.utc)
    async with new_worker(client, task_queue, [InfoWorkflow]):
        handle = await client.start_workflow(
            InfoWorkflow.run,
            True,
            id=wf_id,
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=120),
            run_timeout=timedelta(seconds=60),
            task_timeout=timedelta(seconds=7),
            retry_policy=WF_RETRY,
            memo={"owner": "alice", "n": 7},
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(CHANGE_VERSION, ["set-at-start"])]
            ),
        )
        info = await asyncio.wait_for(handle.result(), TIMEOUT_S)
    after = datetime.now(timezone.utc)

    first_run = handle.first_execution_run_id
    last_run = (await client.get_workflow_handle(wf_id).describe()).run_id
    assert first_run and last_run != first_run
    assert info["attempt"] == 2
    assert info["workflow_id"] == wf_id
    assert info["run_id"] == last_run
    assert info["first_execution_run_id"] == first_run
    # A retry's run continues the failed one.
    assert info["continued_run_id"] == first_run
    assert info["task_queue"] == task_queue
    assert info["workflow_type"] == "InfoWorkflow"
    assert info["namespace"] == "default"
    assert_start_time(info["start_time"], before, after)
    assert info["execution_timeout"] == 120
    assert info["run_timeout"] == 60
    assert info["task_timeout"] == 7
    assert info["cron_schedule"] is None
    assert info["retry_policy"] == {
        "initial_interval": 1.0,
        "backoff_coefficient": 3.0,
        "maximum_interval": 20.0,
        "maximum_attempts": 2,
        "non_retryable_error_types": ["Fatal"],
    }
    assert info["memo"] == {"owner": "alice", "n": 7}
    assert info["change_version"] == ["set-at-start"]
    assert info["parent"] is None and info["root"] is None


async def test_workflow_info_in_child(client, task_queue):
    """A child sees its parent (namespace, id, run id) and its root (the
    top-level parent); the parent has neither."""
    async with new_worker(client, task_queue, [InfoWorkflow, InfoParent]):
        parent = await client.start_workflow(
            InfoParent.run, id=unique("info-parent"), task_queue=task_queue
        )
        got = await asyncio.wait_for(parent.result(), TIMEOUT_S)

    p, c = got["parent"], got["child"]
    assert p["parent"] is None and p["root"] is None
    assert c["workflow_id"] == f"{parent.id}-child"
    assert c["workflow_type"] == "InfoWorkflow"
    assert c["task_queue"] == task_queue
    assert c["namespace"] == "default"
    assert c["continued_run_id"] is None and c["attempt"] == 1
    assert c["parent"] == ["default", parent.id, parent.result_run_id]
    assert c["root"] == [parent.id, parent.result_run_id]


async def test_workflow_info_after_continue_as_new(client, task_queue):
    """The run after continue-as-new sees the previous run id as
    continued_run_id and keeps memo and search attributes."""
    async with new_worker(client, task_queue, [InfoContinueAsNew]):
        can = await client.start_workflow(
            InfoContinueAsNew.run,
            False,
            id=unique("info-can"),
            task_queue=task_queue,
            memo={"kept": True},
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(CHANGE_VERSION, ["kept-sa"])]
            ),
        )
        can_info = await asyncio.wait_for(can.result(), TIMEOUT_S)

    first_run = can.first_execution_run_id
    last_run = (await client.get_workflow_handle(can.id).describe()).run_id
    assert can_info["continued_run_id"] == first_run
    assert can_info["first_execution_run_id"] == first_run
    assert can_info["run_id"] == last_run != first_run
    assert can_info["attempt"] == 1
    assert can_info["workflow_type"] == "InfoContinueAsNew"
    assert can_info["memo"] == {"kept": True}
    assert can_info["change_version"] == ["kept-sa"]


async def test_child_started_event_and_describe_name_parent_and_root(client, task_queue):
    """What workflow.info().parent/root are built from: the child's
    WorkflowExecutionStarted carries parentWorkflowExecution and
    rootWorkflowExecution (the top-level parent); DescribeWorkflowExecution of
    the child shows parentExecution, parentNamespaceId and rootExecution."""
    async with new_worker(client, task_queue, [InfoWorkflow, InfoParent]):
        parent = await client.start_workflow(
            InfoParent.run, id=unique("root-parent"), task_queue=task_queue
        )
        await asyncio.wait_for(parent.result(), TIMEOUT_S)
    parent_exec = (parent.id, parent.result_run_id)
    child = client.get_workflow_handle(f"{parent.id}-child")
    ns_id = (
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
    ).namespace_info.id

    def pair(execution: WorkflowExecution) -> tuple[str, str]:
        return (execution.workflow_id, execution.run_id)

    started = (await child.fetch_history()).events[0].workflow_execution_started_event_attributes
    child_info = (await child.describe()).raw_description.workflow_execution_info
    parent_info = (await parent.describe()).raw_description.workflow_execution_info
    # Every check, so one run reports every difference.
    checks = {
        "started.parent_workflow_namespace": (started.parent_workflow_namespace, "default"),
        "started.parent_workflow_namespace_id": (started.parent_workflow_namespace_id, ns_id),
        "started.parent_workflow_execution": (pair(started.parent_workflow_execution), parent_exec),
        "started.root_workflow_execution": (
            pair(started.root_workflow_execution)
            if started.HasField("root_workflow_execution")
            else None,
            parent_exec,
        ),
        "describe(child).parent_execution": (
            pair(child_info.parent_execution) if child_info.HasField("parent_execution") else None,
            parent_exec,
        ),
        "describe(child).parent_namespace_id": (child_info.parent_namespace_id, ns_id),
        "describe(child).root_execution": (pair(child_info.root_execution), parent_exec),
        "describe(parent).parent_execution": (parent_info.HasField("parent_execution"), False),
        "describe(parent).root_execution": (pair(parent_info.root_execution), parent_exec),
    }
    wrong = {k: f"got {got!r}, expected {exp!r}" for k, (got, exp) in checks.items() if got != exp}
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in wrong.items())


# --------------------------------------------------------------------------
# headers and interceptors

HEADER = "x-endure-test"
_activity_header: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "activity_header", default=None
)


def header_value(headers: Mapping[str, Payload]) -> str | None:
    return decode(headers[HEADER], str) if HEADER in headers else None


class _HeaderClientOutbound(ClientOutboundInterceptor):
    async def start_workflow(self, input: StartWorkflowInput):
        input.headers = {**input.headers, HEADER: PAYLOADS.to_payload(f"start:{input.id}")}
        return await super().start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        input.headers = {**input.headers, HEADER: PAYLOADS.to_payload(f"signal:{input.args[0]}")}
        return await super().signal_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput):
        input.headers = {**input.headers, HEADER: PAYLOADS.to_payload(f"query:{input.query}")}
        return await super().query_workflow(input)


class HeaderClientInterceptor(ClientInterceptor):
    def intercept_client(self, next: ClientOutboundInterceptor) -> ClientOutboundInterceptor:
        return _HeaderClientOutbound(next)


class _HeaderWorkflowOutbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput):
        # Propagate the start header to the activities (as tracing does).
        seen = workflow.instance().seen.get("start")
        if seen is not None:
            input.headers = {**input.headers, HEADER: PAYLOADS.to_payload(f"from-workflow:{seen}")}
        return super().start_activity(input)


class _HeaderWorkflowInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_HeaderWorkflowOutbound(outbound))

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        workflow.instance().seen["start"] = header_value(input.headers)
        return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        workflow.instance().seen.setdefault("signals", []).append(header_value(input.headers))
        return await super().handle_signal(input)

    def handle_query(self, input: HandleQueryInput) -> Any:
        if input.query == "seen_headers":
            workflow.instance().seen["query"] = header_value(input.headers)
        return super().handle_query(input)


class _HeaderActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        _activity_header.set(header_value(input.headers))
        return await super().execute_activity(input)


class HeaderWorkerInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _HeaderActivityInbound(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _HeaderWorkflowInbound


@activity.defn
async def header_seen_by_activity() -> str | None:
    return _activity_header.get()


@workflow.defn
class HeaderWorkflow:
    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}
        self.go = False

    @workflow.signal
    def proceed(self, tag: str) -> None:
        self.go = True

    @workflow.query
    def seen_headers(self) -> dict[str, Any]:
        return dict(self.seen)

    @workflow.run
    async def run(self) -> dict[str, Any]:
        await workflow.wait_condition(lambda: self.go)
        self.seen["activity"] = await workflow.execute_activity(
            header_seen_by_activity, **ACTIVITY_OPTS
        )
        self.seen["info_headers"] = header_value(workflow.info().headers)
        return dict(self.seen)


def header_client(client: Client) -> Client:
    config = client.config()
    config["interceptors"] = [HeaderClientInterceptor()]
    return Client(**config)


async def test_headers_from_client_interceptor_reach_workflow_and_activity(client, task_queue):
    """Headers added by a client interceptor on start and signal arrive in the
    worker interceptor (workflow side); one propagated by the workflow
    interceptor arrives in the activity interceptor. The server stores them
    in WorkflowExecutionStarted / WorkflowExecutionSignaled /
    ActivityTaskScheduled."""
    hclient = header_client(client)
    wf_id = unique("headers")
    async with new_worker(
        client,
        task_queue,
        [HeaderWorkflow],
        [header_seen_by_activity],
        interceptors=[HeaderWorkerInterceptor()],
    ):
        handle = await hclient.start_workflow(HeaderWorkflow.run, id=wf_id, task_queue=task_queue)
        await wait_for_events(handle, [], trailing=COMMAND_EVENTS)
        await handle.signal(HeaderWorkflow.proceed, "s1")
        seen = await asyncio.wait_for(handle.result(), TIMEOUT_S)

    assert seen == {
        "start": f"start:{wf_id}",
        "signals": ["signal:s1"],
        "activity": f"from-workflow:start:{wf_id}",
        "info_headers": f"start:{wf_id}",
    }
    events = list((await handle.fetch_history()).events)
    started = events_of(events, "WORKFLOW_EXECUTION_STARTED")[0]
    assert header_value(started.workflow_execution_started_event_attributes.header.fields) == (
        f"start:{wf_id}"
    )
    signaled = events_of(events, "WORKFLOW_EXECUTION_SIGNALED")[0]
    assert header_value(signaled.workflow_execution_signaled_event_attributes.header.fields) == (
        "signal:s1"
    )
    scheduled = events_of(events, "ACTIVITY_TASK_SCHEDULED")[0]
    assert header_value(scheduled.activity_task_scheduled_event_attributes.header.fields) == (
        f"from-workflow:start:{wf_id}"
    )
    await assert_replays(handle, [HeaderWorkflow], interceptors=[HeaderWorkerInterceptor()])


async def test_query_header_reaches_worker_interceptor(client, task_queue):
    """A header added to QueryWorkflow by a client interceptor reaches the
    worker's query interceptor (the server advertises signalAndQueryHeader)."""
    hclient = header_client(client)
    async with new_worker(
        client,
        task_queue,
        [HeaderWorkflow],
        [header_seen_by_activity],
        interceptors=[HeaderWorkerInterceptor()],
    ):
        handle = await hclient.start_workflow(
            HeaderWorkflow.run, id=unique("headers-query"), task_queue=task_queue
        )
        await wait_for_events(handle, [], trailing=COMMAND_EVENTS)
        seen = await asyncio.wait_for(handle.query(HeaderWorkflow.seen_headers), TIMEOUT_S)
        assert seen.get("query") == "query:seen_headers", seen
        await handle.terminate("done")


# --------------------------------------------------------------------------
# typed failures with details


@activity.defn
async def fail_typed(kind: str) -> str:
    if kind == "non_retryable":
        raise ApplicationError(
            "typed failure", "a", 1, {"k": "v"}, type="MyError", non_retryable=True
        )
    ACTIVITY_LOG.setdefault(kind, []).append(f"attempt {activity.info().attempt}")
    # Retryable by itself, but the retry policy names its type non-retryable.
    raise ApplicationError("fatal by policy", {"why": "policy"}, type="Fatal")


@workflow.defn
class CatchActivityError:
    @workflow.run
    async def run(self, kind: str) -> dict[str, Any]:
        try:
            await workflow.execute_activity(
                fail_typed,
                kind,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=100),
                    maximum_attempts=5,
                    non_retryable_error_types=["Fatal"],
                ),
                **ACTIVITY_OPTS,
            )
        except ActivityError as err:
            cause = err.cause
            assert isinstance(cause, ApplicationError)
            return {
                "activity_type": err.activity_type,
                "retry_state": err.retry_state.name if err.retry_state else None,
                "type": cause.type,
                "message": cause.message,
                "details": list(cause.details),
                "non_retryable": cause.non_retryable,
            }
        return {}


@workflow.defn
class FailWithDetails:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError(
            "workflow gives up", "x", 2, {"z": [1, 2]}, type="WfError"
        ) from ApplicationError("root cause", "inner-detail", type="Inner")


async def test_activity_application_error_details_round_trip(client, task_queue):
    """An activity's ApplicationError (type, message, details, non_retryable)
    reaches the workflow as ActivityError.cause; a type listed in the retry
    policy's nonRetryableErrorTypes stops the retries on the server."""
    async with new_worker(client, task_queue, [CatchActivityError], [fail_typed]):
        h1 = await client.start_workflow(
            CatchActivityError.run, "non_retryable", id=unique("typed"), task_queue=task_queue
        )
        kind = unique("by-policy")
        h2 = await client.start_workflow(
            CatchActivityError.run, kind, id=unique("typed"), task_queue=task_queue
        )
        r1 = await asyncio.wait_for(h1.result(), TIMEOUT_S)
        r2 = await asyncio.wait_for(h2.result(), TIMEOUT_S)

    assert r1 == {
        "activity_type": "fail_typed",
        "retry_state": "NON_RETRYABLE_FAILURE",
        "type": "MyError",
        "message": "typed failure",
        "details": ["a", 1, {"k": "v"}],
        "non_retryable": True,
    }
    assert r2 == {
        "activity_type": "fail_typed",
        "retry_state": "NON_RETRYABLE_FAILURE",
        "type": "Fatal",
        "message": "fatal by policy",
        "details": [{"why": "policy"}],
        "non_retryable": False,
    }
    assert ACTIVITY_LOG[kind] == ["attempt 1"], "server retried a non-retryable error type"

    events = list((await h1.fetch_history()).events)
    failed = events_of(events, "ACTIVITY_TASK_FAILED")[0].activity_task_failed_event_attributes
    assert failed.retry_state == RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
    info = failed.failure.application_failure_info
    assert (failed.failure.message, info.type, info.non_retryable) == ("typed failure", "MyError", True)
    assert [decode(p) for p in info.details.payloads] == ["a", 1, {"k": "v"}]
    await check_golden(
        client,
        "sdk_activity_typed_failure",
        "activity raises a non-retryable ApplicationError with details; the "
        "workflow catches it and completes",
        events,
    )


async def test_workflow_application_error_details_reach_client(client, task_queue):
    async with new_worker(client, task_queue, [FailWithDetails]):
        handle = await client.start_workflow(
            FailWithDetails.run, id=unique("wf-typed"), task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as excinfo:
            await asyncio.wait_for(handle.result(), TIMEOUT_S)
    err = excinfo.value
    cause = err.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message, list(cause.details)) == (
        "WfError",
        "workflow gives up",
        ["x", 2, {"z": [1, 2]}],
    )
    assert not cause.non_retryable
    inner = cause.cause
    assert isinstance(inner, ApplicationError)
    assert (inner.type, inner.message, list(inner.details)) == ("Inner", "root cause", ["inner-detail"])
    events = list((await handle.fetch_history()).events)
    failed = events_of(events, "WORKFLOW_EXECUTION_FAILED")[0]
    attrs = failed.workflow_execution_failed_event_attributes
    assert attrs.retry_state == RetryState.RETRY_STATE_RETRY_POLICY_NOT_SET
    assert attrs.failure.application_failure_info.type == "WfError"
    assert attrs.failure.cause.application_failure_info.type == "Inner"

    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.FAILED


# --------------------------------------------------------------------------
# cancellation scopes


@workflow.defn
class CancelOneActivity:
    def __init__(self) -> None:
        self.cancel_a = False

    @workflow.signal
    def cancel_first(self) -> None:
        self.cancel_a = True

    @workflow.run
    async def run(self, key_a: str, key_b: str) -> dict[str, str]:
        opts = dict(
            heartbeat_timeout=timedelta(seconds=10),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            **ACTIVITY_OPTS,
        )
        a = workflow.start_activity(gated_step, key_a, **opts)
        b = workflow.start_activity(gated_step, key_b, **opts)
        await workflow.wait_condition(lambda: self.cancel_a)
        a.cancel()
        outcome: dict[str, str] = {}
        try:
            outcome["a"] = await a
        except ActivityError as err:
            outcome["a"] = f"{type(err.cause).__name__}"
        outcome["b"] = await b
        return outcome


@workflow.defn
class ShieldedStepThenCleanup:
    @workflow.run
    async def run(self, key: str) -> str:
        important = workflow.start_activity(gated_step, key, **ACTIVITY_OPTS)
        try:
            return await asyncio.shield(important)
        except asyncio.CancelledError:
            # The workflow was cancelled; the shielded activity was not.
            finished = await important
            await workflow.execute_activity(
                record_step, args=[key, f"cleanup after {finished}"], **ACTIVITY_OPTS
            )
            raise


FAST_HEARTBEATS = dict(
    max_heartbeat_throttle_interval=timedelta(milliseconds=100),
    default_heartbeat_throttle_interval=timedelta(milliseconds=100),
)


async def test_cancel_one_activity_while_another_continues(client, task_queue):
    """The workflow cancels activity A (WAIT_CANCELLATION_COMPLETED); the
    server reports the request on A's heartbeat, A sees CancelledError and the
    workflow gets ActivityTaskCanceled; B keeps running and completes."""
    key_a, key_b = unique("act-a"), unique("act-b")
    entered_a, _ = gate(key_a)
    entered_b, release_b = gate(key_b)
    async with new_worker(
        client, task_queue, [CancelOneActivity], [gated_step], **FAST_HEARTBEATS
    ):
        handle = await client.start_workflow(
            CancelOneActivity.run, args=[key_a, key_b], id=unique("cancel-one"), task_queue=task_queue
        )
        await asyncio.wait_for(asyncio.gather(entered_a.wait(), entered_b.wait()), TIMEOUT_S)
        await handle.signal(CancelOneActivity.cancel_first)
        await wait_for_events(handle, ["ACTIVITY_TASK_CANCELED"], trailing=COMMAND_EVENTS)
        assert ACTIVITY_LOG[key_b] == []
        release_b.set()
        result = await asyncio.wait_for(handle.result(), TIMEOUT_S)

    assert result == {"a": "CancelledError", "b": f"{key_b} done"}
    assert ACTIVITY_LOG[key_a] == ["cancelled"]
    assert ACTIVITY_LOG[key_b] == ["finished"]
    events = list((await handle.fetch_history()).events)
    await check_golden(
        client,
        "sdk_cancel_one_activity",
        "two activities; a signal makes the workflow cancel the first "
        "(WAIT_CANCELLATION_COMPLETED); the second completes afterwards",
        events,
    )
    await assert_replays(handle, [CancelOneActivity])


async def test_shielded_activity_and_cleanup_after_workflow_cancel(client, task_queue):
    """Workflow cancellation interrupts the await but not the shielded
    activity: it completes, then a cleanup activity runs and the workflow ends
    CANCELED."""
    key = unique("shield")
    entered, release = gate(key)
    async with new_worker(
        client, task_queue, [ShieldedStepThenCleanup], [gated_step, record_step], **FAST_HEARTBEATS
    ):
        handle = await client.start_workflow(
            ShieldedStepThenCleanup.run, key, id=unique("shielded"), task_queue=task_queue
        )
        await asyncio.wait_for(entered.wait(), TIMEOUT_S)
        await wait_for_events(handle, [], trailing=COMMAND_EVENTS)
        await handle.cancel()
        await wait_for_events(handle, ["WORKFLOW_EXECUTION_CANCEL_REQUESTED"], trailing=COMMAND_EVENTS)
        # Give a (wrong) cancellation of the shielded activity time to arrive.
        await asyncio.sleep(0.5)
        assert ACTIVITY_LOG[key] == []
        release.set()
        with pytest.raises(WorkflowFailureError) as excinfo:
            await asyncio.wait_for(handle.result(), TIMEOUT_S)

    assert isinstance(excinfo.value.cause, CancelledError)
    assert ACTIVITY_LOG[key] == ["finished", f"cleanup after {key} done"]
    events = list((await handle.fetch_history()).events)
    assert "ACTIVITY_TASK_CANCEL_REQUESTED" not in event_names(events)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    await check_golden(
        client,
        "sdk_shielded_cleanup",
        "cancel requested while a shielded activity runs; it completes, a "
        "cleanup activity runs, the workflow ends canceled",
        events,
    )
    await assert_replays(handle, [ShieldedStepThenCleanup])


# --------------------------------------------------------------------------
# queries while activities are pending


@workflow.defn
class StagedWork:
    def __init__(self) -> None:
        self.stage = "starting"

    @workflow.query
    def stage_now(self) -> str:
        return self.stage

    @workflow.run
    async def run(self, key: str) -> str:
        self.stage = "waiting for gated_step"
        result = await workflow.execute_activity(gated_step, key, **ACTIVITY_OPTS)
        self.stage = f"done: {result}"
        return self.stage


async def test_query_while_activity_pending_and_unknown_query(client, task_queue):
    """A query answers from the workflow's state while its activity runs; an
    unknown query name fails with INVALID_ARGUMENT + QueryFailedFailure and
    the worker's message, as on the real server."""
    key = unique("staged")
    entered, release = gate(key)
    async with new_worker(client, task_queue, [StagedWork], [gated_step]):
        handle = await client.start_workflow(
            StagedWork.run, key, id=unique("staged"), task_queue=task_queue
        )
        await asyncio.wait_for(entered.wait(), TIMEOUT_S)
        await wait_for_events(handle, ["ACTIVITY_TASK_SCHEDULED"], trailing=COMMAND_EVENTS)
        assert await asyncio.wait_for(handle.query(StagedWork.stage_now), TIMEOUT_S) == (
            "waiting for gated_step"
        )
        desc = await handle.describe()
        pending = desc.raw_description.pending_activities
        assert [p.activity_type.name for p in pending] == ["gated_step"]
        assert pending[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED

        expected_message = (
            "Query handler for 'no_such_query' expected but not found, known queries: "
            "[__enhanced_stack_trace __stack_trace __temporal_workflow_metadata stage_now]"
        )
        with pytest.raises(WorkflowQueryFailedError) as excinfo:
            await asyncio.wait_for(handle.query("no_such_query"), TIMEOUT_S)
        assert str(excinfo.value) == expected_message

        with pytest.raises(RPCError) as rpc_err:
            await client.workflow_service.query_workflow(
                QueryWorkflowRequest(
                    namespace="default",
                    execution=WorkflowExecution(workflow_id=handle.id),
                    query=WorkflowQuery(query_type="no_such_query"),
                )
            )
        assert rpc_err.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert rpc_err.value.message == expected_message
        details = rpc_err.value.grpc_status.details
        assert [d.type_url for d in details] == [
            "type.googleapis.com/temporal.api.errordetails.v1.QueryFailedFailure"
        ]
        detail = QueryFailedFailure()
        details[0].Unpack(detail)
        # The real dev server (1.32) sends the detail without a failure.
        assert detail == QueryFailedFailure()

        # Still running, still answering.
        assert await handle.query(StagedWork.stage_now) == "waiting for gated_step"
        release.set()
        assert await asyncio.wait_for(handle.result(), TIMEOUT_S) == f"done: {key} done"
