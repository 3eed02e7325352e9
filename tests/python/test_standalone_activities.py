"""Standalone activities: activities a client starts, not a workflow
(StartActivityExecution, DescribeActivityExecution, PollActivityExecution,
RequestCancelActivityExecution, TerminateActivityExecution,
DeleteActivityExecution, ListActivityExecutions, CountActivityExecutions), run by
a real Python SDK worker (``client.start_activity``/``execute_activity``,
``get_activity_handle``, ``get_async_activity_handle``), through raw gRPC and the
``temporal activity`` CLI.

Validated against the real dev server (Temporal 1.32.0, CLI 1.9.1, temporalio
1.35), where standalone activities are on by default; /work/notes/standalone-activities.md
has the full list of wire facts. What these tests pin:

* Start answers ``run_id`` (a UUID), ``started`` (false when an existing run is
  returned) and ``link.activity{namespace, activity_id, run_id}``. Describe echoes
  the request: input (``include_input``), header, user metadata (summary and
  details), priority, search attributes (as sent: no ``type`` metadata added),
  start delay; all four timeouts are always present (``0s`` when unset), the
  retry policy is filled in (initial 1 s, coefficient 2, maximum interval 100 x
  the initial one, attempts 0 = unlimited). Only ScheduleToClose set: StartToClose
  and ScheduleToStart take its value; ScheduleToStart and StartToClose are capped
  at ScheduleToClose and the heartbeat timeout at StartToClose. ``execution_time``
  = ``schedule_time`` + start delay; ``expiration_time`` only with a ScheduleToClose
  timeout. ``search_attributes`` is always present (empty), ``priority``,
  ``header``, ``user_metadata`` and ``start_delay`` only when sent. (There is
  no memo: StartActivityExecutionRequest has no such field.)
* Validation: INVALID_ARGUMENT with the server's texts (``activityId is not set``,
  ``activityType is not set``, ``taskQueue is not set``/``missing task queue
  name``, ``a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on
  the activity. ActivityId=<id> ActivityType=<type>``, ``invalid <Timeout>:
  negative duration``, length limits, retry-policy and search-attribute errors...).
* Ids: a running id with FAIL is ALREADY_EXISTS ``activity execution already
  started`` + ``ActivityExecutionAlreadyStartedFailure{start_request_id, run_id}``
  (the SDK raises ActivityAlreadyStartedError); USE_EXISTING and a repeated
  request id return the running run (``started`` false). Reuse of a closed id:
  ALLOW_DUPLICATE (default) starts, REJECT_DUPLICATE refuses, FAILED_ONLY refuses
  only after a completion. Activity ids and workflow ids are separate spaces.
* Describe/Poll: unknown ids NOT_FOUND ``activity not found for ID: <id>``
  (+NotFoundFailure), ``activity ID is required``, ``invalid run id: must be a
  valid UUID``. A long poll (Describe with ``long_poll_token``, which needs the
  run id, or PollActivityExecution) returns on the next change, or an empty
  response shortly before the caller's deadline.
* The worker's task: namespace, ``activity_run_id``, no workflow, header, input,
  priority, timeouts, the filled retry policy. Describe after it ran: status,
  ``run_state`` (only while running), attempt, ``last_worker_identity``,
  ``sdk_name``/``sdk_version`` of the polling worker, the times of the last start,
  heartbeat and attempt completion, ``current_retry_interval`` and
  ``next_attempt_schedule_time`` only while waiting for a retry; heartbeat details
  and the last failure only with ``include_heartbeat_details`` and
  ``include_last_failure``. Heartbeat details pass to the next attempt.
* Outcomes: completed; failed (``retry_state`` MAXIMUM_ATTEMPTS_REACHED or
  NON_RETRYABLE_FAILURE); canceled (``Activity canceled``, canceled_failure_info
  with the canceller's identity; a scheduled activity cancels at once with the
  reason as details); terminated (message = reason); timed out (``activity
  <Type> timeout`` with timeout_failure_info; ScheduleToStart and ScheduleToClose
  are never retried and say RETRY_STATE_TIMEOUT).
* By id (RespondActivityTask*ById with an empty workflow id): completes even a
  scheduled activity; heartbeat and fail by id need a started attempt.
* Delete: a running activity is terminated ("Delete activity execution") and
  removed a moment later; then every call is NOT_FOUND (a poll in flight gets
  that or the termination), visibility drops it, the id is free again.
* Visibility: ListActivityExecutions/CountActivityExecutions filter on
  ActivityId, ActivityType, ExecutionStatus, TaskQueue, StartTime/CloseTime/
  ExecutionTime, custom attributes; open runs first (newest first), then closed
  ones by close time; ORDER BY refused; GROUP BY only ExecutionStatus (groups in
  value order); activities never show in the workflow list and vice versa.
* CLI: ``temporal activity start|execute|describe|result|list|count|cancel|
  terminate|complete|fail|delete``, text and ``-o json``.
* Durability (Endure only, they kill the server): an activity, its heartbeat
  details and a retry timer survive a SIGKILL.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pwd
import socket
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Iterator

import pytest
import temporalio
import temporalio.converter
from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from temporalio import activity, workflow
from temporalio.api.common.v1 import (
    ActivityType,
    Callback,
    Header,
    Payload,
    Payloads,
    Priority,
    RetryPolicy,
    SearchAttributes,
    WorkflowExecution,
)
from temporalio.api.enums.v1 import ActivityIdConflictPolicy, ActivityIdReusePolicy, RetryState
from temporalio.api.errordetails.v1 import (
    ActivityExecutionAlreadyStartedFailure,
    NamespaceNotFoundFailure,
    NotFoundFailure,
)
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.sdk.v1 import UserMetadata
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountActivityExecutionsRequest,
    CountWorkflowExecutionsRequest,
    DeleteActivityExecutionRequest,
    DescribeActivityExecutionRequest,
    DescribeActivityExecutionResponse,
    DescribeWorkflowExecutionRequest,
    ListActivityExecutionsRequest,
    ListWorkflowExecutionsRequest,
    PollActivityExecutionRequest,
    PollActivityExecutionResponse,
    PollActivityTaskQueueRequest,
    PollActivityTaskQueueResponse,
    RecordActivityTaskHeartbeatByIdRequest,
    RecordActivityTaskHeartbeatRequest,
    RequestCancelActivityExecutionRequest,
    RespondActivityTaskCanceledRequest,
    RespondActivityTaskCompletedByIdRequest,
    RespondActivityTaskCompletedRequest,
    RespondActivityTaskFailedByIdRequest,
    RespondActivityTaskFailedRequest,
    StartActivityExecutionRequest,
    StartActivityExecutionResponse,
    TerminateActivityExecutionRequest,
)
from temporalio.client import (
    ActivityExecutionStatus,
    ActivityFailureError,
    AsyncActivityCancelledError,
    Client,
    PendingActivityState,
)
from temporalio.common import (
    ActivityIDConflictPolicy,
    ActivityIDReusePolicy,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.common import Priority as SdkPriority
from temporalio.common import RetryPolicy as SdkRetryPolicy
from temporalio.converter import DataConverter
from temporalio.exceptions import (
    ActivityAlreadyStartedError,
    ApplicationError,
    CancelledError,
    TerminatedError,
    TimeoutError,
    TimeoutType,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from conftest import new_worker, start_server, target, unique
from endure_testing.cli import Cli, kv_lines
from endure_testing.servers import ServerProcess

NS = "default"
PC = DataConverter.default.payload_converter
WAIT_S = 20.0

ST = ActivityExecutionStatus
RS = PendingActivityState

SA_KEYWORD = SearchAttributeKey.for_keyword("ActKeyword")
SA_INT = SearchAttributeKey.for_int("ActInt")

# The namespace division the real server files standalone activities under in visibility
# (ListActivityExecutions shows it among the search attributes).
ACTIVITY_DIVISION = "3332429922"

# For the real dev server only: visibility is rate limited to 10 requests/s per namespace by
# default, and these tests poll List/CountActivityExecutions.
ORACLE_FLAGS = ["--dynamic-config-value", "frontend.namespaceRPS.visibility=10000"]

BAD = RPCStatusCode.INVALID_ARGUMENT
NOT_FOUND = RPCStatusCode.NOT_FOUND
PRECONDITION = RPCStatusCode.FAILED_PRECONDITION

TIME_FIELDS = {
    "scheduleTime", "executionTime", "closeTime", "lastStartedTime", "lastHeartbeatTime",
    "lastAttemptCompleteTime", "nextAttemptScheduleTime", "expirationTime",
}

needs_endure = pytest.mark.skipif(
    target() != "endure", reason="kills the server: Endure's durability, not the oracle's"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(
        tmp_path_factory.mktemp("standalone-activities"),
        search_attributes={"ActKeyword": "Keyword", "ActInt": "Int"},
        temporal_args=ORACLE_FLAGS,
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def cli(server: ServerProcess) -> Cli:
    return Cli(server, ("activity",))


# ---------------------------------------------------------------- activities

# What each activity saw, by activity id (a list: one entry per attempt).
SEEN: dict[str, list[dict]] = {}
# Task tokens of the activities that complete asynchronously, by activity id.
TOKENS: dict[str, bytes] = {}


def record(**extra) -> dict:
    info = activity.info()
    entry = {
        "attempt": info.attempt,
        "activity_run_id": info.activity_run_id,
        "workflow": (info.workflow_id, info.workflow_run_id, info.workflow_type),
        "namespace": info.namespace,
        "task_queue": info.task_queue,
        "heartbeat_details": list(info.heartbeat_details),
        "priority": info.priority,
        "scheduled_time": info.scheduled_time,
        "current_attempt_scheduled_time": info.current_attempt_scheduled_time,
        "at": time.time(),
        **extra,
    }
    SEEN.setdefault(info.activity_id, []).append(entry)
    return entry


@activity.defn(name="SAEcho")
async def sa_echo(*args: Any) -> dict:
    record(args=list(args))
    return {"args": list(args), "attempt": activity.info().attempt}


@activity.defn(name="SAFlaky")
async def sa_flaky(fail_times: int, non_retryable: bool = False) -> int:
    """Heartbeats its attempt, then fails the first `fail_times` attempts."""
    info = activity.info()
    record()
    activity.heartbeat(f"beat-{info.attempt}")
    # Let the heartbeat reach the server before the failure does.
    await asyncio.sleep(0.2)
    if info.attempt <= fail_times:
        SEEN[info.activity_id][-1]["failed_at"] = time.time()
        raise ApplicationError(
            f"attempt {info.attempt} failed", {"attempt": info.attempt}, type="SAFlake",
            non_retryable=non_retryable,
        )
    return info.attempt


@activity.defn(name="SAHeartbeater")
async def sa_heartbeater() -> str:
    """Heartbeats until cancelled."""
    record()
    try:
        while True:
            activity.heartbeat("alive")
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        SEEN[activity.info().activity_id][-1]["cancelled"] = activity.cancellation_details()
        raise


@activity.defn(name="SASleeper")
async def sa_sleeper(seconds: float, heartbeat: bool, slow_attempts: int = 100) -> str:
    """Heartbeats once (if told), then sleeps (the first `slow_attempts` attempts only)."""
    info = activity.info()
    record()
    if heartbeat:
        activity.heartbeat(f"hb-{info.attempt}")
    if info.attempt <= slow_attempts:
        await asyncio.sleep(seconds)
    return f"slept {info.attempt}"


@activity.defn(name="SAAsync")
async def sa_async() -> str:
    """Hands its task token to the test and completes later, from outside."""
    TOKENS[activity.info().activity_id] = activity.info().task_token
    record()
    activity.raise_complete_async()


@workflow.defn(name="SAWorkflow")
class SAWorkflow:
    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "never"


# The headers of each activity's last task, by activity id.
HEADERS: dict[str, dict] = {}


class HeaderRecorder(Interceptor):
    """Keeps the headers each activity task carried (``HEADERS``)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        class Inbound(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                HEADERS[activity.info().activity_id] = {k: PC.from_payload(v) for k, v in input.headers.items()}
                return await super().execute_activity(input)

        return Inbound(next)


ALL_ACTIVITIES = [sa_echo, sa_flaky, sa_heartbeater, sa_sleeper, sa_async]
WORKER_IDENTITY = "sa-worker@test"


def worker(client: Client, task_queue: str, **kw):
    return new_worker(
        client, task_queue, activities=ALL_ACTIVITIES, identity=WORKER_IDENTITY,
        interceptors=[HeaderRecorder()], **kw,
    )


# ---------------------------------------------------------------- helpers


def as_dict(message) -> dict:
    return json_format.MessageToDict(message)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pl(value: Any) -> dict:
    """A payload as proto JSON."""
    return as_dict(PC.to_payload(value))


def payloads(*values: Any) -> Payloads:
    return Payloads(payloads=PC.to_payloads(list(values)))


def values(p: Payloads) -> list:
    return PC.from_payloads(list(p.payloads))


def dur(seconds: float) -> Duration:
    d = Duration()
    d.FromTimedelta(timedelta(seconds=seconds))
    return d


def at(ts) -> datetime:
    return ts.ToDatetime(timezone.utc)


def is_uuid(s: str) -> bool:
    try:
        uuid.UUID(s)
        return True
    except ValueError:
        return False


def norm(info_dict: dict) -> dict:
    """An ActivityExecutionInfo as proto JSON with what legitimately varies replaced: times by
    ``T`` (present), the execution duration by ``D``, the state transition count by ``N``; the
    state size (an implementation detail) dropped."""
    out = dict(info_dict)
    for k in TIME_FIELDS & out.keys():
        out[k] = "T"
    if "executionDuration" in out:
        out["executionDuration"] = "D"
    if "stateTransitionCount" in out:
        out["stateTransitionCount"] = "N"
    out.pop("stateSizeBytes", None)
    return out


DEFAULT_RETRY = {"initialInterval": "1s", "backoffCoefficient": 2.0, "maximumInterval": "100s"}


def start_req(**kw) -> StartActivityExecutionRequest:
    """A valid start request (StartToClose 10 s) with `kw` replacing fields (None: unset)."""
    base: dict[str, Any] = dict(
        namespace=NS, identity="sa-client", request_id=str(uuid.uuid4()), activity_id=unique("sa"),
        activity_type=ActivityType(name="SAType"), task_queue=TaskQueue(name="sa-nowhere"),
        start_to_close_timeout=dur(10),
    )
    base.update(kw)
    return StartActivityExecutionRequest(**{k: v for k, v in base.items() if v is not None})


async def start_raw(client: Client, **kw) -> tuple[StartActivityExecutionRequest, StartActivityExecutionResponse]:
    req = start_req(**kw)
    return req, await client.workflow_service.start_activity_execution(req)


async def describe(client: Client, activity_id: str, **kw) -> DescribeActivityExecutionResponse:
    return await client.workflow_service.describe_activity_execution(
        DescribeActivityExecutionRequest(namespace=NS, activity_id=activity_id, **kw)
    )


async def poll_outcome(client: Client, activity_id: str, timeout: float = WAIT_S, **kw) -> PollActivityExecutionResponse:
    return await client.workflow_service.poll_activity_execution(
        PollActivityExecutionRequest(namespace=NS, activity_id=activity_id, **kw),
        timeout=timedelta(seconds=timeout),
    )


async def poll_task(client: Client, task_queue: str, identity: str = "raw-worker") -> PollActivityTaskQueueResponse:
    task = await client.workflow_service.poll_activity_task_queue(
        PollActivityTaskQueueRequest(namespace=NS, task_queue=TaskQueue(name=task_queue), identity=identity),
        timeout=timedelta(seconds=WAIT_S),
    )
    assert task.task_token, f"no activity task on {task_queue} within {WAIT_S}s"
    return task


async def terminate_raw(client: Client, activity_id: str, **kw) -> None:
    await client.workflow_service.terminate_activity_execution(
        TerminateActivityExecutionRequest(namespace=NS, activity_id=activity_id, **kw)
    )


async def cancel_raw(client: Client, activity_id: str, **kw) -> None:
    await client.workflow_service.request_cancel_activity_execution(
        RequestCancelActivityExecutionRequest(namespace=NS, activity_id=activity_id, **kw)
    )


async def rpc_error(aw: Awaitable) -> RPCError:
    try:
        result = await aw
    except RPCError as e:
        return e
    pytest.fail(f"expected an RPCError, got {result!r}")


def assert_error(err: RPCError, status: RPCStatusCode, message: str, details: list | None = None) -> None:
    assert (err.status, err.message) == (status, message), f"{err.status.name}: {err.message!r}"
    got = [d.TypeName() for d in (err.grpc_status.details if err.grpc_status else [])]
    assert got == [d.DESCRIPTOR.full_name for d in (details or [])], got


def not_found(activity_id: str) -> tuple:
    return (NOT_FOUND, f"activity not found for ID: {activity_id}", [NotFoundFailure])


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = WAIT_S) -> Any:
    """Polls an async check until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")
        await asyncio.sleep(0.1)


async def wait_seen(activity_id: str, n: int = 1) -> list[dict]:
    async def check():
        return SEEN.get(activity_id) if len(SEEN.get(activity_id, [])) >= n else None

    return await eventually(check, f"attempt {n} of {activity_id} to run")


async def list_ids(client: Client, query: str) -> list[str]:
    resp = await client.workflow_service.list_activity_executions(
        ListActivityExecutionsRequest(namespace=NS, query=query)
    )
    return [e.activity_id for e in resp.executions]


async def count(client: Client, query: str) -> int:
    resp = await client.workflow_service.count_activity_executions(
        CountActivityExecutionsRequest(namespace=NS, query=query)
    )
    return resp.count


async def wait_listed(client: Client, query: str, n: int) -> list[str]:
    """Until visibility lists `n` activities for the query (it is eventually consistent)."""

    async def check():
        ids = await list_ids(client, query)
        return (ids,) if len(ids) == n else None

    return (await eventually(check, f"{n} activities listed for {query!r}"))[0]


def typed_payload(key: SearchAttributeKey, value: Any):
    """A search attribute value as the SDK encodes it (with its `type` metadata)."""
    sa = SearchAttributes()
    temporalio.converter.encode_search_attributes(TypedSearchAttributes([SearchAttributePair(key, value)]), sa)
    return sa.indexed_fields[key.name]


def typed(key: SearchAttributeKey, value: Any) -> dict:
    return as_dict(typed_payload(key, value))


def cli_user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def cli_identity() -> str:
    return f"temporal-cli:{cli_user()}@{socket.gethostname()}"


# ---------------------------------------------------------------- start / describe


async def test_start_and_describe_echo_every_option(client: Client):
    ws = client.workflow_service
    req, resp = await start_raw(
        client,
        activity_type=ActivityType(name="SAEchoType"),
        input=payloads("x", 1),
        header=Header(fields={"hk": PC.to_payload("hv")}),
        user_metadata=UserMetadata(summary=PC.to_payload("the summary"), details=PC.to_payload("the details")),
        priority=Priority(priority_key=2, fairness_key="fk", fairness_weight=1.5),
        search_attributes=SearchAttributes(indexed_fields={"ActKeyword": PC.to_payload("kw"), "ActInt": PC.to_payload(7)}),
        schedule_to_close_timeout=dur(60),
        schedule_to_start_timeout=dur(30),
        start_to_close_timeout=dur(10),
        heartbeat_timeout=dur(5),
        retry_policy=RetryPolicy(
            initial_interval=dur(0.1), backoff_coefficient=1.5, maximum_interval=dur(7),
            maximum_attempts=3, non_retryable_error_types=["Fatal"],
        ),
        start_delay=dur(3),
    )
    assert is_uuid(resp.run_id)
    assert resp.started
    assert as_dict(resp.link) == {"activity": {"namespace": NS, "activityId": req.activity_id, "runId": resp.run_id}}
    assert not resp.HasField("eager_activity_task")

    d = await describe(client, req.activity_id, include_input=True, include_outcome=True)
    assert d.run_id == resp.run_id
    assert d.long_poll_token
    assert not d.HasField("outcome")
    assert values(d.input) == ["x", 1]
    info = as_dict(d.info)
    assert norm(info) == {
        "activityId": req.activity_id,
        "runId": resp.run_id,
        "activityType": {"name": "SAEchoType"},
        "status": "ACTIVITY_EXECUTION_STATUS_RUNNING",
        "runState": "PENDING_ACTIVITY_STATE_SCHEDULED",
        "taskQueue": "sa-nowhere",
        "scheduleToCloseTimeout": "60s",
        "scheduleToStartTimeout": "30s",
        "startToCloseTimeout": "10s",
        "heartbeatTimeout": "5s",
        "retryPolicy": {
            "initialInterval": "0.100s", "backoffCoefficient": 1.5, "maximumInterval": "7s",
            "maximumAttempts": 3, "nonRetryableErrorTypes": ["Fatal"],
        },
        "attempt": 1,
        "scheduleTime": "T",
        "expirationTime": "T",
        "executionTime": "T",
        # The first attempt waits for its start delay.
        "nextAttemptScheduleTime": "T",
        "priority": {"priorityKey": 2, "fairnessKey": "fk", "fairnessWeight": 1.5},
        "stateTransitionCount": "N",
        # Echoed as sent: no `type` metadata is added here (ListActivityExecutions adds it).
        "searchAttributes": {"indexedFields": {"ActKeyword": pl("kw"), "ActInt": pl(7)}},
        "header": {"fields": {"hk": pl("hv")}},
        "userMetadata": {"summary": pl("the summary"), "details": pl("the details")},
        "startDelay": "3s",
    }
    scheduled = at(d.info.schedule_time)
    assert at(d.info.execution_time) - scheduled == timedelta(seconds=3)
    assert d.info.next_attempt_schedule_time == d.info.execution_time
    # ScheduleToClose counts from the end of the start delay.
    assert at(d.info.expiration_time) - at(d.info.execution_time) == timedelta(seconds=60)
    assert abs(scheduled - datetime.now(timezone.utc)) < timedelta(seconds=10)

    # Through the SDK's handle.
    desc = await client.get_activity_handle(req.activity_id).describe(include_input=True)
    assert (desc.activity_id, desc.activity_run_id, desc.activity_type) == (req.activity_id, resp.run_id, "SAEchoType")
    assert (desc.status, desc.run_state, desc.attempt) == (ST.RUNNING, RS.SCHEDULED, 1)
    assert desc.task_queue == "sa-nowhere"
    assert (desc.schedule_to_close_timeout, desc.start_to_close_timeout, desc.heartbeat_timeout, desc.start_delay) == (
        timedelta(seconds=60), timedelta(seconds=10), timedelta(seconds=5), timedelta(seconds=3),
    )
    assert desc.retry_policy == SdkRetryPolicy(
        initial_interval=timedelta(milliseconds=100), backoff_coefficient=1.5,
        maximum_interval=timedelta(seconds=7), maximum_attempts=3, non_retryable_error_types=["Fatal"],
    )
    assert desc.priority == SdkPriority(priority_key=2, fairness_key="fk", fairness_weight=1.5)
    # The values were sent without `type` metadata and come back so: the SDK's typed view skips them.
    assert len(desc.typed_search_attributes) == 0
    assert await desc.input() == ["x", 1]
    assert desc.close_time is None and desc.last_worker_identity is None and desc.canceled_reason is None
    await terminate_raw(client, req.activity_id)


async def test_describe_defaults_and_normalised_timeouts(client: Client):
    # The smallest request: the server fills the retry policy; every timeout is present.
    req, resp = await start_raw(client)
    d = await describe(client, req.activity_id)
    assert not d.HasField("input") and not d.HasField("outcome")
    assert norm(as_dict(d.info)) == {
        "activityId": req.activity_id,
        "runId": resp.run_id,
        "activityType": {"name": "SAType"},
        "status": "ACTIVITY_EXECUTION_STATUS_RUNNING",
        "runState": "PENDING_ACTIVITY_STATE_SCHEDULED",
        "taskQueue": "sa-nowhere",
        "scheduleToCloseTimeout": "0s",
        "scheduleToStartTimeout": "0s",
        "startToCloseTimeout": "10s",
        "heartbeatTimeout": "0s",
        "retryPolicy": DEFAULT_RETRY,
        "attempt": 1,
        "scheduleTime": "T",
        "executionTime": "T",
        "stateTransitionCount": "N",
        "searchAttributes": {},
    }
    assert d.info.HasField("search_attributes")
    assert d.info.execution_time == d.info.schedule_time
    # One state transition per change of the activity: 1 when scheduled.
    assert d.info.state_transition_count == 1
    await terminate_raw(client, req.activity_id)

    def timeouts(info) -> tuple:
        i = as_dict(info)
        return (
            i["scheduleToCloseTimeout"], i["scheduleToStartTimeout"], i["startToCloseTimeout"],
            i["heartbeatTimeout"], i["retryPolicy"], "expirationTime" in i,
        )

    cases = [
        # (timeouts sent, (s2c, s2s, stc, heartbeat, retry policy, expiration time present))
        (dict(start_to_close_timeout=None, schedule_to_close_timeout=dur(5)), ("5s", "5s", "5s", "0s", DEFAULT_RETRY, True)),
        (dict(heartbeat_timeout=dur(100)), ("0s", "0s", "10s", "10s", DEFAULT_RETRY, False)),
        (
            dict(schedule_to_close_timeout=dur(20), schedule_to_start_timeout=dur(30), start_to_close_timeout=dur(50), heartbeat_timeout=dur(50)),
            ("20s", "20s", "20s", "20s", DEFAULT_RETRY, True),
        ),
        (
            dict(retry_policy=RetryPolicy(initial_interval=dur(2))),
            ("0s", "0s", "10s", "0s", {"initialInterval": "2s", "backoffCoefficient": 2.0, "maximumInterval": "200s"}, False),
        ),
        (
            dict(retry_policy=RetryPolicy(maximum_attempts=1)),
            ("0s", "0s", "10s", "0s", {**DEFAULT_RETRY, "maximumAttempts": 1}, False),
        ),
    ]
    for sent, expected in cases:
        req, _ = await start_raw(client, **sent)
        assert timeouts((await describe(client, req.activity_id)).info) == expected, sent
        await terminate_raw(client, req.activity_id)

    # The SDK always sends a Priority, empty by default: Describe echoes it (present, empty).
    handle = await client.start_activity(
        "SAType", id=unique("sa-sdk"), task_queue="sa-nowhere", start_to_close_timeout=timedelta(seconds=10),
        summary="only a summary",
    )
    d = await describe(client, handle.id)
    assert d.info.HasField("priority") and as_dict(d.info.priority) == {}
    assert as_dict(d.info.user_metadata) == {"summary": pl("only a summary")}
    assert not d.info.HasField("header") and not d.info.HasField("start_delay")
    assert d.run_id == handle.run_id
    await handle.terminate()


async def test_start_validation_errors(client: Client):
    ws = client.workflow_service
    aid = unique("sa-bad")
    no_timeout = (
        f"a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. "
        f"ActivityId={aid} ActivityType=SAType"
    )
    cases = [
        (dict(activity_id=""), "activityId is not set"),
        (dict(activity_type=ActivityType(name="")), "activityType is not set"),
        (dict(activity_type=None), "activityType is not set"),
        (dict(task_queue=TaskQueue(name="")), "missing task queue name"),
        (dict(task_queue=None), "taskQueue is not set"),
        (dict(start_to_close_timeout=None), no_timeout),
        (dict(start_to_close_timeout=None, schedule_to_start_timeout=dur(5), heartbeat_timeout=dur(5)), no_timeout),
        (dict(schedule_to_close_timeout=Duration(seconds=-1)), "invalid ScheduleToCloseTimeout: negative duration"),
        (dict(start_to_close_timeout=Duration(seconds=-1)), "invalid StartToCloseTimeout: negative duration"),
        (dict(schedule_to_start_timeout=Duration(seconds=-1)), "invalid ScheduleToStartTimeout: negative duration"),
        (dict(heartbeat_timeout=Duration(seconds=-1)), "invalid HeartbeatTimeout: negative duration"),
        (dict(start_delay=Duration(seconds=-1)), "invalid StartDelay: negative duration"),
        (dict(activity_id="x" * 1001), "activityId exceeds length limit. Length=1001 Limit=1000"),
        (dict(activity_type=ActivityType(name="t" * 1001)), "activityType exceeds length limit. Length=1001 Limit=1000"),
        (dict(task_queue=TaskQueue(name="q" * 1001)), "taskQueue length exceeds limit"),
        (dict(task_queue=TaskQueue(name="/_sys/mine")), "task queue name cannot start with reserved prefix /_sys/"),
        (dict(retry_policy=RetryPolicy(backoff_coefficient=0.5)), "BackoffCoefficient cannot be less than 1 on retry policy."),
        (dict(retry_policy=RetryPolicy(maximum_attempts=-1)), "MaximumAttempts cannot be negative on retry policy."),
        (
            dict(retry_policy=RetryPolicy(initial_interval=dur(5), maximum_interval=dur(1))),
            "MaximumInterval cannot be less than InitialInterval on retry policy.",
        ),
        (
            dict(search_attributes=SearchAttributes(indexed_fields={"NoSuchAttr": PC.to_payload("v")})),
            "Namespace default has no mapping defined for search attribute NoSuchAttr",
        ),
        (
            dict(search_attributes=SearchAttributes(indexed_fields={"ActInt": PC.to_payload("nope")})),
            "invalid value for search attribute ActInt of type Int: nope",
        ),
        (dict(priority=Priority(priority_key=-1)), "invalid priorities: priority key can't be negative"),
        (dict(id_reuse_policy=9), "unsupported ID reuse policy: 9"),
        (dict(id_conflict_policy=9), "unsupported ID conflict policy: 9"),
        (dict(namespace=""), "Namespace is empty."),
        (
            dict(user_metadata=UserMetadata(summary=Payload(data=b"s" * 500))),
            "user_metadata.summary exceeds size limit. Length=503 Limit=400",
        ),
        # Over the 2 MiB blob limit.
        (dict(input=Payloads(payloads=[Payload(data=b"x" * (3 * 1024 * 1024))])), "input exceeds length limit"),
        (
            dict(completion_callbacks=[Callback(nexus=Callback.Nexus(url="http://localhost:1/cb"))]),
            "completion callbacks are not enabled for this namespace",
        ),
    ]
    for change, message in cases:
        err = await rpc_error(ws.start_activity_execution(start_req(**{"activity_id": aid, **change})))
        assert_error(err, BAD, message)
    err = await rpc_error(ws.start_activity_execution(start_req(namespace="sa-no-such-ns")))
    assert_error(err, NOT_FOUND, "Namespace sa-no-such-ns is not found.", [NamespaceNotFoundFailure])
    # None of them created anything.
    assert_error(await rpc_error(describe(client, aid)), *not_found(aid))

    # Accepted: no request id at all.
    req, resp = await start_raw(client, request_id="")
    assert resp.started
    await terminate_raw(client, req.activity_id)
    # Eager execution asked for: not given (no task in the response), not recorded.
    req, resp = await start_raw(client, request_eager_execution=True)
    assert resp.started and not resp.HasField("eager_activity_task")
    d = await describe(client, req.activity_id)
    assert (d.info.run_state, d.info.eager_execution_accepted) == (RS.SCHEDULED, False)
    await terminate_raw(client, req.activity_id)

    # The SDK refuses a start without StartToClose and ScheduleToClose before calling the server.
    with pytest.raises(ValueError, match="start_to_close_timeout or schedule_to_close_timeout"):
        await client.start_activity("SAType", id=unique("sa-sdk"), task_queue="sa-nowhere")


# ---------------------------------------------------------------- ids


async def test_id_conflict_policies(client: Client):
    ws = client.workflow_service
    first, started = await start_raw(client)
    aid = first.activity_id

    # FAIL (the default): ALREADY_EXISTS with the running run's start request id and run id.
    err = await rpc_error(ws.start_activity_execution(start_req(activity_id=aid)))
    assert_error(err, RPCStatusCode.ALREADY_EXISTS, "activity execution already started", [ActivityExecutionAlreadyStartedFailure])
    detail = ActivityExecutionAlreadyStartedFailure()
    assert err.grpc_status.details[0].Unpack(detail)
    assert (detail.start_request_id, detail.run_id) == (first.request_id, started.run_id)
    # REJECT_DUPLICATE changes nothing for a running id.
    err = await rpc_error(ws.start_activity_execution(start_req(
        activity_id=aid, id_reuse_policy=ActivityIdReusePolicy.ACTIVITY_ID_REUSE_POLICY_REJECT_DUPLICATE,
    )))
    assert_error(err, RPCStatusCode.ALREADY_EXISTS, "activity execution already started", [ActivityExecutionAlreadyStartedFailure])

    # The SDK's error.
    with pytest.raises(ActivityAlreadyStartedError) as raised:
        await client.start_activity("SAType", id=aid, task_queue="sa-nowhere", start_to_close_timeout=timedelta(seconds=10))
    assert (raised.value.activity_id, raised.value.activity_type, raised.value.run_id) == (aid, "SAType", started.run_id)

    # The same request id again: the same run, not started again (whatever else differs).
    again = await ws.start_activity_execution(start_req(
        activity_id=aid, request_id=first.request_id, activity_type=ActivityType(name="Other"),
    ))
    assert (again.run_id, again.started) == (started.run_id, False)
    assert as_dict(again.link) == {"activity": {"namespace": NS, "activityId": aid, "runId": started.run_id}}

    # USE_EXISTING: the running run, even for another type and task queue.
    existing = await ws.start_activity_execution(start_req(
        activity_id=aid, activity_type=ActivityType(name="Other"), task_queue=TaskQueue(name="elsewhere"),
        id_conflict_policy=ActivityIdConflictPolicy.ACTIVITY_ID_CONFLICT_POLICY_USE_EXISTING,
    ))
    assert (existing.run_id, existing.started) == (started.run_id, False)
    handle = await client.start_activity(
        "SAType", id=aid, task_queue="sa-nowhere", start_to_close_timeout=timedelta(seconds=10),
        id_conflict_policy=ActivityIDConflictPolicy.USE_EXISTING,
    )
    assert handle.run_id == started.run_id
    # Nothing of the later requests was applied.
    d = await describe(client, aid)
    assert (d.info.activity_type.name, d.info.task_queue, d.info.state_transition_count) == ("SAType", "sa-nowhere", 1)
    await terminate_raw(client, aid)


async def test_id_reuse_policies(client: Client):
    ws = client.workflow_service
    tq = unique("sa-reuse")
    P = ActivityIdReusePolicy
    policies = {
        "AllowDuplicate": P.ACTIVITY_ID_REUSE_POLICY_ALLOW_DUPLICATE,
        "FailedOnly": P.ACTIVITY_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
        "Reject": P.ACTIVITY_ID_REUSE_POLICY_REJECT_DUPLICATE,
        "Unspecified": P.ACTIVITY_ID_REUSE_POLICY_UNSPECIFIED,
    }

    async def complete(aid: str) -> None:
        task = await poll_task(client, tq)
        assert task.activity_id == aid
        await ws.respond_activity_task_completed(RespondActivityTaskCompletedRequest(namespace=NS, task_token=task.task_token))

    async def fail(aid: str) -> None:
        task = await poll_task(client, tq)
        assert task.activity_id == aid
        await ws.respond_activity_task_failed(RespondActivityTaskFailedRequest(
            namespace=NS, task_token=task.task_token,
            failure=Failure(message="no", application_failure_info=ApplicationFailureInfo(non_retryable=True)),
        ))

    async def terminate(aid: str) -> None:
        await terminate_raw(client, aid, reason="closing")

    async def cancel(aid: str) -> None:
        await cancel_raw(client, aid, reason="closing")

    closers = {"completed": complete, "failed": fail, "terminated": terminate, "canceled": cancel}
    # Which policies start a new run after a run closed that way.
    allowed = {
        "completed": {"AllowDuplicate", "Unspecified"},
        "failed": {"AllowDuplicate", "FailedOnly", "Unspecified"},
        "terminated": {"AllowDuplicate", "FailedOnly", "Unspecified"},
        "canceled": {"AllowDuplicate", "FailedOnly", "Unspecified"},
    }
    for how, close in closers.items():
        for name, policy in policies.items():
            first, r1 = await start_raw(client, task_queue=TaskQueue(name=tq))
            await close(first.activity_id)
            req = start_req(activity_id=first.activity_id, task_queue=TaskQueue(name=tq), id_reuse_policy=policy)
            if name in allowed[how]:
                r2 = await ws.start_activity_execution(req)
                assert r2.started and r2.run_id != r1.run_id, (how, name)
                assert (await describe(client, first.activity_id)).run_id == r2.run_id
                # The first run is still there by its run id.
                old = await describe(client, first.activity_id, run_id=r1.run_id)
                assert old.info.status != ST.RUNNING
                await terminate_raw(client, first.activity_id)
            else:
                err = await rpc_error(ws.start_activity_execution(req))
                assert_error(err, RPCStatusCode.ALREADY_EXISTS, "activity execution already started",
                             [ActivityExecutionAlreadyStartedFailure])
                detail = ActivityExecutionAlreadyStartedFailure()
                assert err.grpc_status.details[0].Unpack(detail)
                assert detail.run_id == r1.run_id, (how, name)

    # The SDK's names for the same.
    first, r1 = await start_raw(client)
    await terminate(first.activity_id)
    with pytest.raises(ActivityAlreadyStartedError):
        await client.start_activity(
            "SAType", id=first.activity_id, task_queue="sa-nowhere", start_to_close_timeout=timedelta(seconds=10),
            id_reuse_policy=ActivityIDReusePolicy.REJECT_DUPLICATE,
        )
    handle = await client.start_activity(
        "SAType", id=first.activity_id, task_queue="sa-nowhere", start_to_close_timeout=timedelta(seconds=10),
        id_reuse_policy=ActivityIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )
    assert handle.run_id != r1.run_id
    await handle.terminate()


# ---------------------------------------------------------------- long polls


async def test_describe_long_poll(client: Client):
    tq = unique("sa-lp")
    req, resp = await start_raw(client, task_queue=TaskQueue(name=tq))
    aid = req.activity_id
    d0 = await describe(client, aid)

    ws = client.workflow_service
    for bad, expected in [
        (DescribeActivityExecutionRequest(namespace=NS), (BAD, "activity ID is required")),
        (DescribeActivityExecutionRequest(namespace=NS, activity_id=aid, run_id="zz"), (BAD, "invalid run id: must be a valid UUID")),
        (DescribeActivityExecutionRequest(namespace=NS, activity_id="sa-none"), not_found("sa-none")),
        (DescribeActivityExecutionRequest(namespace=NS, activity_id=aid, run_id=str(uuid.uuid4())), not_found(aid)),
    ]:
        assert_error(await rpc_error(ws.describe_activity_execution(bad)), *expected)
    assert (await describe(client, aid, run_id=resp.run_id)).info == d0.info

    # The token needs the run id; a token must be one the server made.
    err = await rpc_error(describe(client, aid, long_poll_token=d0.long_poll_token))
    assert_error(err, BAD, "run id is required when long poll token is provided")
    err = await rpc_error(describe(client, aid, run_id=resp.run_id, long_poll_token=b"garbage"))
    assert_error(err, BAD, "invalid long poll token")

    # Nothing changes: an empty response (no info, no token) before the caller's deadline.
    t0 = time.monotonic()
    empty = await client.workflow_service.describe_activity_execution(
        DescribeActivityExecutionRequest(namespace=NS, activity_id=aid, run_id=resp.run_id, long_poll_token=d0.long_poll_token),
        timeout=timedelta(seconds=2),
    )
    waited = time.monotonic() - t0
    assert as_dict(empty) == {}
    assert 0.5 <= waited < 2.0, waited

    # A change (a worker takes the task) ends the poll with the new state and a new token.
    async def long_poll():
        return await client.workflow_service.describe_activity_execution(
            DescribeActivityExecutionRequest(namespace=NS, activity_id=aid, run_id=resp.run_id, long_poll_token=d0.long_poll_token),
            timeout=timedelta(seconds=WAIT_S),
        )

    pending = asyncio.create_task(long_poll())
    await asyncio.sleep(0.5)
    assert not pending.done()
    task = await poll_task(client, tq, identity="lp-worker")
    d1 = await asyncio.wait_for(pending, WAIT_S)
    assert (d1.info.status, d1.info.run_state, d1.info.last_worker_identity) == (ST.RUNNING, RS.STARTED, "lp-worker")
    assert d1.long_poll_token and d1.long_poll_token != d0.long_poll_token
    # An old token after a change: at once.
    t0 = time.monotonic()
    d1b = await describe(client, aid, run_id=resp.run_id, long_poll_token=d0.long_poll_token)
    assert time.monotonic() - t0 < 1.0
    assert d1b.info.run_state == RS.STARTED

    # Completion ends a poll on the current token; include_outcome applies to it.
    pending = asyncio.create_task(client.workflow_service.describe_activity_execution(
        DescribeActivityExecutionRequest(
            namespace=NS, activity_id=aid, run_id=resp.run_id, long_poll_token=d1.long_poll_token, include_outcome=True,
        ),
        timeout=timedelta(seconds=WAIT_S),
    ))
    await asyncio.sleep(0.5)
    await client.workflow_service.respond_activity_task_completed(RespondActivityTaskCompletedRequest(
        namespace=NS, task_token=task.task_token, identity="lp-worker", result=payloads("done"),
    ))
    d2 = await asyncio.wait_for(pending, WAIT_S)
    assert d2.info.status == ST.COMPLETED and d2.info.run_state == 0
    assert values(d2.outcome.result) == ["done"]

    # A closed activity with its latest token: nothing more will change; empty at the deadline.
    empty = await client.workflow_service.describe_activity_execution(
        DescribeActivityExecutionRequest(namespace=NS, activity_id=aid, run_id=resp.run_id, long_poll_token=d2.long_poll_token),
        timeout=timedelta(seconds=2),
    )
    assert as_dict(empty) == {}


async def test_poll_activity_execution(client: Client):
    ws = client.workflow_service
    tq = unique("sa-poll")
    req, resp = await start_raw(client, task_queue=TaskQueue(name=tq))
    aid = req.activity_id

    for bad, expected in [
        (PollActivityExecutionRequest(namespace=NS), (BAD, "activity ID is required")),
        (PollActivityExecutionRequest(namespace=NS, activity_id=aid, run_id="zz"), (BAD, "invalid run id: must be a valid UUID")),
        (PollActivityExecutionRequest(namespace=NS, activity_id="sa-none"), not_found("sa-none")),
        # A run id that is not this activity's.
        (PollActivityExecutionRequest(namespace=NS, activity_id=aid, run_id=str(uuid.uuid4())), not_found(aid)),
    ]:
        assert_error(await rpc_error(ws.poll_activity_execution(bad)), *expected)

    # Running: an empty response (not even the run id) before the caller's deadline.
    t0 = time.monotonic()
    empty = await poll_outcome(client, aid, timeout=2)
    waited = time.monotonic() - t0
    assert as_dict(empty) == {}
    assert 0.5 <= waited < 2.0, waited

    # The outcome wakes a waiting poll.
    pending = asyncio.create_task(poll_outcome(client, aid))
    task = await poll_task(client, tq)
    await asyncio.sleep(0.3)
    assert not pending.done()
    await ws.respond_activity_task_completed(RespondActivityTaskCompletedRequest(
        namespace=NS, task_token=task.task_token, result=payloads({"r": 1}),
    ))
    got = await asyncio.wait_for(pending, WAIT_S)
    assert got.run_id == resp.run_id
    assert as_dict(got.outcome) == {"result": {"payloads": [pl({"r": 1})]}}
    # Later polls answer at once, with or without the run id.
    for kw in ({}, {"run_id": resp.run_id}):
        again = await poll_outcome(client, aid, timeout=5, **kw)
        assert as_dict(again) == as_dict(got)
    assert await client.get_activity_handle(aid).result() == {"r": 1}

    # A failure outcome.
    req2, resp2 = await start_raw(client, task_queue=TaskQueue(name=tq))
    task = await poll_task(client, tq)
    await ws.respond_activity_task_failed(RespondActivityTaskFailedRequest(
        namespace=NS, task_token=task.task_token,
        failure=Failure(message="broken", application_failure_info=ApplicationFailureInfo(type="Broken", non_retryable=True)),
    ))
    got = await poll_outcome(client, req2.activity_id)
    assert got.run_id == resp2.run_id
    assert as_dict(got.outcome) == {
        "failure": {"message": "broken", "applicationFailureInfo": {"type": "Broken", "nonRetryable": True}},
        "retryState": "RETRY_STATE_NON_RETRYABLE_FAILURE",
    }


# ---------------------------------------------------------------- a worker runs them


async def test_activity_task_shape(client: Client):
    """What a worker polling the task queue gets for a standalone activity."""
    tq = unique("sa-task")
    req, resp = await start_raw(
        client, task_queue=TaskQueue(name=tq), activity_type=ActivityType(name="SAShape"),
        input=payloads("in", 2), header=Header(fields={"hk": PC.to_payload("hv")}),
        priority=Priority(priority_key=4), heartbeat_timeout=dur(5),
    )
    task = await poll_task(client, tq, identity="shape-worker")
    t = as_dict(task)
    assert is_uuid(t.pop("activityRunId")) and task.activity_run_id == resp.run_id
    assert t.pop("taskToken")
    for k in ("scheduledTime", "currentAttemptScheduledTime", "startedTime"):
        assert t.pop(k), k
    assert task.current_attempt_scheduled_time == task.scheduled_time
    # Matching's advice to the poller, whatever the task: not this test's business.
    t.pop("pollerScalingDecision", None)
    assert t == {
        "workflowNamespace": NS,
        # Present and empty: no workflow.
        "workflowExecution": {},
        "activityType": {"name": "SAShape"},
        "activityId": req.activity_id,
        "header": {"fields": {"hk": pl("hv")}},
        "input": {"payloads": [pl("in"), pl(2)]},
        "attempt": 1,
        "scheduleToCloseTimeout": "0s",
        "startToCloseTimeout": "10s",
        "heartbeatTimeout": "5s",
        "retryPolicy": DEFAULT_RETRY,
        "priority": {"priorityKey": 4},
    }
    d = await describe(client, req.activity_id)
    assert (d.info.run_state, d.info.last_worker_identity) == (RS.STARTED, "shape-worker")
    assert d.info.last_started_time == task.started_time
    # The Python client polling: its SDK name and version.
    assert (d.info.sdk_name, d.info.sdk_version) == ("temporal-python", temporalio.__version__)
    await terminate_raw(client, req.activity_id)


async def test_worker_runs_activity(client: Client):
    tq = unique("sa-run")
    async with worker(client, tq):
        # Raw start with a header: the worker sees input, header, priority, its run id, no workflow.
        req, resp = await start_raw(
            client, task_queue=TaskQueue(name=tq), activity_type=ActivityType(name="SAEcho"),
            input=payloads("in", 5), header=Header(fields={"h1": PC.to_payload("v1"), "h2": PC.to_payload({"n": 2})}),
            priority=Priority(priority_key=4, fairness_key="fk", fairness_weight=2.0),
        )
        handle = client.get_activity_handle(req.activity_id, run_id=resp.run_id)
        assert await handle.result() == {"args": ["in", 5], "attempt": 1}
        [seen] = SEEN[req.activity_id]
        assert HEADERS[req.activity_id] == {"h1": "v1", "h2": {"n": 2}}
        assert seen["args"] == ["in", 5]
        assert seen["activity_run_id"] == resp.run_id
        assert seen["workflow"] == (None, None, None)
        assert (seen["namespace"], seen["task_queue"]) == (NS, tq)
        assert seen["priority"] == SdkPriority(priority_key=4, fairness_key="fk", fairness_weight=2.0)

        # The SDK's execute_activity, then Describe of a completed activity.
        aid = unique("sa-exec")
        result = await client.execute_activity(
            sa_echo, args=["a", 1], id=aid, task_queue=tq, start_to_close_timeout=timedelta(seconds=5),
            search_attributes=TypedSearchAttributes([SearchAttributePair(SA_KEYWORD, "run")]),
        )
        assert result == {"args": ["a", 1], "attempt": 1}
        d = await describe(client, aid, include_input=True, include_outcome=True)
        info = as_dict(d.info)
        assert norm(info) == {
            "activityId": aid,
            "runId": d.run_id,
            "activityType": {"name": "SAEcho"},
            "status": "ACTIVITY_EXECUTION_STATUS_COMPLETED",
            "taskQueue": tq,
            "scheduleToCloseTimeout": "0s",
            "scheduleToStartTimeout": "0s",
            "startToCloseTimeout": "5s",
            "heartbeatTimeout": "0s",
            "retryPolicy": DEFAULT_RETRY,
            "lastStartedTime": "T",
            "attempt": 1,
            "executionDuration": "D",
            "scheduleTime": "T",
            "closeTime": "T",
            "lastWorkerIdentity": WORKER_IDENTITY,
            "lastAttemptCompleteTime": "T",
            "priority": {},
            "stateTransitionCount": "N",
            # The SDK sends typed search attributes: their `type` metadata is kept.
            "searchAttributes": {"indexedFields": {"ActKeyword": {
                "metadata": {"encoding": b64(b"json/plain"), "type": b64(b"Keyword")}, "data": b64(b'"run"'),
            }}},
            "sdkName": "temporal-python",
            "sdkVersion": temporalio.__version__,
            "executionTime": "T",
        }
        i = d.info
        # Scheduled, started, completed.
        assert i.state_transition_count == 3
        assert i.execution_duration.ToNanoseconds() == i.close_time.ToNanoseconds() - i.schedule_time.ToNanoseconds()
        assert at(i.schedule_time) <= at(i.last_started_time) <= at(i.last_attempt_complete_time) <= at(i.close_time)
        assert values(d.input) == ["a", 1]
        assert values(d.outcome.result) == [{"args": ["a", 1], "attempt": 1}]
        assert not d.outcome.HasField("failure") and d.outcome.retry_state == 0
        polled = await poll_outcome(client, aid)
        assert as_dict(polled) == {"runId": d.run_id, "outcome": as_dict(d.outcome)}

        desc = await client.get_activity_handle(aid).describe(include_outcome=True)
        assert desc.status == ST.COMPLETED and desc.run_state is None
        assert desc.last_worker_identity == WORKER_IDENTITY
        assert await desc.result() == {"args": ["a", 1], "attempt": 1}
        assert desc.typed_search_attributes.get(SA_KEYWORD) == "run"


async def test_failure_retries_and_backoff(client: Client):
    tq = unique("sa-retry")
    async with worker(client, tq):
        # Fails twice, then succeeds; backoff 0.5 s, then 1 s.
        policy = SdkRetryPolicy(initial_interval=timedelta(milliseconds=500), backoff_coefficient=2, maximum_attempts=5)
        handle = await client.start_activity(
            sa_flaky, 2, id=unique("sa-flaky"), task_queue=tq, start_to_close_timeout=timedelta(seconds=5),
            retry_policy=policy,
        )
        assert await handle.result() == 3
        attempts = SEEN[handle.id]
        assert [a["attempt"] for a in attempts] == [1, 2, 3]
        # Each attempt got the heartbeat details of the one before.
        assert [a["heartbeat_details"] for a in attempts] == [[], ["beat-1"], ["beat-2"]]
        # Backoff lower bounds: from a failure to the next attempt's scheduled time.
        for prev, nxt, interval in ((attempts[0], attempts[1], 0.5), (attempts[1], attempts[2], 1.0)):
            gap = nxt["current_attempt_scheduled_time"].timestamp() - prev["failed_at"]
            assert gap >= interval - 0.15, (gap, interval)
            assert nxt["scheduled_time"] == attempts[0]["scheduled_time"]
        d = await describe(client, handle.id, include_last_failure=True, include_heartbeat_details=True)
        assert (d.info.status, d.info.attempt) == (ST.COMPLETED, 3)
        assert as_dict(d.info.retry_policy) == {
            "initialInterval": "0.500s", "backoffCoefficient": 2.0, "maximumInterval": "50s", "maximumAttempts": 5,
        }
        # What the last failed attempt left: its failure and the last heartbeat.
        assert d.info.last_failure.message == "attempt 2 failed"
        assert d.info.last_failure.application_failure_info.type == "SAFlake"
        assert values(d.info.heartbeat_details) == ["beat-3"]
        assert not d.info.HasField("current_retry_interval") and not d.info.HasField("next_attempt_schedule_time")

        # Out of attempts: FAILED with the last attempt's failure.
        handle = await client.start_activity(
            sa_flaky, 5, id=unique("sa-flaky"), task_queue=tq, start_to_close_timeout=timedelta(seconds=5),
            retry_policy=SdkRetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=2),
        )
        with pytest.raises(ActivityFailureError) as raised:
            await handle.result()
        cause = raised.value.cause
        assert isinstance(cause, ApplicationError)
        assert (cause.message, cause.type, cause.details, cause.non_retryable) == (
            "attempt 2 failed", "SAFlake", ({"attempt": 2},), False,
        )
        d = await describe(client, handle.id, include_outcome=True)
        assert (d.info.status, d.info.attempt) == (ST.FAILED, 2)
        # Without include_last_failure / include_heartbeat_details: neither.
        assert not d.info.HasField("last_failure") and not d.info.HasField("heartbeat_details")
        outcome = as_dict(d.outcome)
        assert outcome["retryState"] == "RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED"
        failure = outcome["failure"]
        assert failure.pop("stackTrace")
        assert failure == {
            "message": "attempt 2 failed",
            "applicationFailureInfo": {"type": "SAFlake", "details": {"payloads": [pl({"attempt": 2})]}},
        }

        # A non-retryable failure ends it at the first attempt.
        handle = await client.start_activity(
            sa_flaky, args=[5, True], id=unique("sa-flaky"), task_queue=tq, start_to_close_timeout=timedelta(seconds=5),
        )
        with pytest.raises(ActivityFailureError) as raised:
            await handle.result()
        assert isinstance(raised.value.cause, ApplicationError) and raised.value.cause.non_retryable
        d = await describe(client, handle.id, include_outcome=True, include_last_failure=True)
        assert (d.info.status, d.info.attempt) == (ST.FAILED, 1)
        assert d.outcome.retry_state == RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
        assert d.info.last_failure.message == "attempt 1 failed"


async def test_waiting_for_a_retry(client: Client):
    """Describe between two attempts (a raw worker fails the first)."""
    ws = client.workflow_service
    tq = unique("sa-backoff")
    req, resp = await start_raw(
        client, task_queue=TaskQueue(name=tq), heartbeat_timeout=dur(5),
        retry_policy=RetryPolicy(initial_interval=dur(1.5), maximum_attempts=3),
    )
    aid = req.activity_id
    task = await poll_task(client, tq, identity="first-worker")
    await ws.record_activity_task_heartbeat(RecordActivityTaskHeartbeatRequest(
        namespace=NS, task_token=task.task_token, details=payloads("hb-1"), identity="first-worker",
    ))
    running = await describe(client, aid, include_heartbeat_details=True)
    assert (running.info.run_state, running.info.total_heartbeat_count) == (RS.STARTED, 1)
    assert values(running.info.heartbeat_details) == ["hb-1"]
    assert running.info.HasField("last_heartbeat_time")
    assert not running.info.HasField("last_attempt_complete_time")

    # The failure's last heartbeat details replace the heartbeat's (and count as one).
    await ws.respond_activity_task_failed(RespondActivityTaskFailedRequest(
        namespace=NS, task_token=task.task_token, identity="first-worker",
        failure=Failure(message="first", application_failure_info=ApplicationFailureInfo(type="First")),
        last_heartbeat_details=payloads("hb-final"),
    ))
    d = await describe(client, aid, include_heartbeat_details=True, include_last_failure=True)
    i = as_dict(d.info)
    assert (i["status"], i["runState"], i["attempt"]) == ("ACTIVITY_EXECUTION_STATUS_RUNNING", "PENDING_ACTIVITY_STATE_SCHEDULED", 2)
    assert i["currentRetryInterval"] == "1.500s"
    assert at(d.info.next_attempt_schedule_time) - at(d.info.last_attempt_complete_time) == timedelta(seconds=1.5)
    assert d.info.last_heartbeat_time == d.info.last_attempt_complete_time
    assert i["lastFailure"] == {"message": "first", "applicationFailureInfo": {"type": "First"}}
    assert values(d.info.heartbeat_details) == ["hb-final"]
    assert (i["totalHeartbeatCount"], i["lastWorkerIdentity"]) == ("2", "first-worker")
    # Scheduled, started, heartbeat, failed (and rescheduled).
    assert i["stateTransitionCount"] == "4"
    # Without the flags: neither.
    plain = await describe(client, aid)
    assert not plain.info.HasField("heartbeat_details") and not plain.info.HasField("last_failure")

    # The stale task token of attempt 1 is refused; the next attempt carries the details.
    err = await rpc_error(ws.record_activity_task_heartbeat(RecordActivityTaskHeartbeatRequest(namespace=NS, task_token=task.task_token)))
    assert_error(err, *not_found(aid))
    second = await poll_task(client, tq, identity="second-worker")
    assert second.attempt == 2
    assert values(second.heartbeat_details) == ["hb-final"]
    assert at(second.current_attempt_scheduled_time) >= at(d.info.next_attempt_schedule_time)
    assert second.scheduled_time == task.scheduled_time
    started = await describe(client, aid)
    assert not started.info.HasField("current_retry_interval") and not started.info.HasField("next_attempt_schedule_time")
    assert (started.info.run_state, started.info.last_worker_identity) == (RS.STARTED, "second-worker")

    # A failure without ApplicationFailureInfo is refused by token.
    err = await rpc_error(ws.respond_activity_task_failed(RespondActivityTaskFailedRequest(
        namespace=NS, task_token=second.task_token, failure=Failure(message="bare"),
    )))
    assert_error(err, BAD, "Failure must have ApplicationFailureInfo.")
    err = await rpc_error(ws.respond_activity_task_completed(RespondActivityTaskCompletedRequest(namespace=NS, task_token=b"junk")))
    assert_error(err, BAD, "Error deserializing task token.")
    await terminate_raw(client, aid)


async def test_heartbeats_reach_describe_and_the_next_attempt(client: Client):
    tq = unique("sa-hb")
    async with worker(client, tq):
        # Heartbeat timeout 1 s; the activity heartbeats once and sleeps: attempt 1 times out,
        # attempt 2 starts with attempt 1's details.
        handle = await client.start_activity(
            sa_sleeper, args=[3, True, 1], id=unique("sa-hb"), task_queue=tq,
            start_to_close_timeout=timedelta(seconds=10), heartbeat_timeout=timedelta(seconds=1),
            retry_policy=SdkRetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
        )
        await wait_seen(handle.id, 1)

        async def beat_recorded():
            d = await describe(client, handle.id, include_heartbeat_details=True)
            return d if d.info.total_heartbeat_count >= 1 else None

        d = await eventually(beat_recorded, "the first heartbeat")
        assert values(d.info.heartbeat_details) == ["hb-1"]
        assert d.info.HasField("last_heartbeat_time")
        assert (d.info.attempt, d.info.run_state) == (1, RS.STARTED)

        attempts = await wait_seen(handle.id, 2)
        assert attempts[1]["heartbeat_details"] == ["hb-1"]
        assert await handle.result() == "slept 2"
        d = await describe(client, handle.id, include_heartbeat_details=True, include_last_failure=True)
        assert (d.info.status, d.info.attempt) == (ST.COMPLETED, 2)
        assert values(d.info.heartbeat_details) == ["hb-2"]
        # A retried attempt's timeout, as last failure: no cause, no heartbeat details (unlike a
        # final timeout's outcome, see test_timeouts).
        assert as_dict(d.info.last_failure) == {
            "message": "activity Heartbeat timeout", "timeoutFailureInfo": {"timeoutType": "TIMEOUT_TYPE_HEARTBEAT"},
        }
        assert d.info.total_heartbeat_count == 2


# ---------------------------------------------------------------- completion from outside


async def test_async_completion_by_token_and_by_id(client: Client):
    tq = unique("sa-async")
    async with worker(client, tq):
        async def parked(**kw):
            h = await client.start_activity(
                sa_async, id=unique("sa-async"), task_queue=tq, start_to_close_timeout=timedelta(seconds=30), **kw
            )
            await eventually(lambda: asyncio.sleep(0, TOKENS.get(h.id)), f"the task token of {h.id}")
            return h

        # By task token: heartbeat, then complete.
        h = await parked(heartbeat_timeout=timedelta(seconds=10))
        by_token = client.get_async_activity_handle(task_token=TOKENS[h.id])
        await by_token.heartbeat("token-beat")
        d = await describe(client, h.id, include_heartbeat_details=True)
        assert (d.info.run_state, d.info.last_worker_identity) == (RS.STARTED, WORKER_IDENTITY)
        assert values(d.info.heartbeat_details) == ["token-beat"]
        await by_token.complete("by token")
        assert await h.result() == "by token"

        # By activity id and run id (no workflow id): heartbeat and complete.
        h = await parked()
        by_id = client.get_async_activity_handle(activity_id=h.id, run_id=h.run_id)
        await by_id.heartbeat("id-beat")
        d = await describe(client, h.id, include_heartbeat_details=True)
        assert values(d.info.heartbeat_details) == ["id-beat"]
        await by_id.complete("by id")
        assert await h.result() == "by id"
        d = await describe(client, h.id)
        # The completing client's identity (the worker polled it).
        assert d.info.last_worker_identity == client.identity

        # By activity id alone: fail (non-retryable) with last heartbeat details.
        h = await parked()
        await client.get_async_activity_handle(activity_id=h.id).fail(
            ApplicationError("given up", non_retryable=True), last_heartbeat_details=["last-beat"],
        )
        with pytest.raises(ActivityFailureError) as raised:
            await h.result()
        assert isinstance(raised.value.cause, ApplicationError) and raised.value.cause.message == "given up"
        d = await describe(client, h.id, include_outcome=True, include_heartbeat_details=True, include_last_failure=True)
        assert d.info.status == ST.FAILED
        assert values(d.info.heartbeat_details) == ["last-beat"]
        assert as_dict(d.outcome) == {
            "failure": {"message": "given up", "applicationFailureInfo": {"nonRetryable": True}},
            "retryState": "RETRY_STATE_NON_RETRYABLE_FAILURE",
        }
        assert as_dict(d.info.last_failure) == as_dict(d.outcome.failure)

        # Cancel requested: a heartbeat by id says so; report the cancellation by id.
        h = await parked()
        await h.cancel(reason="no longer needed")
        by_id = client.get_async_activity_handle(activity_id=h.id)
        with pytest.raises(AsyncActivityCancelledError) as hb_raised:
            await by_id.heartbeat()
        assert hb_raised.value.details.cancel_requested
        await by_id.report_cancellation("cleanup done")
        with pytest.raises(ActivityFailureError) as raised:
            await h.result()
        assert isinstance(raised.value.cause, CancelledError)
        assert raised.value.cause.details == ("cleanup done",)
        d = await describe(client, h.id, include_outcome=True)
        assert as_dict(d.outcome) == {"failure": {
            "message": "Activity canceled",
            "canceledFailureInfo": {"details": {"payloads": [pl("cleanup done")]}, "identity": client.identity},
        }}
        assert d.info.canceled_reason == "no longer needed"


async def test_by_id_calls_on_standalone_activities(client: Client):
    ws = client.workflow_service
    # Completion by id needs no started attempt: a scheduled activity completes.
    req, resp = await start_raw(client, task_queue=TaskQueue(name=unique("sa-none")))
    aid = req.activity_id
    err = await rpc_error(ws.record_activity_task_heartbeat_by_id(RecordActivityTaskHeartbeatByIdRequest(namespace=NS, activity_id=aid)))
    assert_error(err, *not_found(aid))
    err = await rpc_error(ws.respond_activity_task_failed_by_id(RespondActivityTaskFailedByIdRequest(
        namespace=NS, activity_id=aid, failure=Failure(message="f"),
    )))
    assert_error(err, *not_found(aid))
    await ws.respond_activity_task_completed_by_id(RespondActivityTaskCompletedByIdRequest(
        namespace=NS, activity_id=aid, identity="completer", result=payloads(1),
    ))
    d = await describe(client, aid, include_outcome=True)
    assert (d.info.status, d.info.attempt, d.info.last_worker_identity) == (ST.COMPLETED, 1, "completer")
    # It counts as started and completed at the same moment.
    assert d.info.last_started_time == d.info.last_attempt_complete_time
    assert d.info.state_transition_count == 2
    assert values(d.outcome.result) == [1]

    # Errors.
    for bad, expected in [
        (RespondActivityTaskCompletedByIdRequest(namespace=NS), (BAD, "ActivityId is not set on request.")),
        (RespondActivityTaskCompletedByIdRequest(namespace=NS, activity_id=aid, run_id="zz"), (BAD, "RunId is not valid UUID.")),
        (RespondActivityTaskCompletedByIdRequest(namespace=NS, activity_id="sa-none"), not_found("sa-none")),
        (RespondActivityTaskCompletedByIdRequest(namespace=NS, activity_id=aid, run_id=str(uuid.uuid4())), not_found(aid)),
    ]:
        assert_error(await rpc_error(ws.respond_activity_task_completed_by_id(bad)), *expected)
    # Closed: completing again is an invalid transition.
    err = await rpc_error(ws.respond_activity_task_completed_by_id(RespondActivityTaskCompletedByIdRequest(namespace=NS, activity_id=aid)))
    assert_error(err, PRECONDITION, "invalid transition from Completed")

    # A retryable failure by id (no ApplicationFailureInfo needed) schedules a retry; the
    # started attempt's worker identity stays.
    tq = unique("sa-byid")
    req, _ = await start_raw(client, task_queue=TaskQueue(name=tq), retry_policy=RetryPolicy(maximum_attempts=2))
    await poll_task(client, tq, identity="poller")
    await ws.respond_activity_task_failed_by_id(RespondActivityTaskFailedByIdRequest(
        namespace=NS, activity_id=req.activity_id, identity="failer", failure=Failure(message="bare"),
    ))
    d = await describe(client, req.activity_id, include_last_failure=True)
    assert (d.info.status, d.info.run_state, d.info.attempt) == (ST.RUNNING, RS.SCHEDULED, 2)
    assert (d.info.last_worker_identity, as_dict(d.info.last_failure)) == ("poller", {"message": "bare"})
    await terminate_raw(client, req.activity_id)


# ---------------------------------------------------------------- cancel / terminate


async def test_cancel(client: Client):
    ws = client.workflow_service
    # A scheduled activity (no worker) is canceled at once; the reason becomes the details.
    req, resp = await start_raw(client, task_queue=TaskQueue(name=unique("sa-none")))
    aid = req.activity_id
    await cancel_raw(client, aid, reason="why", identity="canceller", request_id="cancel-1")
    d = await describe(client, aid, include_outcome=True)
    assert norm(as_dict(d.info)) == {
        "activityId": aid,
        "runId": resp.run_id,
        "activityType": {"name": "SAType"},
        "status": "ACTIVITY_EXECUTION_STATUS_CANCELED",
        "taskQueue": req.task_queue.name,
        "scheduleToCloseTimeout": "0s",
        "scheduleToStartTimeout": "0s",
        "startToCloseTimeout": "10s",
        "heartbeatTimeout": "0s",
        "retryPolicy": DEFAULT_RETRY,
        "attempt": 1,
        "executionDuration": "D",
        "scheduleTime": "T",
        "closeTime": "T",
        "stateTransitionCount": "N",
        "searchAttributes": {},
        "canceledReason": "why",
        "executionTime": "T",
    }
    assert as_dict(d.outcome) == {"failure": {
        "message": "Activity canceled",
        "canceledFailureInfo": {"details": {"payloads": [pl("why")]}, "identity": "canceller"},
    }}
    assert d.info.state_transition_count == 2
    # The same request id again: accepted; another: the activity is closed.
    await cancel_raw(client, aid, request_id="cancel-1")
    assert_error(await rpc_error(cancel_raw(client, aid, request_id="cancel-2")), PRECONDITION, "activity is in terminal state Canceled")
    assert_error(await rpc_error(terminate_raw(client, aid, request_id="t")), PRECONDITION, "invalid transition from Canceled")
    # No reason, no identity: an empty string as details.
    req2, _ = await start_raw(client, task_queue=TaskQueue(name=unique("sa-none")))
    await cancel_raw(client, req2.activity_id)
    d = await describe(client, req2.activity_id, include_outcome=True)
    assert (d.info.status, d.info.canceled_reason) == (ST.CANCELED, "")
    assert as_dict(d.outcome) == {"failure": {
        "message": "Activity canceled", "canceledFailureInfo": {"details": {"payloads": [pl("")]}},
    }}
    assert_error(await rpc_error(cancel_raw(client, "sa-none")), *not_found("sa-none"))
    assert_error(await rpc_error(cancel_raw(client, "")), BAD, "activity ID is required")

    # A started activity that heartbeats: cancel requested, the activity sees it, CANCELED.
    tq = unique("sa-cancel")
    async with worker(client, tq):
        handle = await client.start_activity(
            sa_heartbeater, id=unique("sa-cancel"), task_queue=tq,
            start_to_close_timeout=timedelta(seconds=30), heartbeat_timeout=timedelta(seconds=2),
        )
        await wait_seen(handle.id)
        await handle.cancel(reason="stop it")
        # The worker learns of it with its next heartbeat (throttled to 0.8 x 2 s).
        d = await describe(client, handle.id)
        assert (d.info.status, d.info.run_state, d.info.canceled_reason) == (ST.RUNNING, RS.CANCEL_REQUESTED, "stop it")
        err = await rpc_error(cancel_raw(client, handle.id, request_id="other"))
        assert err.status == PRECONDITION and err.message.startswith("cancellation already requested with request ID "), err.message
        with pytest.raises(ActivityFailureError) as raised:
            await handle.result()
        assert isinstance(raised.value.cause, CancelledError)
        assert (raised.value.cause.message, raised.value.cause.details) == ("Activity canceled", ())
        details = SEEN[handle.id][-1]["cancelled"]
        assert details.cancel_requested and not details.not_found
        d = await describe(client, handle.id, include_outcome=True)
        assert (d.info.status, d.info.canceled_reason, d.info.last_worker_identity) == (ST.CANCELED, "stop it", WORKER_IDENTITY)
        # The canceller's identity, the worker's (empty) details.
        assert as_dict(d.outcome) == {"failure": {"message": "Activity canceled", "canceledFailureInfo": {"identity": client.identity}}}

    # Cancel requested twice while started (raw worker, so it stays requested).
    tq = unique("sa-cancel-raw")
    req, _ = await start_raw(client, task_queue=TaskQueue(name=tq))
    task = await poll_task(client, tq)
    await cancel_raw(client, req.activity_id, request_id="first-cancel", reason="r1")
    await cancel_raw(client, req.activity_id, request_id="first-cancel", reason="r1")
    err = await rpc_error(cancel_raw(client, req.activity_id, request_id="second-cancel", reason="r2"))
    assert_error(err, PRECONDITION, "cancellation already requested with request ID first-cancel")
    hb = await ws.record_activity_task_heartbeat(RecordActivityTaskHeartbeatRequest(namespace=NS, task_token=task.task_token))
    assert hb.cancel_requested and not hb.activity_paused and not hb.activity_reset
    hb = await ws.record_activity_task_heartbeat_by_id(RecordActivityTaskHeartbeatByIdRequest(namespace=NS, activity_id=req.activity_id))
    assert hb.cancel_requested
    # The worker may still complete it.
    await ws.respond_activity_task_completed(RespondActivityTaskCompletedRequest(namespace=NS, task_token=task.task_token, result=payloads("anyway")))
    d = await describe(client, req.activity_id, include_outcome=True)
    assert (d.info.status, d.info.canceled_reason, values(d.outcome.result)) == (ST.COMPLETED, "r1", ["anyway"])


async def test_terminate(client: Client):
    ws = client.workflow_service
    tq = unique("sa-term")
    req, resp = await start_raw(client, task_queue=TaskQueue(name=tq))
    aid = req.activity_id
    task = await poll_task(client, tq)
    await terminate_raw(client, aid, reason="kill it", identity="terminator", request_id="term-1")
    d = await describe(client, aid, include_outcome=True)
    assert d.info.status == ST.TERMINATED and d.info.run_state == 0
    assert d.info.HasField("close_time") and d.info.HasField("execution_duration")
    assert as_dict(d.outcome) == {"failure": {"message": "kill it", "terminatedFailureInfo": {"identity": "terminator"}}}
    with pytest.raises(ActivityFailureError) as raised:
        await client.get_activity_handle(aid).result()
    assert isinstance(raised.value.cause, TerminatedError) and raised.value.cause.message == "kill it"

    # The worker's token is dead.
    for call, r in [
        (ws.record_activity_task_heartbeat, RecordActivityTaskHeartbeatRequest(namespace=NS, task_token=task.task_token)),
        (ws.respond_activity_task_completed, RespondActivityTaskCompletedRequest(namespace=NS, task_token=task.task_token)),
        (ws.respond_activity_task_canceled, RespondActivityTaskCanceledRequest(namespace=NS, task_token=task.task_token)),
    ]:
        assert_error(await rpc_error(call(r)), *not_found(aid))

    await terminate_raw(client, aid, request_id="term-1")
    assert_error(await rpc_error(terminate_raw(client, aid, request_id="term-2")), PRECONDITION, "already terminated with request ID term-1")
    assert_error(await rpc_error(cancel_raw(client, aid, request_id="c")), PRECONDITION, "activity is in terminal state Terminated")
    assert_error(await rpc_error(terminate_raw(client, "sa-none")), *not_found("sa-none"))
    assert_error(await rpc_error(terminate_raw(client, "")), BAD, "activity ID is required")
    assert_error(await rpc_error(terminate_raw(client, aid, run_id="zz")), BAD, "invalid run id: must be a valid UUID")

    # Through the SDK: no reason -> an empty message; a completed activity cannot be terminated.
    handle = await client.start_activity("SAType", id=unique("sa-term"), task_queue=tq, start_to_close_timeout=timedelta(seconds=10))
    await handle.terminate()
    d = await describe(client, handle.id, include_outcome=True)
    assert as_dict(d.outcome) == {"failure": {"terminatedFailureInfo": {"identity": client.identity}}}
    req, _ = await start_raw(client, task_queue=TaskQueue(name=tq))
    task = await poll_task(client, tq)
    await ws.respond_activity_task_completed(RespondActivityTaskCompletedRequest(namespace=NS, task_token=task.task_token))
    assert_error(await rpc_error(terminate_raw(client, req.activity_id)), PRECONDITION, "invalid transition from Completed")


# ---------------------------------------------------------------- timeouts


async def test_timeouts(client: Client):
    tq = unique("sa-timeouts")
    fast_retry = SdkRetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=2)

    async def outcome_of(handle) -> tuple[BaseException, DescribeActivityExecutionResponse]:
        with pytest.raises(ActivityFailureError) as raised:
            await handle.result()
        d = await describe(client, handle.id, include_outcome=True, include_last_failure=True, include_heartbeat_details=True)
        assert d.info.status == ST.TIMED_OUT, handle.id
        return raised.value.cause, d

    def timeout_failure(kind: str, cause: dict | None = None, **info) -> dict:
        f: dict[str, Any] = {"message": f"activity {kind} timeout"}
        if cause:
            f["cause"] = cause
        f["timeoutFailureInfo"] = {"timeoutType": f"TIMEOUT_TYPE_{ {'ScheduleToStart': 'SCHEDULE_TO_START', 'StartToClose': 'START_TO_CLOSE', 'ScheduleToClose': 'SCHEDULE_TO_CLOSE', 'Heartbeat': 'HEARTBEAT'}[kind] }", **info}
        return f

    async def schedule_to_start():
        # No worker on this queue; a retry policy does not make it retry.
        h = await client.start_activity(
            "SAType", id=unique("sa-s2s"), task_queue=unique("sa-none"),
            start_to_close_timeout=timedelta(seconds=10), schedule_to_start_timeout=timedelta(seconds=1),
            retry_policy=SdkRetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
        )
        cause, d = await outcome_of(h)
        assert isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START
        assert d.info.attempt == 1 and not d.info.HasField("last_failure") and not d.info.HasField("last_started_time")
        assert as_dict(d.outcome) == {"failure": timeout_failure("ScheduleToStart"), "retryState": "RETRY_STATE_TIMEOUT"}
        assert at(d.info.close_time) - at(d.info.schedule_time) >= timedelta(seconds=1)

    async def schedule_to_close_unstarted():
        h = await client.start_activity(
            "SAType", id=unique("sa-s2c0"), task_queue=unique("sa-none"), schedule_to_close_timeout=timedelta(seconds=1),
        )
        cause, d = await outcome_of(h)
        # ScheduleToStart took ScheduleToClose's value, and fires first.
        assert isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START
        assert as_dict(d.outcome) == {"failure": timeout_failure("ScheduleToStart"), "retryState": "RETRY_STATE_TIMEOUT"}

    async def start_to_close():
        h = await client.start_activity(
            sa_sleeper, args=[5, False], id=unique("sa-stc"), task_queue=tq,
            start_to_close_timeout=timedelta(seconds=1), retry_policy=fast_retry,
        )
        cause, d = await outcome_of(h)
        assert isinstance(cause, TimeoutError) and cause.type == TimeoutType.START_TO_CLOSE
        assert d.info.attempt == 2
        # Oddly, the failure is its own cause.
        stc = timeout_failure("StartToClose", cause={"message": "activity StartToClose timeout", "timeoutFailureInfo": {"timeoutType": "TIMEOUT_TYPE_START_TO_CLOSE"}})
        assert as_dict(d.outcome) == {"failure": stc, "retryState": "RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED"}
        assert as_dict(d.info.last_failure) == stc
        assert [a["attempt"] for a in SEEN[h.id]] == [1, 2]

    async def heartbeat():
        h = await client.start_activity(
            sa_sleeper, args=[5, True], id=unique("sa-hbt"), task_queue=tq,
            start_to_close_timeout=timedelta(seconds=10), heartbeat_timeout=timedelta(seconds=1), retry_policy=fast_retry,
        )
        cause, d = await outcome_of(h)
        assert isinstance(cause, TimeoutError) and cause.type == TimeoutType.HEARTBEAT
        assert list(cause.last_heartbeat_details) == ["hb-2"]
        hbt = timeout_failure(
            "Heartbeat", cause={"message": "activity Heartbeat timeout", "timeoutFailureInfo": {"timeoutType": "TIMEOUT_TYPE_HEARTBEAT"}},
            lastHeartbeatDetails={"payloads": [pl("hb-2")]},
        )
        assert as_dict(d.outcome) == {"failure": hbt, "retryState": "RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED"}
        assert values(d.info.heartbeat_details) == ["hb-2"]
        assert [a["heartbeat_details"] for a in SEEN[h.id]] == [[], ["hb-1"]]

    async def schedule_to_close_started():
        h = await client.start_activity(
            sa_sleeper, args=[5, False], id=unique("sa-s2c"), task_queue=tq,
            schedule_to_close_timeout=timedelta(seconds=2), retry_policy=fast_retry,
        )
        cause, d = await outcome_of(h)
        assert isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_CLOSE and cause.cause is None
        assert d.info.attempt == 1 and d.info.HasField("last_started_time") and not d.info.HasField("last_failure")
        assert as_dict(d.outcome) == {"failure": timeout_failure("ScheduleToClose"), "retryState": "RETRY_STATE_TIMEOUT"}
        assert d.info.expiration_time.ToDatetime() - d.info.schedule_time.ToDatetime() == timedelta(seconds=2)

    async def schedule_to_close_after_retries():
        # StartToClose 1 s, retried until ScheduleToClose (3 s) ends it: the last attempt's
        # failure is the cause.
        h = await client.start_activity(
            sa_sleeper, args=[5, False], id=unique("sa-s2cr"), task_queue=tq,
            schedule_to_close_timeout=timedelta(seconds=3), start_to_close_timeout=timedelta(seconds=1),
            retry_policy=SdkRetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )
        cause, d = await outcome_of(h)
        assert isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_CLOSE
        assert isinstance(cause.cause, TimeoutError) and cause.cause.type == TimeoutType.START_TO_CLOSE
        assert d.info.attempt >= 2
        assert as_dict(d.outcome) == {
            "failure": timeout_failure("ScheduleToClose", cause={"message": "activity StartToClose timeout", "timeoutFailureInfo": {"timeoutType": "TIMEOUT_TYPE_START_TO_CLOSE"}}),
            "retryState": "RETRY_STATE_TIMEOUT",
        }
        assert as_dict(d.info.last_failure) == timeout_failure("StartToClose")

    async with worker(client, tq):
        await asyncio.gather(
            schedule_to_start(), schedule_to_close_unstarted(), start_to_close(), heartbeat(),
            schedule_to_close_started(), schedule_to_close_after_retries(),
        )


# ---------------------------------------------------------------- delete

# What a running activity shows between its delete and its removal.
DELETED_OUTCOME = {"failure": {"message": "Delete activity execution", "terminatedFailureInfo": {}}}


async def wait_deleted(client: Client, activity_id: str) -> None:
    """Until Describe answers NOT_FOUND; until then the activity may show as terminated by the
    delete (it is removed asynchronously)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            d = await describe(client, activity_id, include_outcome=True)
        except RPCError as err:
            assert_error(err, *not_found(activity_id))
            return
        assert d.info.status == ST.TERMINATED, d.info
        if d.outcome.failure.HasField("terminated_failure_info") and d.outcome.failure.message == "Delete activity execution":
            assert as_dict(d.outcome) == DELETED_OUTCOME
        assert time.monotonic() < deadline, f"{activity_id} still there {WAIT_S}s after its delete"
        await asyncio.sleep(0.02)


