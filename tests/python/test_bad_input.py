"""Bad input: the server answers with the status and error details the real
Temporal server gives, keeps serving, and changes no stored state.

Everything goes through the raw gRPC service client
(``client.workflow_service.<rpc>(Request(...))``) so the test sees exactly what
the server answers: the status code, the ``grpc-status-details-bin`` detail
type URLs and the message.

Messages: only substrings that both the real server and Endure produce are
asserted (the wording differs in places; the status and the details are what
SDKs act on).

Observed on the real dev server (Temporal 1.32):

* unknown namespace -> NOT_FOUND ``Namespace <ns> is not found.`` +
  ``NamespaceNotFoundFailure{namespace}``;
* unknown workflow id -> NOT_FOUND ``workflow not found for ID: <id>`` +
  ``NotFoundFailure``; unknown run id -> NOT_FOUND ``workflow execution not
  found for workflow ID "<id>" and run ID "<run>"`` + ``NotFoundFailure``;
  a run id that is not a UUID -> INVALID_ARGUMENT ``Invalid RunId.``;
* garbage task token -> INVALID_ARGUMENT ``Error deserializing task token.``;
  empty token -> INVALID_ARGUMENT ``Task token not set on request.``;
* payload over 2 MiB (start input, signal input) -> INVALID_ARGUMENT
  ``Blob data size exceeds limit.``;
* 1001-character workflow id -> INVALID_ARGUMENT ``WorkflowId exceeds maximum
  allowed length (1001/1000)``; 1000 characters is accepted;
* retry policy with maximum_attempts=-1 / backoff_coefficient=0.5 ->
  INVALID_ARGUMENT ``MaximumAttempts cannot be negative on retry policy.`` /
  ``BackoffCoefficient cannot be less than 1 on retry policy.``;
* duplicate start (other request id) -> ALREADY_EXISTS ``Workflow execution is
  already running. WorkflowId: <id>, RunId: <run>.`` +
  ``WorkflowExecutionAlreadyStartedFailure{start_request_id, run_id,
  first_execution_run_id}``; same request id -> OK, same run id.

INVALID_ARGUMENT answers carry no error details at all on the real server.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.command.v1 import Command, ScheduleActivityTaskCommandAttributes
from temporalio.api.common.v1 import (
    ActivityType,
    Payload,
    Payloads,
    RetryPolicy,
    WorkflowExecution,
    WorkflowType,
)
from temporalio.api.enums.v1 import CommandType, EventType, WorkflowExecutionStatus
from temporalio.api.errordetails.v1 import (
    NamespaceNotFoundFailure,
    WorkflowExecutionAlreadyStartedFailure,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeWorkflowExecutionRequest,
    GetSystemInfoRequest,
    GetWorkflowExecutionHistoryRequest,
    PollActivityTaskQueueRequest,
    PollWorkflowTaskQueueRequest,
    RespondActivityTaskCompletedRequest,
    RespondWorkflowTaskCompletedRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
    TerminateWorkflowExecutionRequest,
)
from temporalio.service import RPCError, RPCStatusCode

from conftest import EXTRA_NAMESPACE, unique

NS = "default"
UNKNOWN_NS = "endure-no-such-namespace"
# Every raw call gets a deadline so a server that hangs (e.g. long-polls an
# unknown namespace) fails the test instead of stalling it.
RPC_TIMEOUT = timedelta(seconds=15)
IDENTITY = "bad-input-test"

TYPE_PREFIX = "type.googleapis.com/temporal.api.errordetails.v1."
NAMESPACE_NOT_FOUND = TYPE_PREFIX + "NamespaceNotFoundFailure"
NOT_FOUND = TYPE_PREFIX + "NotFoundFailure"
ALREADY_STARTED = TYPE_PREFIX + "WorkflowExecutionAlreadyStartedFailure"

# Default blob size error limit of the real server is 2 MiB.
OVERSIZED = Payloads(
    payloads=[
        Payload(
            metadata={"encoding": b"binary/plain"},
            data=b"x" * (2 * 1024 * 1024 + 1024),
        )
    ]
)


# --------------------------------------------------------------------------
# helpers


async def expect_error(call) -> RPCError:
    """Await a raw RPC that must fail and return its RPCError."""
    try:
        resp = await call
    except RPCError as e:
        return e
    pytest.fail(f"expected an RPC error, the call succeeded with: {resp}")


def detail_types(err: RPCError) -> list[str]:
    return [d.type_url for d in err.grpc_status.details]


def assert_error(
    err: RPCError,
    status: RPCStatusCode,
    details: list[str],
    *substrings: str,
) -> None:
    got = (err.status.name, detail_types(err), err.message)
    assert err.status == status, f"expected {status.name} {details}, got {got}"
    assert detail_types(err) == details, f"expected {status.name} {details}, got {got}"
    for s in substrings:
        assert s in err.message, f"{s!r} not in message {err.message!r}"


def start_request(
    workflow_id: str | None = None,
    request_id: str | None = None,
    namespace: str = NS,
    task_queue: str | None = None,
    **kw,
) -> StartWorkflowExecutionRequest:
    return StartWorkflowExecutionRequest(
        namespace=namespace,
        workflow_id=workflow_id or unique("bad-input"),
        workflow_type=WorkflowType(name="BadInputWorkflow"),
        # Nobody polls these queues unless a test does so itself: histories
        # stay exactly as the test left them.
        task_queue=TaskQueue(name=task_queue or unique("tq-idle")),
        request_id=request_id or str(uuid.uuid4()),
        identity=IDENTITY,
        **kw,
    )


async def history_events(client, workflow_id: str, run_id: str = ""):
    resp = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=NS,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        ),
        timeout=RPC_TIMEOUT,
    )
    return list(resp.history.events)


async def event_types(client, workflow_id: str, run_id: str = "") -> list[str]:
    return [
        EventType.Name(e.event_type)
        for e in await history_events(client, workflow_id, run_id)
    ]


async def describe(client, workflow_id: str, run_id: str = "", namespace: str = NS):
    return await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=namespace,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        ),
        timeout=RPC_TIMEOUT,
    )


async def assert_not_stored(client, workflow_id: str, namespace: str = NS) -> None:
    """A rejected start must not have created the workflow."""
    err = await expect_error(describe(client, workflow_id, namespace=namespace))
    assert_error(err, RPCStatusCode.NOT_FOUND, [NOT_FOUND], "not found")


async def assert_still_serving(client) -> None:
    """GetSystemInfo answers and a good start works (and is stored)."""
    info = await client.workflow_service.get_system_info(
        GetSystemInfoRequest(), timeout=RPC_TIMEOUT
    )
    assert info.capabilities.signal_and_query_header
    wf_id = unique("still-serving")
    started = await client.workflow_service.start_workflow_execution(
        start_request(wf_id), timeout=RPC_TIMEOUT
    )
    assert started.run_id
    desc = await describe(client, wf_id)
    assert desc.workflow_execution_info.execution.run_id == started.run_id
    assert (
        desc.workflow_execution_info.status
        == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    )


async def start_idle_workflow(client) -> tuple[str, str, list[str]]:
    """A running workflow nobody works on: (workflow id, run id, event types)."""
    wf_id = unique("existing")
    resp = await client.workflow_service.start_workflow_execution(
        start_request(wf_id), timeout=RPC_TIMEOUT
    )
    types = await event_types(client, wf_id)
    assert types == [
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
        "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
    ]
    return wf_id, resp.run_id, types


async def assert_unchanged(client, wf_id: str, run_id: str, before: list[str]) -> None:
    after = await event_types(client, wf_id, run_id)
    assert after == before, f"history of {wf_id} changed: {before} -> {after}"
    desc = await describe(client, wf_id, run_id)
    assert (
        desc.workflow_execution_info.status
        == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    )


# --------------------------------------------------------------------------
# unknown namespace


async def test_start_in_unknown_namespace(client):
    wf_id = unique("unknown-ns")
    err = await expect_error(
        client.workflow_service.start_workflow_execution(
            start_request(wf_id, namespace=UNKNOWN_NS), timeout=RPC_TIMEOUT
        )
    )
    assert_error(
        err,
        RPCStatusCode.NOT_FOUND,
        [NAMESPACE_NOT_FOUND],
        f"Namespace {UNKNOWN_NS} is not found.",
    )
    detail = NamespaceNotFoundFailure()
    assert err.grpc_status.details[0].Unpack(detail)
    assert detail.namespace == UNKNOWN_NS
    # Not created anywhere else either.
    await assert_not_stored(client, wf_id, NS)
    await assert_not_stored(client, wf_id, EXTRA_NAMESPACE)
    await assert_still_serving(client)


async def test_describe_unknown_namespace(client):
    err = await expect_error(
        client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=UNKNOWN_NS), timeout=RPC_TIMEOUT
        )
    )
    assert_error(
        err,
        RPCStatusCode.NOT_FOUND,
        [NAMESPACE_NOT_FOUND],
        f"Namespace {UNKNOWN_NS} is not found.",
    )
    detail = NamespaceNotFoundFailure()
    assert err.grpc_status.details[0].Unpack(detail)
    assert detail.namespace == UNKNOWN_NS
    # The namespace was not created as a side effect.
    again = await expect_error(
        client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=UNKNOWN_NS), timeout=RPC_TIMEOUT
        )
    )
    assert again.status == RPCStatusCode.NOT_FOUND
    await assert_still_serving(client)


async def test_poll_workflow_task_queue_unknown_namespace(client):
    # Must answer at once, not long-poll (the deadline would turn a hang into
    # DEADLINE_EXCEEDED).
    err = await expect_error(
        client.workflow_service.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace=UNKNOWN_NS,
                task_queue=TaskQueue(name=unique("tq")),
                identity=IDENTITY,
            ),
            timeout=RPC_TIMEOUT,
        )
    )
    assert_error(
        err,
        RPCStatusCode.NOT_FOUND,
        [NAMESPACE_NOT_FOUND],
        f"Namespace {UNKNOWN_NS} is not found.",
    )
    detail = NamespaceNotFoundFailure()
    assert err.grpc_status.details[0].Unpack(detail)
    assert detail.namespace == UNKNOWN_NS
    await assert_still_serving(client)


# --------------------------------------------------------------------------
# unknown workflow id / run id

EXECUTION_RPCS = ["describe", "signal", "terminate", "history"]


def execution_call(client, rpc: str, execution: WorkflowExecution):
    svc = client.workflow_service
    if rpc == "describe":
        return svc.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(namespace=NS, execution=execution),
            timeout=RPC_TIMEOUT,
        )
    if rpc == "signal":
        return svc.signal_workflow_execution(
            SignalWorkflowExecutionRequest(
                namespace=NS,
                workflow_execution=execution,
                signal_name="poke",
                identity=IDENTITY,
                request_id=str(uuid.uuid4()),
            ),
            timeout=RPC_TIMEOUT,
        )
    if rpc == "terminate":
        return svc.terminate_workflow_execution(
            TerminateWorkflowExecutionRequest(
                namespace=NS,
                workflow_execution=execution,
                reason="bad input test",
                identity=IDENTITY,
            ),
            timeout=RPC_TIMEOUT,
        )
    if rpc == "history":
        return svc.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(namespace=NS, execution=execution),
            timeout=RPC_TIMEOUT,
        )
    raise AssertionError(rpc)


@pytest.mark.parametrize("rpc", EXECUTION_RPCS)
async def test_unknown_workflow_id(client, rpc):
    wf_id = unique("no-such-workflow")
    err = await expect_error(
        execution_call(client, rpc, WorkflowExecution(workflow_id=wf_id))
    )
    # Real server: "workflow not found for ID: <id>".
    assert_error(err, RPCStatusCode.NOT_FOUND, [NOT_FOUND], "not found", wf_id)
    # Signal/terminate did not create anything.
    await assert_not_stored(client, wf_id)
    await assert_still_serving(client)


@pytest.mark.parametrize("rpc", EXECUTION_RPCS)
async def test_unknown_run_id(client, rpc):
    wf_id, _run_id, before = await start_idle_workflow(client)
    other_run = str(uuid.uuid4())
    err = await expect_error(
        execution_call(
            client, rpc, WorkflowExecution(workflow_id=wf_id, run_id=other_run)
        )
    )
    assert_error(
        err,
        RPCStatusCode.NOT_FOUND,
        [NOT_FOUND],
        f'workflow execution not found for workflow ID "{wf_id}" and run ID '
        f'"{other_run}"',
    )
    # The run that does exist was neither signalled nor terminated.
    await assert_unchanged(client, wf_id, "", before)
    await assert_still_serving(client)


@pytest.mark.parametrize("rpc", EXECUTION_RPCS)
async def test_run_id_not_a_uuid(client, rpc):
    wf_id, _run_id, before = await start_idle_workflow(client)
    err = await expect_error(
        execution_call(
            client, rpc, WorkflowExecution(workflow_id=wf_id, run_id="not-a-uuid")
        )
    )
    assert_error(err, RPCStatusCode.INVALID_ARGUMENT, [], "Invalid RunId.")
    await assert_unchanged(client, wf_id, "", before)
    await assert_still_serving(client)


# --------------------------------------------------------------------------
# malformed task tokens


async def _workflow_with_started_task(client):
    """Start a workflow and poll its first workflow task by hand (acting as
    the worker): returns (workflow id, task queue, workflow task token)."""
    tq = unique("tq-raw")
    wf_id = unique("raw-worker")
    svc = client.workflow_service
    await svc.start_workflow_execution(
        start_request(wf_id, task_queue=tq), timeout=RPC_TIMEOUT
    )
    wft = await svc.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(
            namespace=NS, task_queue=TaskQueue(name=tq), identity=IDENTITY
        ),
        timeout=timedelta(seconds=30),
    )
    assert wft.task_token and wft.workflow_execution.workflow_id == wf_id
    return wf_id, tq, wft.task_token


async def test_respond_workflow_task_completed_garbage_token(client):
    wf_id, _tq, token = await _workflow_with_started_task(client)
    before = await event_types(client, wf_id)
    assert before[-1] == "EVENT_TYPE_WORKFLOW_TASK_STARTED"

    for bad, text in [
        (b"garbage", "Error deserializing task token."),
        (b"", "Task token not set on request."),
    ]:
        err = await expect_error(
            client.workflow_service.respond_workflow_task_completed(
                RespondWorkflowTaskCompletedRequest(
                    namespace=NS, task_token=bad, identity=IDENTITY
                ),
                timeout=RPC_TIMEOUT,
            )
        )
        assert_error(err, RPCStatusCode.INVALID_ARGUMENT, [], text)
        assert await event_types(client, wf_id) == before

    # The real token still works afterwards.
    await client.workflow_service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace=NS, task_token=token, identity=IDENTITY
        ),
        timeout=RPC_TIMEOUT,
    )
    after = await event_types(client, wf_id)
    assert after == before + ["EVENT_TYPE_WORKFLOW_TASK_COMPLETED"]
    await assert_still_serving(client)


async def test_respond_activity_task_completed_garbage_token(client):
    wf_id, tq, token = await _workflow_with_started_task(client)
    svc = client.workflow_service
    await svc.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace=NS,
            task_token=token,
            identity=IDENTITY,
            commands=[
                Command(
                    command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
                    schedule_activity_task_command_attributes=(
                        ScheduleActivityTaskCommandAttributes(
                            activity_id="act-1",
                            activity_type=ActivityType(name="BadInputActivity"),
                            task_queue=TaskQueue(name=tq),
                            start_to_close_timeout=Duration(seconds=60),
                        )
                    ),
                )
            ],
        ),
        timeout=RPC_TIMEOUT,
    )
    act = await svc.poll_activity_task_queue(
        PollActivityTaskQueueRequest(
            namespace=NS, task_queue=TaskQueue(name=tq), identity=IDENTITY
        ),
        timeout=timedelta(seconds=30),
    )
    assert act.task_token and act.activity_id == "act-1"
    before = await event_types(client, wf_id)
    assert before[-1] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"

    for bad, text in [
        (b"garbage", "Error deserializing task token."),
        (b"", "Task token not set on request."),
    ]:
        err = await expect_error(
            svc.respond_activity_task_completed(
                RespondActivityTaskCompletedRequest(
                    namespace=NS, task_token=bad, identity=IDENTITY
                ),
                timeout=RPC_TIMEOUT,
            )
        )
        assert_error(err, RPCStatusCode.INVALID_ARGUMENT, [], text)
        assert await event_types(client, wf_id) == before

    # The real token still completes the activity.
    await svc.respond_activity_task_completed(
        RespondActivityTaskCompletedRequest(
            namespace=NS, task_token=act.task_token, identity=IDENTITY
        ),
        timeout=RPC_TIMEOUT,
    )
    after = await event_types(client, wf_id)
    assert after[: len(before)] == before
    assert after[len(before) :] == [
        "EVENT_TYPE_ACTIVITY_TASK_STARTED",
        "EVENT_TYPE_ACTIVITY_TASK_COMPLETED",
        "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
    ]
    await assert_still_serving(client)


# --------------------------------------------------------------------------
# oversized payloads


async def test_start_with_payload_over_2mb(client):
    wf_id = unique("big-start")
    err = await expect_error(
        client.workflow_service.start_workflow_execution(
            start_request(wf_id, input=OVERSIZED), timeout=RPC_TIMEOUT
        )
    )
    assert_error(
        err, RPCStatusCode.INVALID_ARGUMENT, [], "Blob data size exceeds limit."
    )
    await assert_not_stored(client, wf_id)
    await assert_still_serving(client)


async def test_signal_with_payload_over_2mb(client):
    wf_id, run_id, before = await start_idle_workflow(client)
    err = await expect_error(
        client.workflow_service.signal_workflow_execution(
            SignalWorkflowExecutionRequest(
                namespace=NS,
                workflow_execution=WorkflowExecution(workflow_id=wf_id),
                signal_name="big",
                input=OVERSIZED,
                identity=IDENTITY,
                request_id=str(uuid.uuid4()),
            ),
            timeout=RPC_TIMEOUT,
        )
    )
    assert_error(
        err, RPCStatusCode.INVALID_ARGUMENT, [], "Blob data size exceeds limit."
    )
    await assert_unchanged(client, wf_id, run_id, before)
    await assert_still_serving(client)


# --------------------------------------------------------------------------
# workflow id length


async def test_workflow_id_of_1001_characters_rejected(client):
    wf_id = "w" * 1001
    err = await expect_error(
        client.workflow_service.start_workflow_execution(
            start_request(wf_id), timeout=RPC_TIMEOUT
        )
    )
    # Real: "WorkflowId exceeds maximum allowed length (1001/1000)".
    assert_error(err, RPCStatusCode.INVALID_ARGUMENT, [], "WorkflowId exceeds")
    # Not stored under the first 1000 characters either.
    await assert_not_stored(client, wf_id[:1000])
    await assert_still_serving(client)


async def test_workflow_id_of_1000_characters_accepted(client):
    wf_id = ("k" + uuid.uuid4().hex) * 40
    wf_id = wf_id[:1000]
    assert len(wf_id) == 1000
    resp = await client.workflow_service.start_workflow_execution(
        start_request(wf_id), timeout=RPC_TIMEOUT
    )
    desc = await describe(client, wf_id)
    assert desc.workflow_execution_info.execution.workflow_id == wf_id
    assert desc.workflow_execution_info.execution.run_id == resp.run_id


# --------------------------------------------------------------------------
# invalid retry policy


@pytest.mark.parametrize(
    "policy,text",
    [
        (
            RetryPolicy(maximum_attempts=-1),
            "MaximumAttempts cannot be negative on retry policy.",
        ),
        (
            RetryPolicy(backoff_coefficient=0.5),
            "BackoffCoefficient cannot be less than 1 on retry policy.",
        ),
    ],
    ids=["maximum_attempts=-1", "backoff_coefficient=0.5"],
)
async def test_invalid_retry_policy(client, policy, text):
    wf_id = unique("bad-retry")
    err = await expect_error(
        client.workflow_service.start_workflow_execution(
            start_request(wf_id, retry_policy=policy), timeout=RPC_TIMEOUT
        )
    )
    assert_error(err, RPCStatusCode.INVALID_ARGUMENT, [], text)
    await assert_not_stored(client, wf_id)
    await assert_still_serving(client)


# --------------------------------------------------------------------------
# duplicate start


async def test_duplicate_start(client):
    wf_id = unique("dup")
    first_request = str(uuid.uuid4())
    first = await client.workflow_service.start_workflow_execution(
        start_request(wf_id, first_request), timeout=RPC_TIMEOUT
    )
    assert first.run_id and first.started
    before = await event_types(client, wf_id)

    # Same workflow id, other request id, while running: ALREADY_EXISTS.
    err = await expect_error(
        client.workflow_service.start_workflow_execution(
            start_request(wf_id, str(uuid.uuid4())), timeout=RPC_TIMEOUT
        )
    )
    assert_error(
        err,
        RPCStatusCode.ALREADY_EXISTS,
        [ALREADY_STARTED],
        "Workflow execution is already running.",
        f"WorkflowId: {wf_id}, RunId: {first.run_id}.",
    )
    detail = WorkflowExecutionAlreadyStartedFailure()
    assert err.grpc_status.details[0].Unpack(detail)
    assert detail.run_id == first.run_id
    assert detail.start_request_id == first_request
    await assert_unchanged(client, wf_id, first.run_id, before)

    # Same request id again: an idempotent retry, OK with the same run.
    again = await client.workflow_service.start_workflow_execution(
        start_request(wf_id, first_request), timeout=RPC_TIMEOUT
    )
    assert again.run_id == first.run_id
    await assert_unchanged(client, wf_id, first.run_id, before)
    await assert_still_serving(client)


async def test_duplicate_start_reports_first_execution_run_id(client):
    """The real server also fills ``first_execution_run_id`` (= the run id of
    the first run of the chain, here the running one)."""
    wf_id = unique("dup-first")
    first = await client.workflow_service.start_workflow_execution(
        start_request(wf_id), timeout=RPC_TIMEOUT
    )
    err = await expect_error(
        client.workflow_service.start_workflow_execution(
            start_request(wf_id), timeout=RPC_TIMEOUT
        )
    )
    assert err.status == RPCStatusCode.ALREADY_EXISTS
    detail = WorkflowExecutionAlreadyStartedFailure()
    assert err.grpc_status.details[0].Unpack(detail)
    assert detail.first_execution_run_id == first.run_id