async def test_delete(client: Client):
    ws = client.workflow_service
    tq = unique("sa-del")
    req, resp = await start_raw(client, task_queue=TaskQueue(name=tq))
    aid = req.activity_id
    task = await poll_task(client, tq)
    await wait_listed(client, f"ActivityId = '{aid}'", 1)

    # Deleting a running activity terminates it ("Delete activity execution", no identity),
    # then removes it (a moment later). A poll waiting for the outcome sees one or the other.
    pending = asyncio.create_task(poll_outcome(client, aid))
    await asyncio.sleep(0.3)
    await ws.delete_activity_execution(DeleteActivityExecutionRequest(namespace=NS, activity_id=aid))
    [polled] = await asyncio.wait_for(asyncio.gather(pending, return_exceptions=True), WAIT_S)
    if isinstance(polled, RPCError):
        assert_error(polled, *not_found(aid))
    else:
        assert as_dict(polled) == {"runId": resp.run_id, "outcome": DELETED_OUTCOME}
    await wait_deleted(client, aid)

    for aw in [
        describe(client, aid),
        describe(client, aid, run_id=resp.run_id),
        poll_outcome(client, aid, timeout=5),
        ws.delete_activity_execution(DeleteActivityExecutionRequest(namespace=NS, activity_id=aid)),
        terminate_raw(client, aid),
        cancel_raw(client, aid),
        ws.record_activity_task_heartbeat(RecordActivityTaskHeartbeatRequest(namespace=NS, task_token=task.task_token)),
        ws.respond_activity_task_completed(RespondActivityTaskCompletedRequest(namespace=NS, task_token=task.task_token)),
        ws.respond_activity_task_completed_by_id(RespondActivityTaskCompletedByIdRequest(namespace=NS, activity_id=aid)),
    ]:
        assert_error(await rpc_error(aw), *not_found(aid))
    await wait_listed(client, f"ActivityId = '{aid}'", 0)

    # The id is free: even REJECT_DUPLICATE starts a new run.
    again = await ws.start_activity_execution(start_req(
        activity_id=aid, task_queue=TaskQueue(name=tq),
        id_reuse_policy=ActivityIdReusePolicy.ACTIVITY_ID_REUSE_POLICY_REJECT_DUPLICATE,
    ))
    assert again.started and again.run_id != resp.run_id
    # Delete with the old run id: not found; a closed one by its run id: gone.
    err = await rpc_error(ws.delete_activity_execution(DeleteActivityExecutionRequest(namespace=NS, activity_id=aid, run_id=resp.run_id)))
    assert_error(err, *not_found(aid))
    await terminate_raw(client, aid)
    await ws.delete_activity_execution(DeleteActivityExecutionRequest(namespace=NS, activity_id=aid, run_id=again.run_id))
    await wait_deleted(client, aid)

    for bad, expected in [
        (DeleteActivityExecutionRequest(namespace=NS), (BAD, "activity ID is required")),
        (DeleteActivityExecutionRequest(namespace=NS, activity_id=aid, run_id="zz"), (BAD, "invalid run id: must be a valid UUID")),
        (DeleteActivityExecutionRequest(namespace=NS, activity_id="sa-none"), not_found("sa-none")),
    ]:
        assert_error(await rpc_error(ws.delete_activity_execution(bad)), *expected)


# ---------------------------------------------------------------- visibility


async def test_list_and_count(client: Client):
    ws = client.workflow_service
    tq = unique("sa-vis")
    # In this order: 0 terminated, 1 running, 2 canceled, 3 running, 4 completed (by id), 5 running.
    plan = ["terminated", "running", "canceled", "running", "completed", "running"]
    ids: list[str] = []
    runs: list[str] = []
    for i, fate in enumerate(plan):
        req, resp = await start_raw(
            client, task_queue=TaskQueue(name=tq), activity_type=ActivityType(name=f"SAVis{i % 2}"),
            search_attributes=SearchAttributes(indexed_fields={
                "ActKeyword": typed_payload(SA_KEYWORD, f"k{i}"), "ActInt": typed_payload(SA_INT, i),
            }),
        )
        ids.append(req.activity_id)
        runs.append(resp.run_id)
        if fate == "terminated":
            await terminate_raw(client, req.activity_id)
        elif fate == "canceled":
            await cancel_raw(client, req.activity_id)
        elif fate == "completed":
            await ws.respond_activity_task_completed_by_id(RespondActivityTaskCompletedByIdRequest(namespace=NS, activity_id=req.activity_id))
    name = {aid: i for i, aid in enumerate(ids)}
    base = f"TaskQueue = '{tq}'"

    async def indexed():
        # All six, and their closes.
        return await count(client, base) == 6 and await count(client, f"{base} AND ExecutionStatus = 'Running'") == 3

    await eventually(indexed, "the six activities and their closes in visibility")
    # Open runs first, newest first; then closed ones, last closed first.
    assert [name[a] for a in await list_ids(client, base)] == [5, 3, 1, 4, 2, 0]

    resp = await ws.list_activity_executions(ListActivityExecutionsRequest(namespace=NS, query=f"ActivityId = '{ids[4]}'"))
    [entry] = resp.executions
    e = as_dict(entry)
    for k in ("scheduleTime", "closeTime", "executionTime"):
        assert e.pop(k), k
    assert e == {
        "activityId": ids[4],
        "runId": runs[4],
        "activityType": {"name": "SAVis0"},
        "status": "ACTIVITY_EXECUTION_STATUS_COMPLETED",
        "searchAttributes": {"indexedFields": {
            "ActKeyword": typed(SA_KEYWORD, "k4"),
            "ActInt": typed(SA_INT, 4),
            "TemporalNamespaceDivision": typed(SearchAttributeKey.for_keyword("TemporalNamespaceDivision"), ACTIVITY_DIVISION),
        }},
        "taskQueue": tq,
        "stateTransitionCount": "2",
        "executionDuration": e["executionDuration"],
    }
    assert entry.execution_duration.ToNanoseconds() == entry.close_time.ToNanoseconds() - entry.schedule_time.ToNanoseconds()
    # Open entries have no close time, duration or transition count.
    resp = await ws.list_activity_executions(ListActivityExecutionsRequest(namespace=NS, query=f"ActivityId = '{ids[5]}'"))
    assert {"closeTime", "executionDuration", "stateTransitionCount"}.isdisjoint(as_dict(resp.executions[0]))

    queries = {
        f"{base} AND ActivityType = 'SAVis0'": [4, 2, 0],
        f"{base} AND ActivityType IN ('SAVis1')": [5, 3, 1],
        f"{base} AND ExecutionStatus = 'Running'": [5, 3, 1],
        f"{base} AND ExecutionStatus = 'Canceled'": [2],
        f"{base} AND ExecutionStatus = 'Completed'": [4],
        f"{base} AND ExecutionStatus = 'Terminated'": [0],
        f"{base} AND ExecutionStatus != 'Running'": [4, 2, 0],
        f"{base} AND ExecutionStatus = 'TimedOut'": [],
        f"ActivityId = '{ids[1]}'": [1],
        f"{base} AND ActivityId STARTS_WITH 'sa-'": [5, 3, 1, 4, 2, 0],
        f"{base} AND RunId = '{runs[3]}'": [3],
        f"{base} AND ActKeyword = 'k2'": [2],
        f"{base} AND ActInt >= 3": [5, 3, 4],
        f"{base} AND StartTime > '2020-01-01T00:00:00Z'": [5, 3, 1, 4, 2, 0],
        f"{base} AND StartTime BETWEEN '2020-01-01T00:00:00Z' AND '2099-01-01T00:00:00Z'": [5, 3, 1, 4, 2, 0],
        f"{base} AND StartTime < '2020-01-01T00:00:00Z'": [],
        f"{base} AND CloseTime IS NULL": [5, 3, 1],
        f"{base} AND CloseTime IS NOT NULL": [4, 2, 0],
        f"{base} AND ExecutionTime > '2020-01-01T00:00:00Z'": [5, 3, 1, 4, 2, 0],
        # System attributes of workflows are accepted and match nothing.
        f"{base} AND WorkflowType = 'SAVis0'": [],
        # GROUP BY is ignored by List.
        f"{base} GROUP BY ExecutionStatus": [5, 3, 1, 4, 2, 0],
    }
    for query, expected in queries.items():
        assert [name[a] for a in await list_ids(client, query)] == expected, query
        if "GROUP BY" not in query:
            assert await count(client, query) == len(expected), query
    # StartTime ranges, bounded by the listed schedule times (visibility's own, in microseconds).
    listed_info = {
        e.activity_id: e
        for e in (await ws.list_activity_executions(ListActivityExecutionsRequest(namespace=NS, query=base))).executions
    }
    lo, hi = listed_info[ids[1]].schedule_time.ToJsonString(), listed_info[ids[4]].schedule_time.ToJsonString()
    assert [name[a] for a in await list_ids(client, f"{base} AND StartTime >= '{lo}' AND StartTime <= '{hi}'")] == [3, 1, 4, 2]

    # Paging: page_size, then the next pages.
    first = await ws.list_activity_executions(ListActivityExecutionsRequest(namespace=NS, query=base, page_size=4))
    assert [name[e.activity_id] for e in first.executions] == [5, 3, 1, 4] and first.next_page_token
    second = await ws.list_activity_executions(ListActivityExecutionsRequest(namespace=NS, query=base, page_size=4, next_page_token=first.next_page_token))
    assert [name[e.activity_id] for e in second.executions] == [2, 0] and not second.next_page_token

    # Counting groups: only by ExecutionStatus, groups in value order.
    grouped = await ws.count_activity_executions(CountActivityExecutionsRequest(namespace=NS, query=f"{base} GROUP BY ExecutionStatus"))
    assert grouped.count == 6
    assert [(as_dict(g.group_values[0]), g.count) for g in grouped.groups] == [
        (typed(SearchAttributeKey.for_keyword("ExecutionStatus"), s), n)
        for s, n in [("Canceled", 1), ("Completed", 1), ("Running", 3), ("Terminated", 1)]
    ]
    sdk_count = await client.count_activities(f"{base} GROUP BY ExecutionStatus")
    assert sdk_count.count == 6
    assert [(list(g.group_values), g.count) for g in sdk_count.groups] == [
        (["Canceled"], 1), (["Completed"], 1), (["Running"], 3), (["Terminated"], 1),
    ]
    assert (await client.count_activities(f"{base} AND ActInt < 0")).count == 0

    # The SDK's list.
    listed_sdk = [a async for a in client.list_activities(base)]
    assert [name[a.activity_id] for a in listed_sdk] == [5, 3, 1, 4, 2, 0]
    by_id = {a.activity_id: a for a in listed_sdk}
    a4 = by_id[ids[4]]
    assert (a4.status, a4.activity_type, a4.task_queue, a4.activity_run_id) == (ST.COMPLETED, "SAVis0", tq, runs[4])
    assert a4.close_time is not None and a4.execution_duration is not None
    assert a4.typed_search_attributes.get(SA_INT) == 4
    assert by_id[ids[5]].close_time is None and by_id[ids[5]].status == ST.RUNNING
    assert len([a async for a in client.list_activities(base, limit=2)]) == 2

    # Errors: the same for List and Count.
    errors = {
        "NoSuchAttr = 1": "invalid query: invalid search attribute: NoSuchAttr",
        f"{base} AND Attempt = 1": "invalid query: invalid search attribute: Attempt",
        f"{base} ORDER BY StartTime DESC": "invalid query: operation is not supported: 'ORDER BY' clause",
        "bad query ((": "invalid query: malformed SQL query: syntax error at position 37 near 'query'",
        f"{base} AND StartTime > 'garbage'": "invalid query: invalid expression: unable to parse datetime 'garbage'",
    }
    for query, message in errors.items():
        assert_error(await rpc_error(list_ids(client, query)), BAD, message)
        assert_error(await rpc_error(count(client, query)), BAD, message)
    for query, message in {
        f"{base} GROUP BY ActivityType": "invalid query: operation is not supported: 'GROUP BY' clause is not supported for search attribute ActivityType",
        f"{base} GROUP BY ExecutionStatus, ActivityType": "invalid query: operation is not supported: 'GROUP BY' clause supports only a single field",
    }.items():
        assert_error(await rpc_error(count(client, query)), BAD, message)

    for aid in (ids[1], ids[3], ids[5]):
        await terminate_raw(client, aid)


async def test_activity_and_workflow_id_spaces(client: Client):
    tq = unique("sa-ids")
    shared = unique("sa-shared")
    act_req, act = await start_raw(client, activity_id=shared, task_queue=TaskQueue(name=tq))
    async with new_worker(client, tq, workflows=[SAWorkflow]):
        # The same id as a running activity: a workflow starts.
        wf = await client.start_workflow("SAWorkflow", id=shared, task_queue=tq)
        assert wf.result_run_id != act.run_id
        # An activity with the id of the running workflow: starts too.
        wf_only = await client.start_workflow("SAWorkflow", id=unique("sa-wf"), task_queue=tq)
        act2_req, act2 = await start_raw(client, activity_id=wf_only.id, task_queue=TaskQueue(name=tq))
        assert act2.started

        await wait_listed(client, f"TaskQueue = '{tq}'", 2)
        acts = await list_ids(client, f"TaskQueue = '{tq}'")
        assert sorted(acts) == sorted([shared, wf_only.id])

        async def wf_ids(query: str) -> list[str]:
            resp = await client.workflow_service.list_workflow_executions(ListWorkflowExecutionsRequest(namespace=NS, query=query))
            return sorted(w.execution.workflow_id for w in resp.executions)

        async def wf_count(query: str) -> int:
            resp = await client.workflow_service.count_workflow_executions(CountWorkflowExecutionsRequest(namespace=NS, query=query))
            return resp.count

        async def two_workflows():
            return await wf_ids(f"TaskQueue = '{tq}'") == sorted([shared, wf_only.id])

        await eventually(two_workflows, "the two workflows listed")
        # Each list has only its own kind: the workflow list's entries are the workflows.
        resp = await client.workflow_service.list_workflow_executions(ListWorkflowExecutionsRequest(namespace=NS, query=f"TaskQueue = '{tq}'"))
        assert {w.execution.run_id for w in resp.executions} == {wf.result_run_id, wf_only.result_run_id}
        assert {w.type.name for w in resp.executions} == {"SAWorkflow"}
        assert await wf_count(f"TaskQueue = '{tq}'") == 2
        assert await wf_ids(f"WorkflowId = '{shared}'") == [shared]
        assert await count(client, f"TaskQueue = '{tq}' AND ActivityType = 'SAWorkflow'") == 0
        assert_error(await rpc_error(wf_ids(f"ActivityId = '{shared}'")), BAD, "invalid query: invalid search attribute: ActivityId")
        # The real server files activities under a namespace division of their own, hidden from
        # the workflow list unless a query names it.
        assert await wf_ids(f"TaskQueue = '{tq}' AND TemporalNamespaceDivision = '{ACTIVITY_DIVISION}'") == sorted([shared, wf_only.id])
        # In the activity list, WorkflowId is the activity id.
        assert await list_ids(client, f"WorkflowId = '{shared}'") == [shared]

        # Each API sees only its own kind.
        activity_only = unique("sa-only")
        await start_raw(client, activity_id=activity_only, task_queue=TaskQueue(name=tq))
        err = await rpc_error(client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(namespace=NS, execution=WorkflowExecution(workflow_id=activity_only))
        ))
        assert_error(err, NOT_FOUND, f"workflow not found for ID: {activity_only}", [NotFoundFailure])
        workflow_only = unique("sa-wf-only")
        await client.start_workflow("SAWorkflow", id=workflow_only, task_queue=tq)
        assert_error(await rpc_error(describe(client, workflow_only)), *not_found(workflow_only))

        # Terminating one leaves the other running.
        await terminate_raw(client, shared)
        assert (await wf.describe()).status.name == "RUNNING"
        for h in (wf, wf_only, client.get_workflow_handle(workflow_only)):
            await h.terminate()
        d = await describe(client, wf_only.id)
        assert d.info.status == ST.RUNNING
        for aid in (wf_only.id, activity_only):
            await terminate_raw(client, aid)


# ---------------------------------------------------------------- CLI


async def test_cli_start_describe_list_count_complete_result(cli: Cli, client: Client):
    aid = unique("sa-cli")
    tq = unique("sa-cli-tq")
    out = await cli.out(
        "start", "-a", aid, "--type", "CliType", "-t", tq, "--start-to-close-timeout", "10s",
        "-i", '"a"', "-i", "2", "--static-summary", "sum", "--static-details", "det",
        "--search-attribute", 'ActKeyword="kk"', "--headers", 'h1="v1"', "--priority-key", "2",
        "--retry-maximum-attempts", "3", "--heartbeat-timeout", "5s",
    )
    d = await describe(client, aid, include_input=True)
    run_id = d.run_id
    assert out == f"Running execution:\n  ActivityId  {aid}\n  RunId       {run_id}\n  Namespace   {NS}\n"
    assert values(d.input) == ["a", 2]
    assert as_dict(d.info.header) == {"fields": {"h1": pl("v1")}}
    # The CLI sends a start delay of 0s: echoed.
    assert as_dict(d.info)["startDelay"] == "0s"

    # Another start of the running id fails; UseExisting returns it.
    err = await cli.error("start", "-a", aid, "--type", "CliType", "-t", tq, "--start-to-close-timeout", "10s")
    assert err == "Error: failed starting activity: activity execution already started"
    assert await cli.json(
        "start", "-a", aid, "--type", "CliType", "-t", tq, "--start-to-close-timeout", "10s", "--id-conflict-policy", "UseExisting",
    ) == {"activityId": aid, "runId": run_id, "namespace": NS}
    err = await cli.error("start", "-a", unique("sa-cli"), "--type", "T", "-t", tq)
    assert err == "Error: failed starting activity: at least one of ScheduleToCloseTimeout and StartToCloseTimeout is required"

    text = await cli.out("describe", "-a", aid)
    assert text.startswith("Activity Execution Info:\n")
    kv = kv_lines(text)
    assert list(kv) == [
        "ActivityId", "RunId", "Type", "Namespace", "Status", "RunState", "TaskQueue", "StartToCloseTimeout",
        "HeartbeatTimeout", "ExecutionTime", "Attempt", "ScheduleTime", "SearchAttributes", "StateTransitionCount",
    ]
    assert {k: kv[k] for k in ("ActivityId", "RunId", "Type", "Namespace", "Status", "RunState", "TaskQueue",
                               "StartToCloseTimeout", "HeartbeatTimeout", "Attempt", "StateTransitionCount")} == {
        "ActivityId": aid, "RunId": run_id, "Type": "CliType", "Namespace": NS, "Status": "Running",
        "RunState": "Scheduled", "TaskQueue": tq, "StartToCloseTimeout": "10s", "HeartbeatTimeout": "5s",
        "Attempt": "1", "StateTransitionCount": "1",
    }
    doc = await cli.json("describe", "-a", aid)
    assert doc["runId"] == run_id and doc["input"] == ["a", 2] and doc["longPollToken"]
    info = doc["info"]
    assert {k: info[k] for k in (
        "activityId", "runId", "activityType", "status", "runState", "taskQueue", "scheduleToCloseTimeout",
        "scheduleToStartTimeout", "startToCloseTimeout", "heartbeatTimeout", "retryPolicy", "attempt", "priority",
        "header", "userMetadata", "startDelay", "searchAttributes",
    )} == {
        "activityId": aid,
        "runId": run_id,
        "activityType": {"name": "CliType"},
        "status": "ACTIVITY_EXECUTION_STATUS_RUNNING",
        "runState": "PENDING_ACTIVITY_STATE_SCHEDULED",
        "taskQueue": tq,
        "scheduleToCloseTimeout": "0s",
        "scheduleToStartTimeout": "0s",
        "startToCloseTimeout": "10s",
        "heartbeatTimeout": "5s",
        "retryPolicy": {"initialInterval": "1s", "backoffCoefficient": 2, "maximumInterval": "100s", "maximumAttempts": 3},
        "attempt": 1,
        "priority": {"priorityKey": 2},
        "header": {"fields": {"h1": "v1"}},
        "userMetadata": {"summary": "sum", "details": "det"},
        "startDelay": "0s",
        "searchAttributes": {"indexedFields": {"ActKeyword": typed(SA_KEYWORD, "kk")}},
    }

    await wait_listed(client, f"TaskQueue = '{tq}'", 1)
    lines = (await cli.out("list", "-q", f"TaskQueue = '{tq}'")).splitlines()
    assert lines[0].split() == ["Status", "ActivityId", "Type", "StartTime"]
    assert lines[1].split()[:3] == ["Running", aid, "CliType"] and len(lines) == 2
    [listed] = await cli.json("list", "-q", f"TaskQueue = '{tq}'")
    assert (listed["activityId"], listed["runId"], listed["status"], listed["taskQueue"]) == (
        aid, run_id, "ACTIVITY_EXECUTION_STATUS_RUNNING", tq,
    )
    assert set(listed["searchAttributes"]["indexedFields"]) == {"ActKeyword", "TemporalNamespaceDivision"}
    assert await cli.out("count", "-q", f"TaskQueue = '{tq}'") == "Total: 1\n"
    assert await cli.json("count", "-q", f"TaskQueue = '{tq}'") == {"count": "1"}
    grouped = f"TaskQueue = '{tq}' GROUP BY ExecutionStatus"
    assert await cli.out("count", "-q", grouped) == "Total: 1\nGroup total: 1, values: Running\n"
    assert await cli.json("count", "-q", grouped) == {"count": "1", "groups": [{"groupValues": ["Running"], "count": "1"}]}
    assert await cli.error("list", "-q", "NoSuchAttr = 1") == "Error: failed listing activities: invalid query: invalid search attribute: NoSuchAttr"
    assert await cli.error("count", "-q", "NoSuchAttr = 1") == "Error: failed counting activities: invalid query: invalid search attribute: NoSuchAttr"

    # Complete by id (RespondActivityTaskCompletedById without a workflow id): a scheduled
    # activity completes.
    assert await cli.out("complete", "-a", aid, "--result", '{"ok": 1}') == ""
    assert await cli.out("result", "-a", aid) == 'Results:\n  Status  COMPLETED\n  Result  {"ok":1}\n'
    assert await cli.json("result", "-a", aid) == {"activityId": aid, "runId": "", "status": "COMPLETED", "result": {"ok": 1}}
    d = await describe(client, aid)
    assert (d.info.status, d.info.last_worker_identity) == (ST.COMPLETED, cli_identity())
    kv = kv_lines(await cli.out("describe", "-a", aid))
    assert (kv["Status"], kv["LastWorkerIdentity"]) == ("Completed", cli_identity())
    assert "RunState" not in kv and "CloseTime" in kv

    # Unknown ids.
    for args, message in [
        (("describe", "-a", "sa-nope"), "Error: failed describing activity: activity not found for ID: sa-nope"),
        (("result", "-a", "sa-nope"), "Error: activity not found: sa-nope"),
        (("cancel", "-a", "sa-nope"), "Error: failed to request activity cancellation: activity not found for ID: sa-nope"),
        (("terminate", "-a", "sa-nope"), "Error: failed to terminate activity: activity not found for ID: sa-nope"),
        (("complete", "-a", "sa-nope", "--result", "1"), "Error: unable to complete Activity: activity not found for ID: sa-nope"),
        (("fail", "-a", "sa-nope"), "Error: unable to fail Activity: activity not found for ID: sa-nope"),
    ]:
        assert await cli.error(*args) == message, args


async def test_cli_execute_fail_cancel_terminate_delete(cli: Cli, client: Client):
    tq = unique("sa-cli-run")
    async with worker(client, tq):
        aid = unique("sa-cli-x")
        out = await cli.out("execute", "-a", aid, "--type", "SAEcho", "-t", tq, "--start-to-close-timeout", "5s", "-i", '"bob"', "-i", "3")
        run_id = (await describe(client, aid)).run_id
        assert out == (
            f"Running execution:\n  ActivityId  {aid}\n  RunId       {run_id}\n  Namespace   {NS}\n"
            'Results:\n  Status  COMPLETED\n  Result  {"args":["bob",3],"attempt":1}\n'
        )
        aid = unique("sa-cli-x")
        doc = await cli.json("execute", "-a", aid, "--type", "SAEcho", "-t", tq, "--start-to-close-timeout", "5s", "-i", '"bob"')
        assert doc == {"activityId": aid, "runId": (await describe(client, aid)).run_id, "status": "COMPLETED",
                       "result": {"args": ["bob"], "attempt": 1}}

        # A failing activity: exit status 1, the failure printed.
        aid = unique("sa-cli-f")
        proc = await cli.run("execute", "-a", aid, "--type", "SAFlaky", "-t", tq, "--start-to-close-timeout", "5s",
                             "-i", "5", "-i", "true", "-o", "json", expect_ok=False)
        assert proc.stderr.strip() == "Error: activity failed"
        doc = json.loads(proc.stdout)
        failure = doc.pop("failure")
        assert doc == {"activityId": aid, "runId": (await describe(client, aid)).run_id, "status": "FAILED"}
        assert (failure["message"], failure["applicationFailureInfo"]["type"], failure["applicationFailureInfo"]["nonRetryable"]) == (
            "attempt 1 failed", "SAFlake", True,
        )

        # fail by id on a started (async) activity.
        aid = unique("sa-cli-af")
        await cli.out("start", "-a", aid, "--type", "SAAsync", "-t", tq, "--start-to-close-timeout", "30s")
        await wait_seen(aid)
        assert await cli.out("fail", "-a", aid, "--reason", "bad thing", "--detail", '{"d": 1}') == ""
        proc = await cli.run("result", "-a", aid, expect_ok=False)
        assert proc.stderr.strip() == "Error: activity failed"
        assert proc.stdout.startswith("Results:\n  Status   FAILED\n  Failure  \n")
        assert "Message: bad thing" in proc.stdout
        d = await describe(client, aid, include_outcome=True)
        assert as_dict(d.outcome) == {
            "failure": {"message": "bad thing", "source": "CLI", "applicationFailureInfo": {
                # The --detail text as given.
                "nonRetryable": True, "details": {"payloads": [{"metadata": {"encoding": b64(b"json/plain")}, "data": b64(b'{"d": 1}')}]},
            }},
            "retryState": "RETRY_STATE_NON_RETRYABLE_FAILURE",
        }
        assert d.info.last_worker_identity == cli_identity()
        # fail by id on a scheduled one: not found (it needs a started attempt).
        aid = unique("sa-cli-sf")
        await cli.out("start", "-a", aid, "--type", "SAType", "-t", unique("sa-none"), "--start-to-close-timeout", "30s")
        assert await cli.error("fail", "-a", aid, "--reason", "x") == f"Error: unable to fail Activity: activity not found for ID: {aid}"

    # cancel (scheduled: canceled at once), terminate, delete.
    nowhere = unique("sa-none")
    aid = unique("sa-cli-c")
    await cli.out("start", "-a", aid, "--type", "SAType", "-t", nowhere, "--start-to-close-timeout", "30s")
    assert await cli.out("cancel", "-a", aid, "--reason", "stop") == "Cancellation requested\n"
    proc = await cli.run("result", "-a", aid, expect_ok=False)
    assert proc.stdout == "Results:\n  Status   FAILED\n  Failure  \n    Message: Activity canceled\n"
    assert proc.stderr.strip() == "Error: activity failed"
    doc = json.loads((await cli.run("result", "-a", aid, "-o", "json", expect_ok=False)).stdout)
    assert doc == {"activityId": aid, "runId": "", "status": "FAILED", "failure": {
        "message": "Activity canceled", "canceledFailureInfo": {"details": ["stop"], "identity": cli_identity()},
    }}
    kv = kv_lines(await cli.out("describe", "-a", aid))
    # The text form does not show the canceled reason.
    assert kv["Status"] == "Canceled" and "CanceledReason" not in kv and "RunState" not in kv

    aid = unique("sa-cli-t")
    await cli.out("start", "-a", aid, "--type", "SAType", "-t", nowhere, "--start-to-close-timeout", "30s")
    assert await cli.out("terminate", "-a", aid) == "Activity terminated\n"
    doc = json.loads((await cli.run("result", "-a", aid, "-o", "json", expect_ok=False)).stdout)
    assert doc == {"activityId": aid, "runId": "", "status": "FAILED", "failure": {
        "message": f"Requested from CLI by {cli_user()}", "terminatedFailureInfo": {"identity": cli_identity()},
    }}
    err = await cli.error("terminate", "-a", aid, "--reason", "again")
    assert err.startswith("Error: failed to terminate activity: already terminated with request ID "), err

    aid = unique("sa-cli-d")
    await cli.out("start", "-a", aid, "--type", "SAType", "-t", nowhere, "--start-to-close-timeout", "30s")
    out = await cli.out("delete", "-a", aid, "--yes")
    assert out == f'Delete Standalone Activity "{aid}"? y/N yes\nDelete activity succeeded\n', out
    await wait_deleted(client, aid)
    assert await cli.error("describe", "-a", aid) == f"Error: failed describing activity: activity not found for ID: {aid}"
    assert await cli.error("delete", "-a", "sa-nope", "--yes") == "Error: failed to delete standalone activity: activity not found for ID: sa-nope"


# ---------------------------------------------------------------- durability (Endure only)


@needs_endure
async def test_activity_survives_kill9_and_completes_after(tmp_path, task_queue):
    server = await asyncio.to_thread(start_server, tmp_path, "sa-durable")
    try:
        client = await Client.connect(server.address)
        handle = await client.start_activity(
            sa_echo, args=["durable", 1], id=unique("sa-dur"), task_queue=task_queue,
            start_to_close_timeout=timedelta(seconds=10), summary="survives",
        )
        before = await describe(client, handle.id, include_input=True)
        await asyncio.to_thread(server.kill9)
        await asyncio.to_thread(server.start)
        client = await Client.connect(server.address)
        after = await client.workflow_service.describe_activity_execution(
            DescribeActivityExecutionRequest(namespace=NS, activity_id=handle.id, include_input=True), retry=True,
        )
        assert as_dict(after.info) == as_dict(before.info)
        assert values(after.input) == ["durable", 1]
        # A worker that connects now runs it; the poll returns the result.
        async with worker(client, task_queue):
            polled = await poll_outcome(client, handle.id)
            assert polled.run_id == handle.run_id
            assert values(polled.outcome.result) == [{"args": ["durable", 1], "attempt": 1}]
        d = await describe(client, handle.id)
        assert (d.info.status, d.info.attempt, d.info.last_worker_identity) == (ST.COMPLETED, 1, WORKER_IDENTITY)
    finally:
        await asyncio.to_thread(server.stop)


@needs_endure
async def test_heartbeat_details_survive_kill9(tmp_path, task_queue):
    server = await asyncio.to_thread(start_server, tmp_path, "sa-durable-hb")
    try:
        client = await Client.connect(server.address)
        req, resp = await start_raw(
            client, task_queue=TaskQueue(name=task_queue), activity_type=ActivityType(name="SAFlaky"),
            input=payloads(0), heartbeat_timeout=dur(30), retry_policy=RetryPolicy(initial_interval=dur(0.2)),
        )
        task = await poll_task(client, task_queue, identity="before-kill")
        await client.workflow_service.record_activity_task_heartbeat(RecordActivityTaskHeartbeatRequest(
            namespace=NS, task_token=task.task_token, details=payloads("kept", 42),
        ))
        await asyncio.to_thread(server.kill9)
        await asyncio.to_thread(server.start)
        client = await Client.connect(server.address)
        d = await client.workflow_service.describe_activity_execution(
            DescribeActivityExecutionRequest(namespace=NS, activity_id=req.activity_id, include_heartbeat_details=True), retry=True,
        )
        assert (d.info.status, d.info.run_state, d.info.attempt) == (ST.RUNNING, RS.STARTED, 1)
        assert values(d.info.heartbeat_details) == ["kept", 42]
        assert d.info.total_heartbeat_count == 1 and d.info.last_worker_identity == "before-kill"
        # The token still works; failing the attempt hands the details to the next one.
        await client.workflow_service.respond_activity_task_failed(RespondActivityTaskFailedRequest(
            namespace=NS, task_token=task.task_token,
            failure=Failure(message="after restart", application_failure_info=ApplicationFailureInfo(type="X")),
        ))
        async with worker(client, task_queue):
            assert await client.get_activity_handle(req.activity_id).result() == 2
        assert SEEN[req.activity_id][-1]["heartbeat_details"] == ["kept", 42]
    finally:
        await asyncio.to_thread(server.stop)


@needs_endure
async def test_retry_timer_survives_kill9(tmp_path, task_queue):
    server = await asyncio.to_thread(start_server, tmp_path, "sa-durable-retry")
    try:
        client = await Client.connect(server.address)
        req, resp = await start_raw(
            client, task_queue=TaskQueue(name=task_queue), activity_type=ActivityType(name="SAEcho"),
            input=payloads("retried"), retry_policy=RetryPolicy(initial_interval=dur(3)),
        )
        task = await poll_task(client, task_queue)
        await client.workflow_service.respond_activity_task_failed(RespondActivityTaskFailedRequest(
            namespace=NS, task_token=task.task_token,
            failure=Failure(message="first", application_failure_info=ApplicationFailureInfo(type="X")),
        ))
        waiting = await describe(client, req.activity_id)
        due = at(waiting.info.next_attempt_schedule_time)
        assert waiting.info.run_state == RS.SCHEDULED and waiting.info.attempt == 2
        await asyncio.to_thread(server.kill9)
        await asyncio.sleep(1)
        await asyncio.to_thread(server.start)
        client = await Client.connect(server.address)
        d = await client.workflow_service.describe_activity_execution(
            DescribeActivityExecutionRequest(namespace=NS, activity_id=req.activity_id), retry=True,
        )
        assert as_dict(d.info) == as_dict(waiting.info)
        # The timer fires after the restart: attempt 2 runs, not before it was due.
        async with worker(client, task_queue):
            assert await client.get_activity_handle(req.activity_id).result() == {"args": ["retried"], "attempt": 2}
        [attempt2] = SEEN[req.activity_id]
        assert attempt2["attempt"] == 2
        assert attempt2["current_attempt_scheduled_time"] >= due
        assert attempt2["at"] >= due.timestamp() - 0.05
    finally:
        await asyncio.to_thread(server.stop)
