"""Update-with-Start (WorkflowService.ExecuteMultiOperation [Start, Update]):
through the SDK (``execute_update_with_start_workflow``,
``start_update_with_start_workflow`` and ``WithStartWorkflowOperation``) and
raw (``client.workflow_service.execute_multi_operation``) for the exact
responses and error shapes.

What the real server (1.32) does, and these tests check:

* The operations must be exactly [StartWorkflow, UpdateWorkflow]: anything
  else is INVALID_ARGUMENT ``Operations have to be exactly [Start, Update].``
  with no details. An unknown request namespace is the plain NOT_FOUND
  ``Namespace <ns> is not found.`` + ``NamespaceNotFoundFailure``.
* Every other refusal is a status with the message ``Update-with-Start could
  not be executed.`` and one ``MultiOperationExecutionFailure`` detail with a
  status per operation: the operation at fault carries its own code, message
  and details (as if sent alone); the other one ABORTED ``Operation was
  aborted.`` + ``MultiOperationExecutionAborted``. Both operations are
  validated, so both can carry an error. The top-level code is the first
  non-aborted operation's code.
* Per-operation validation: cron schedule, start delay and eager execution
  are refused on the start; a run id, a first execution run id, a missing
  name and a workflow id other than the start's are refused on the update;
  an operation namespace other than the request's is refused on that
  operation. The conflict policy is NOT required (UNSPECIFIED behaves as
  FAIL); a missing update id is generated (a UUID); the ADMITTED wait stage
  is PERMISSION_DENIED.
* No workflow: the run is started (StartWorkflowExecutionResponse started,
  status RUNNING, a link to event 1) and the update arrives as a protocol
  message (``<update id>/request``, event_id 2) on the FIRST workflow task;
  history: Started, WFT Scheduled/Started/Completed, UpdateAccepted,
  UpdateCompleted. WorkflowExecutionUpdateAdmitted never appears. The start
  is durable even while the update waits for a worker.
* A running workflow: USE_EXISTING updates it (started=false);
  FAIL/UNSPECIFIED: ALREADY_EXISTS on the start (WorkflowExecutionAlreadyStartedFailure);
  TERMINATE_EXISTING terminates it (reason ``TerminateIfRunning
  WorkflowIdReusePolicy``, details ``terminated by new runID: <new run>``,
  identity ``history-service``) and the new run gets the update.
* A closed workflow: the reuse policy decides (refusal: ALREADY_EXISTS on the
  start operation, e.g. ``Workflow execution already finished. ...``).
* Attaching: an update id the current run already knows (running or closed,
  whatever the policies) answers that update's outcome, started=false, and
  changes nothing. A repeated start request id is the same start: the
  update goes to that run even under FAIL; after that run closed it is
  UNAVAILABLE ``Workflow was not started: StartDeduped``.
* A validator rejection: the run is started and stays running, the outcome
  is the failure, history has no update event, and the update id is not
  remembered.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio import workflow
from temporalio.api.common.v1 import Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import (
    EventType,
    UpdateWorkflowExecutionLifecycleStage,
    WorkflowExecutionStatus,
    WorkflowIdConflictPolicy,
    WorkflowIdReusePolicy,
)
from temporalio.api.errordetails.v1 import (
    MultiOperationExecutionFailure,
    NamespaceNotFoundFailure,
    WorkflowExecutionAlreadyStartedFailure,
)
from temporalio.api.failure.v1 import MultiOperationExecutionAborted
from temporalio.api.protocol.v1 import Message
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.update.v1 import (
    Acceptance,
    Input,
    Meta,
    Outcome,
    Request as UpdateRequest,
    Response as UpdateResponse,
    WaitPolicy,
)
from temporalio.api.workflowservice.v1 import (
    ExecuteMultiOperationRequest,
    ExecuteMultiOperationResponse,
    PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
    StartWorkflowExecutionRequest,
    UpdateWorkflowExecutionRequest,
)
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from conftest import new_worker, unique

NS = "default"
RESULT_TIMEOUT_S = 30
PC = DataConverter.default.payload_converter

COULD_NOT_EXECUTE = "Update-with-Start could not be executed."
ABORTED = "Operation was aborted."
NOT_START_AND_UPDATE = "Operations have to be exactly [Start, Update]."

STAGE = UpdateWorkflowExecutionLifecycleStage
ADMITTED = STAGE.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
ACCEPTED = STAGE.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
COMPLETED = STAGE.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED

CONFLICT = WorkflowIdConflictPolicy
REUSE = WorkflowIdReusePolicy
RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING

FRESH_HISTORY = [
    "WORKFLOW_EXECUTION_STARTED",
    "WORKFLOW_TASK_SCHEDULED",
    "WORKFLOW_TASK_STARTED",
    "WORKFLOW_TASK_COMPLETED",
    "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
    "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
]
UPDATE_ON_RUNNING = [
    "WORKFLOW_TASK_SCHEDULED",
    "WORKFLOW_TASK_STARTED",
    "WORKFLOW_TASK_COMPLETED",
    "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
    "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
]


@workflow.defn
class UwsCounter:
    def __init__(self) -> None:
        self.values: list[int] = []
        self.released = False
        self.finished = False

    @workflow.update
    async def add(self, value: int) -> int:
        self.values.append(value)
        return sum(self.values)

    @add.validator
    def validate_add(self, value: int) -> None:
        if value < 0:
            raise ValueError(f"negative value {value} rejected")

    @workflow.update
    async def gated(self, tag: str) -> str:
        await workflow.wait_condition(lambda: self.released)
        return f"{tag} released"

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.signal
    def finish(self) -> None:
        self.finished = True

    @workflow.run
    async def run(self) -> list[int]:
        await workflow.wait_condition(lambda: self.finished)
        return self.values


# --- helpers -----------------------------------------------------------------


def names(events) -> list[str]:
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events]


async def history(client, workflow_id: str, run_id: str | None = None):
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    return [e async for e in handle.fetch_history_events()]


async def wait_idle(client, workflow_id: str, run_id: str | None = None, timeout: float = 30):
    """Until the run's last event is a completed workflow task or a close
    event: nothing more happens until someone acts."""
    deadline = time.monotonic() + timeout
    got: list[str] = []
    while time.monotonic() < deadline:
        events = await history(client, workflow_id, run_id)
        got = names(events)
        if got and (
            got[-1] == "WORKFLOW_TASK_COMPLETED"
            or got[-1].startswith("WORKFLOW_EXECUTION_UPDATE_")
            or got[-1]
            in (
                "WORKFLOW_EXECUTION_COMPLETED",
                "WORKFLOW_EXECUTION_TERMINATED",
            )
        ):
            return events
        await asyncio.sleep(0.05)
    pytest.fail(f"workflow {workflow_id} did not reach a wait point: {got}")


async def start_idle(client, task_queue: str, workflow_id: str | None = None):
    """A UwsCounter run (started the ordinary way) sitting at its wait point."""
    handle = await client.start_workflow(
        UwsCounter.run, id=workflow_id or unique("uws"), task_queue=task_queue
    )
    await wait_idle(client, handle.id, handle.result_run_id)
    return handle


async def finish(client, workflow_id: str):
    handle = client.get_workflow_handle(workflow_id)
    await handle.signal(UwsCounter.finish)
    return await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)


def payload(value):
    return PC.to_payload(value)


def value_of(payloads: Payloads):
    [p] = payloads.payloads
    return PC.from_payload(p)


def start_op(
    workflow_id: str,
    task_queue: str,
    conflict=CONFLICT.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
    request_id: str | None = None,
    **kw,
) -> StartWorkflowExecutionRequest:
    return StartWorkflowExecutionRequest(
        namespace=kw.pop("namespace", NS),
        workflow_id=workflow_id,
        workflow_type=WorkflowType(name="UwsCounter"),
        task_queue=TaskQueue(name=task_queue),
        request_id=request_id or str(uuid.uuid4()),
        workflow_id_conflict_policy=conflict,
        identity="uws-test",
        **kw,
    )


def update_op(
    workflow_id: str,
    name: str = "add",
    arg=1,
    update_id: str | None = None,
    stage=COMPLETED,
    run_id: str = "",
    first_execution_run_id: str = "",
    namespace: str = NS,
) -> UpdateWorkflowExecutionRequest:
    return UpdateWorkflowExecutionRequest(
        namespace=namespace,
        workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        first_execution_run_id=first_execution_run_id,
        wait_policy=WaitPolicy(lifecycle_stage=stage),
        request=UpdateRequest(
            meta=Meta(
                update_id=str(uuid.uuid4()) if update_id is None else update_id,
                identity="uws-test",
            ),
            input=Input(name=name, args=Payloads(payloads=[payload(arg)])),
        ),
    )


def multi(*ops, namespace: str = NS) -> ExecuteMultiOperationRequest:
    req = ExecuteMultiOperationRequest(namespace=namespace)
    for op in ops:
        item = req.operations.add()
        if isinstance(op, StartWorkflowExecutionRequest):
            item.start_workflow.CopyFrom(op)
        else:
            item.update_workflow.CopyFrom(op)
    return req


async def execute(client, req, timeout: float = RESULT_TIMEOUT_S):
    """The raw RPC (no SDK retries): (start response, update response)."""
    resp: ExecuteMultiOperationResponse = await asyncio.wait_for(
        client.workflow_service.execute_multi_operation(req), timeout
    )
    assert len(resp.responses) == 2, resp
    assert resp.responses[0].WhichOneof("response") == "start_workflow"
    assert resp.responses[1].WhichOneof("response") == "update_workflow"
    return resp.responses[0].start_workflow, resp.responses[1].update_workflow


async def execute_error(client, req) -> RPCError:
    with pytest.raises(RPCError) as err:
        await asyncio.wait_for(
            client.workflow_service.execute_multi_operation(req), RESULT_TIMEOUT_S
        )
    return err.value


def op_statuses(err: RPCError) -> list[MultiOperationExecutionFailure.OperationStatus]:
    """The per-operation statuses of the MultiOperationExecutionFailure detail."""
    assert err.message == COULD_NOT_EXECUTE, err.message
    details = err.grpc_status.details
    assert [d.type_url for d in details] == [
        "type.googleapis.com/temporal.api.errordetails.v1.MultiOperationExecutionFailure"
    ], [d.type_url for d in details]
    failure = MultiOperationExecutionFailure()
    assert details[0].Unpack(failure)
    assert len(failure.statuses) == 2, failure
    return list(failure.statuses)


def assert_aborted(status) -> None:
    assert status.code == RPCStatusCode.ABORTED, status
    assert status.message == ABORTED
    assert [d.type_url for d in status.details] == [
        "type.googleapis.com/temporal.api.failure.v1.MultiOperationExecutionAborted"
    ]
    assert status.details[0].Unpack(MultiOperationExecutionAborted())


def assert_already_started(status, message: str, run_id: str) -> WorkflowExecutionAlreadyStartedFailure:
    assert status.code == RPCStatusCode.ALREADY_EXISTS, status
    assert status.message == message
    [detail] = status.details
    info = WorkflowExecutionAlreadyStartedFailure()
    assert detail.Unpack(info), detail.type_url
    assert info.run_id == run_id
    assert info.first_execution_run_id == run_id
    return info


async def assert_not_stored(client, workflow_id: str) -> None:
    with pytest.raises(RPCError) as err:
        await client.get_workflow_handle(workflow_id).describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND


def check_accepted_in_first_task(events, update_id: str, handler: str) -> None:
    """The update was delivered with the first workflow task (event 2)."""
    [acc] = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    attrs = acc.workflow_execution_update_accepted_event_attributes
    assert attrs.protocol_instance_id == update_id
    assert attrs.accepted_request_message_id == f"{update_id}/request"
    assert attrs.accepted_request_sequencing_event_id == 2
    assert attrs.accepted_request.meta.update_id == update_id
    assert attrs.accepted_request.input.name == handler
    [done] = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED]
    assert done.workflow_execution_update_completed_event_attributes.accepted_event_id == acc.event_id
    assert done.workflow_execution_update_completed_event_attributes.meta.update_id == update_id


# --- no workflow yet -----------------------------------------------------------


async def test_starts_workflow_and_runs_update_in_first_task(client, task_queue):
    wf_id = unique("uws-fresh")
    async with new_worker(client, task_queue, [UwsCounter]):
        op = WithStartWorkflowOperation(
            UwsCounter.run,
            id=wf_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        result = await asyncio.wait_for(
            client.execute_update_with_start_workflow(
                UwsCounter.add, 5, start_workflow_operation=op, id="first-add"
            ),
            RESULT_TIMEOUT_S,
        )
        assert result == 5
        handle = await op.workflow_handle()
        assert handle.id == wf_id
        desc = await client.get_workflow_handle(wf_id).describe()
        assert handle.first_execution_run_id == desc.run_id

        events = await history(client, wf_id)
        assert names(events) == FRESH_HISTORY
        check_accepted_in_first_task(events, "first-add", "add")
        assert "WORKFLOW_EXECUTION_UPDATE_ADMITTED" not in names(events)

        # The update result is there for a handle by id too.
        assert await client.get_workflow_handle(wf_id).get_update_handle("first-add").result() == 5
        assert await finish(client, wf_id) == [5]


async def test_fresh_start_raw_responses(client, task_queue):
    wf_id = unique("uws-raw")
    async with new_worker(client, task_queue, [UwsCounter]):
        start, update = await execute(
            client, multi(start_op(wf_id, task_queue), update_op(wf_id, arg=3, update_id="raw-1"))
        )
        assert start.run_id
        assert start.started is True
        assert start.status == RUNNING
        ev = start.link.workflow_event
        assert (ev.namespace, ev.workflow_id, ev.run_id) == (NS, wf_id, start.run_id)
        assert ev.event_ref.event_id == 1
        assert ev.event_ref.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        assert start.first_execution_run_id == start.run_id

        assert update.update_ref.workflow_execution.workflow_id == wf_id
        assert update.update_ref.workflow_execution.run_id == start.run_id
        assert update.update_ref.update_id == "raw-1"
        assert update.stage == COMPLETED
        assert update.outcome.HasField("success")
        assert value_of(update.outcome.success) == 3
        # The update's link points at its (accepted) event by request id.
        ev = update.link.workflow_event
        assert (ev.namespace, ev.workflow_id, ev.run_id) == (NS, wf_id, start.run_id)
        assert ev.WhichOneof("reference") == "request_id_ref"
        assert (
            ev.request_id_ref.event_type
            == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        )

        desc = await client.get_workflow_handle(wf_id).describe()
        assert desc.run_id == start.run_id
        assert desc.status is not None and desc.status.value == RUNNING
        assert await finish(client, wf_id) == [3]


async def test_missing_update_id_is_generated(client, task_queue):
    wf_id = unique("uws-noid")
    async with new_worker(client, task_queue, [UwsCounter]):
        _, update = await execute(
            client, multi(start_op(wf_id, task_queue), update_op(wf_id, arg=2, update_id=""))
        )
        generated = update.update_ref.update_id
        assert generated
        uuid.UUID(generated)  # a UUID
        assert value_of(update.outcome.success) == 2
        events = await history(client, wf_id)
        check_accepted_in_first_task(events, generated, "add")
        assert await finish(client, wf_id) == [2]


async def test_update_is_a_message_on_the_first_workflow_task(client, task_queue):
    """No SDK worker: the start is durable at once (the update waits), the
    first poll carries the update as a protocol message, and answering it
    completes the Update-with-Start."""
    wf_id = unique("uws-msg")
    call = asyncio.create_task(
        execute(
            client,
            multi(start_op(wf_id, task_queue), update_op(wf_id, arg=11, update_id="msg-1")),
        )
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                got = names(await history(client, wf_id))
                break
            except RPCError:
                assert time.monotonic() < deadline, "the run was not started"
                await asyncio.sleep(0.05)
        assert got == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED"]
        await asyncio.sleep(0.5)
        assert not call.done(), "update answered with no worker"

        task = await asyncio.wait_for(
            client.workflow_service.poll_workflow_task_queue(
                PollWorkflowTaskQueueRequest(
                    namespace=NS, task_queue=TaskQueue(name=task_queue), identity="raw-worker"
                )
            ),
            RESULT_TIMEOUT_S,
        )
        assert task.workflow_execution.workflow_id == wf_id
        assert names(task.history.events) == [
            "WORKFLOW_EXECUTION_STARTED",
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
        ]
        [msg] = task.messages
        assert msg.id == "msg-1/request"
        assert msg.protocol_instance_id == "msg-1"
        assert msg.event_id == 2
        request = UpdateRequest()
        assert msg.body.Unpack(request), msg.body.type_url
        assert request.meta.update_id == "msg-1"
        assert request.input.name == "add"
        assert value_of(request.input.args) == 11

        acceptance = Message(id="msg-1/accept", protocol_instance_id="msg-1")
        acceptance.body.Pack(
            Acceptance(
                accepted_request_message_id=msg.id,
                accepted_request_sequencing_event_id=msg.event_id,
                accepted_request=request,
            )
        )
        response = Message(id="msg-1/complete", protocol_instance_id="msg-1")
        response.body.Pack(
            UpdateResponse(
                meta=request.meta,
                outcome=Outcome(success=Payloads(payloads=[payload(42)])),
            )
        )
        await client.workflow_service.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace=NS,
                task_token=task.task_token,
                identity="raw-worker",
                messages=[acceptance, response],
            )
        )
        start, update = await asyncio.wait_for(call, RESULT_TIMEOUT_S)
    finally:
        call.cancel()
    assert start.started is True
    assert update.stage == COMPLETED
    assert value_of(update.outcome.success) == 42
    events = await history(client, wf_id)
    assert names(events) == FRESH_HISTORY
    check_accepted_in_first_task(events, "msg-1", "add")
    await client.get_workflow_handle(wf_id).terminate("done")


async def test_validator_rejection_still_starts_the_workflow(client, task_queue):
    wf_id = unique("uws-reject")
    async with new_worker(client, task_queue, [UwsCounter]):
        op = WithStartWorkflowOperation(
            UwsCounter.run,
            id=wf_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await asyncio.wait_for(
                client.execute_update_with_start_workflow(
                    UwsCounter.add, -2, start_workflow_operation=op, id="neg"
                ),
                RESULT_TIMEOUT_S,
            )
        cause = err.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "ValueError"
        assert cause.message == "negative value -2 rejected"

        handle = await op.workflow_handle()
        desc = await client.get_workflow_handle(wf_id).describe()
        assert handle.first_execution_run_id == desc.run_id
        assert desc.status is not None and desc.status.value == RUNNING
        # The first task is in history (it started the workflow); the
        # rejected update left nothing.
        events = await history(client, wf_id)
        assert names(events) == FRESH_HISTORY[:4]

        # Not remembered: polling for it is NOT_FOUND, the id can be reused.
        with pytest.raises(RPCError) as rpc_err:
            await asyncio.wait_for(
                client.get_workflow_handle(wf_id).get_update_handle("neg").result(),
                RESULT_TIMEOUT_S,
            )
        assert rpc_err.value.status == RPCStatusCode.NOT_FOUND
        assert rpc_err.value.message == 'update "neg" not found'

        # Raw: the rejection is an outcome, not an error; the run is not
        # started again.
        start, update = await execute(
            client, multi(start_op(wf_id, task_queue), update_op(wf_id, arg=-4, update_id="neg"))
        )
        assert start.run_id == desc.run_id
        assert not start.started
        assert update.stage == COMPLETED
        assert update.outcome.HasField("failure")
        assert update.outcome.failure.message == "negative value -4 rejected"
        assert update.outcome.failure.application_failure_info.type == "ValueError"
        assert names(await history(client, wf_id)) == FRESH_HISTORY[:4]

        assert await finish(client, wf_id) == []


async def test_wait_for_accepted_stage(client, task_queue):
    wf_id = unique("uws-accepted")
    async with new_worker(client, task_queue, [UwsCounter]):
        op = WithStartWorkflowOperation(
            UwsCounter.run,
            id=wf_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        update = await asyncio.wait_for(
            client.start_update_with_start_workflow(
                UwsCounter.gated,
                "door",
                start_workflow_operation=op,
                id="gate-1",
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            ),
            RESULT_TIMEOUT_S,
        )
        assert update.id == "gate-1"
        handle = await op.workflow_handle()
        assert update.workflow_run_id == handle.first_execution_run_id
        assert names(await history(client, wf_id)) == FRESH_HISTORY[:5]

        # Raw, same update id, ACCEPTED: attaches to the in-flight update, no
        # outcome yet.
        start, raw = await execute(
            client,
            multi(
                start_op(wf_id, task_queue),
                update_op(wf_id, name="gated", arg="other", update_id="gate-1", stage=ACCEPTED),
            ),
        )
        assert not start.started
        assert start.run_id == handle.first_execution_run_id
        assert raw.stage == ACCEPTED
        assert not raw.HasField("outcome")

        result = asyncio.create_task(update.result())
        done, _ = await asyncio.wait({result}, timeout=1.0)
        assert not done, "update result arrived before the release signal"
        await client.get_workflow_handle(wf_id).signal(UwsCounter.release)
        assert await asyncio.wait_for(result, RESULT_TIMEOUT_S) == "door released"
        events = await history(client, wf_id)
        assert names(events).count("WORKFLOW_EXECUTION_UPDATE_ACCEPTED") == 1
        assert names(events).count("WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 1
        assert await finish(client, wf_id) == []


async def test_admitted_stage_is_refused(client, task_queue):
    wf_id = unique("uws-admitted")
    err = await execute_error(
        client, multi(start_op(wf_id, task_queue), update_op(wf_id, stage=ADMITTED))
    )
    assert err.status == RPCStatusCode.PERMISSION_DENIED
    start_status, update_status = op_statuses(err)
    assert_aborted(start_status)
    assert update_status.code == RPCStatusCode.PERMISSION_DENIED
    assert update_status.message == (
        "UpdateWorkflowExecution issued asynchronously and waiting on update "
        "admitted is not supported."
    )
    assert [d.type_url for d in update_status.details] == [
        "type.googleapis.com/temporal.api.errordetails.v1.PermissionDeniedFailure"
    ]
    await assert_not_stored(client, wf_id)


# --- a running workflow ----------------------------------------------------------


async def test_use_existing_updates_the_running_run(client, task_queue):
    async with new_worker(client, task_queue, [UwsCounter]):
        existing = await start_idle(client, task_queue)
        before = names(await history(client, existing.id))

        op = WithStartWorkflowOperation(
            UwsCounter.run,
            id=existing.id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert await asyncio.wait_for(
            client.execute_update_with_start_workflow(
                UwsCounter.add, 4, start_workflow_operation=op, id="on-running"
            ),
            RESULT_TIMEOUT_S,
        ) == 4
        handle = await op.workflow_handle()
        assert handle.first_execution_run_id == existing.result_run_id

        start, update = await execute(
            client,
            multi(start_op(existing.id, task_queue), update_op(existing.id, arg=6)),
        )
        assert start.run_id == existing.result_run_id
        assert start.started is False
        assert start.status == RUNNING
        ev = start.link.workflow_event
        assert (ev.workflow_id, ev.run_id, ev.event_ref.event_id) == (
            existing.id,
            existing.result_run_id,
            1,
        )
        assert update.update_ref.workflow_execution.run_id == existing.result_run_id
        assert value_of(update.outcome.success) == 10

        assert names(await history(client, existing.id)) == (
            before + UPDATE_ON_RUNNING + UPDATE_ON_RUNNING
        )
        desc = await client.get_workflow_handle(existing.id).describe()
        assert desc.run_id == existing.result_run_id
        assert await finish(client, existing.id) == [4, 6]


@pytest.mark.parametrize(
    "policy",
    [
        CONFLICT.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
        CONFLICT.WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED,
    ],
    ids=["FAIL", "UNSPECIFIED"],
)
async def test_conflict_fail_on_running_workflow(client, task_queue, policy):
    async with new_worker(client, task_queue, [UwsCounter]):
        wf_id = unique("uws-fail")
        first_request = str(uuid.uuid4())
        started = await client.workflow_service.start_workflow_execution(
            start_op(wf_id, task_queue, request_id=first_request)
        )
        await wait_idle(client, wf_id)
        before = names(await history(client, wf_id))

        err = await execute_error(
            client, multi(start_op(wf_id, task_queue, conflict=policy), update_op(wf_id))
        )
        assert err.status == RPCStatusCode.ALREADY_EXISTS
        start_status, update_status = op_statuses(err)
        info = assert_already_started(
            start_status,
            f"Workflow execution is already running. WorkflowId: {wf_id}, "
            f"RunId: {started.run_id}.",
            started.run_id,
        )
        assert info.start_request_id == first_request
        assert_aborted(update_status)
        assert names(await history(client, wf_id)) == before

        if policy == CONFLICT.WORKFLOW_ID_CONFLICT_POLICY_FAIL:
            op = WithStartWorkflowOperation(
                UwsCounter.run,
                id=wf_id,
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
            with pytest.raises(WorkflowAlreadyStartedError) as sdk_err:
                await asyncio.wait_for(
                    client.execute_update_with_start_workflow(
                        UwsCounter.add, 1, start_workflow_operation=op
                    ),
                    RESULT_TIMEOUT_S,
                )
            assert sdk_err.value.run_id == started.run_id
            with pytest.raises(WorkflowAlreadyStartedError):
                await op.workflow_handle()
            assert names(await history(client, wf_id)) == before
        assert await finish(client, wf_id) == []


async def test_terminate_existing_replaces_the_running_run(client, task_queue):
    async with new_worker(client, task_queue, [UwsCounter]):
        old = await start_idle(client, task_queue)
        start, update = await execute(
            client,
            multi(
                start_op(
                    old.id,
                    task_queue,
                    conflict=CONFLICT.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
                ),
                update_op(old.id, arg=8, update_id="replace"),
            ),
        )
        assert start.started is True
        assert start.run_id != old.result_run_id
        assert start.status == RUNNING
        assert update.update_ref.workflow_execution.run_id == start.run_id
        assert value_of(update.outcome.success) == 8

        old_events = await history(client, old.id, old.result_run_id)
        assert names(old_events)[-1] == "WORKFLOW_EXECUTION_TERMINATED"
        term = old_events[-1].workflow_execution_terminated_event_attributes
        assert term.reason == "TerminateIfRunning WorkflowIdReusePolicy"
        assert term.identity == "history-service"
        assert value_of(term.details) == f"terminated by new runID: {start.run_id}"

        new_events = await history(client, old.id, start.run_id)
        assert names(new_events) == FRESH_HISTORY
        check_accepted_in_first_task(new_events, "replace", "add")
        assert await finish(client, old.id) == [8]


# --- a closed workflow -------------------------------------------------------------

FINISHED_OK = "Workflow execution already finished successfully. WorkflowId: {id}, RunId: {run}. Workflow Id reuse policy: allow duplicate workflow Id if last run failed."
FINISHED_REJECT = "Workflow execution already finished. WorkflowId: {id}, RunId: {run}. Workflow Id reuse policy: reject duplicate workflow Id."
TERMINATE_IF_RUNNING_WITH_CONFLICT = (
    "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING "
    "cannot be used together with a WorkflowIDConflictPolicy"
)


@pytest.mark.parametrize(
    "closed_by, reuse, conflict, expected",
    [
        ("completed", "ALLOW_DUPLICATE", "USE_EXISTING", None),
        ("completed", "UNSPECIFIED", "USE_EXISTING", None),
        ("completed", "ALLOW_DUPLICATE_FAILED_ONLY", "USE_EXISTING", FINISHED_OK),
        ("terminated", "ALLOW_DUPLICATE_FAILED_ONLY", "USE_EXISTING", None),
        ("completed", "REJECT_DUPLICATE", "USE_EXISTING", FINISHED_REJECT),
        ("terminated", "REJECT_DUPLICATE", "FAIL", FINISHED_REJECT),
        ("completed", "TERMINATE_IF_RUNNING", "UNSPECIFIED", None),
        ("completed", "TERMINATE_IF_RUNNING", "USE_EXISTING", TERMINATE_IF_RUNNING_WITH_CONFLICT),
    ],
    ids=lambda v: "new-run" if v is None else ("refused" if len(v) > 40 else None),
)
async def test_id_reuse_policy_against_closed_run(
    client, task_queue, closed_by, reuse, conflict, expected
):
    async with new_worker(client, task_queue, [UwsCounter]):
        old_request = str(uuid.uuid4())
        wf_id = unique("uws-closed")
        started = await client.workflow_service.start_workflow_execution(
            start_op(wf_id, task_queue, request_id=old_request)
        )
        old = client.get_workflow_handle(wf_id, run_id=started.run_id)
        await wait_idle(client, wf_id)
        if closed_by == "completed":
            assert await finish(client, old.id) == []
        else:
            await old.terminate("closing")
        before = names(await history(client, old.id))

        req = multi(
            start_op(
                old.id,
                task_queue,
                conflict=getattr(CONFLICT, f"WORKFLOW_ID_CONFLICT_POLICY_{conflict}"),
                workflow_id_reuse_policy=getattr(REUSE, f"WORKFLOW_ID_REUSE_POLICY_{reuse}"),
            ),
            update_op(old.id, arg=9, update_id="after-close"),
        )
        if expected is None:
            start, update = await execute(client, req)
            assert start.started is True
            assert start.run_id != old.result_run_id
            assert value_of(update.outcome.success) == 9
            assert names(await history(client, old.id, start.run_id)) == FRESH_HISTORY
            assert await finish(client, old.id) == [9]
            return

        err = await execute_error(client, req)
        start_status, update_status = op_statuses(err)
        assert_aborted(update_status)
        if expected is TERMINATE_IF_RUNNING_WITH_CONFLICT:
            assert err.status == RPCStatusCode.INVALID_ARGUMENT
            assert start_status.code == RPCStatusCode.INVALID_ARGUMENT
            assert start_status.message == expected
            assert list(start_status.details) == []
        else:
            assert err.status == RPCStatusCode.ALREADY_EXISTS
            info = assert_already_started(
                start_status,
                expected.format(id=old.id, run=old.result_run_id),
                old.result_run_id,
            )
            # The closed run's start request, not this one's.
            assert info.start_request_id == old_request
        desc = await client.get_workflow_handle(old.id).describe()
        assert desc.run_id == old.result_run_id
        assert names(await history(client, old.id)) == before


async def test_id_reuse_refused_through_the_sdk(client, task_queue):
    async with new_worker(client, task_queue, [UwsCounter]):
        old = await start_idle(client, task_queue)
        assert await finish(client, old.id) == []
        op = WithStartWorkflowOperation(
            UwsCounter.run,
            id=old.id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        with pytest.raises(WorkflowAlreadyStartedError) as err:
            await asyncio.wait_for(
                client.execute_update_with_start_workflow(
                    UwsCounter.add, 1, start_workflow_operation=op
                ),
                RESULT_TIMEOUT_S,
            )
        assert err.value.run_id == old.result_run_id
        with pytest.raises(WorkflowAlreadyStartedError):
            await op.workflow_handle()


# --- attaching / deduplication ---------------------------------------------------


async def test_same_update_id_attaches_to_the_existing_update(client, task_queue):
    wf_id = unique("uws-dup")
    async with new_worker(client, task_queue, [UwsCounter]):
        first_start, first = await execute(
            client, multi(start_op(wf_id, task_queue), update_op(wf_id, arg=5, update_id="dup"))
        )
        assert value_of(first.outcome.success) == 5
        after_first = names(await history(client, wf_id))
        assert after_first == FRESH_HISTORY

        # Same update id, other argument, other start request id; even FAIL
        # and TERMINATE_EXISTING attach instead of failing / terminating.
        for policy in (
            CONFLICT.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
            CONFLICT.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
            CONFLICT.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
        ):
            start, update = await execute(
                client,
                multi(
                    start_op(wf_id, task_queue, conflict=policy),
                    update_op(wf_id, arg=7, update_id="dup"),
                ),
            )
            assert start.run_id == first_start.run_id
            assert start.started is False
            assert start.status == RUNNING
            assert update.update_ref.update_id == "dup"
            assert update.update_ref.workflow_execution.run_id == first_start.run_id
            assert update.stage == COMPLETED
            assert value_of(update.outcome.success) == 5

        # Through the SDK too.
        op = WithStartWorkflowOperation(
            UwsCounter.run,
            id=wf_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert await asyncio.wait_for(
            client.execute_update_with_start_workflow(
                UwsCounter.add, 100, start_workflow_operation=op, id="dup"
            ),
            RESULT_TIMEOUT_S,
        ) == 5
        assert names(await history(client, wf_id)) == after_first
        desc = await client.get_workflow_handle(wf_id).describe()
        assert desc.run_id == first_start.run_id
        assert await finish(client, wf_id) == [5]


async def test_same_update_id_after_close_returns_the_closed_runs_outcome(client, task_queue):
    wf_id = unique("uws-dup-closed")
    async with new_worker(client, task_queue, [UwsCounter]):
        first_start, _ = await execute(
            client, multi(start_op(wf_id, task_queue), update_op(wf_id, arg=5, update_id="dup"))
        )
        assert await finish(client, wf_id) == [5]
        closed = names(await history(client, wf_id))

        for reuse in (
            REUSE.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
            REUSE.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
        ):
            start, update = await execute(
                client,
                multi(
                    start_op(wf_id, task_queue, workflow_id_reuse_policy=reuse),
                    update_op(wf_id, arg=9, update_id="dup"),
                ),
            )
            assert start.run_id == first_start.run_id
            assert start.started is False
            assert start.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED
            assert update.update_ref.workflow_execution.run_id == first_start.run_id
            assert update.stage == COMPLETED
            assert value_of(update.outcome.success) == 5

        op = WithStartWorkflowOperation(
            UwsCounter.run,
            id=wf_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert await asyncio.wait_for(
            client.execute_update_with_start_workflow(
                UwsCounter.add, 100, start_workflow_operation=op, id="dup"
            ),
            RESULT_TIMEOUT_S,
        ) == 5
        assert (await op.workflow_handle()).first_execution_run_id == first_start.run_id

        # No new run was started.
        desc = await client.get_workflow_handle(wf_id).describe()
        assert desc.run_id == first_start.run_id
        assert names(await history(client, wf_id)) == closed


async def test_same_start_request_id_is_the_same_start(client, task_queue):
    wf_id = unique("uws-reqid")
    request_id = str(uuid.uuid4())
    fail = CONFLICT.WORKFLOW_ID_CONFLICT_POLICY_FAIL
    async with new_worker(client, task_queue, [UwsCounter]):
        first_start, _ = await execute(
            client,
            multi(
                start_op(wf_id, task_queue, conflict=fail, request_id=request_id),
                update_op(wf_id, arg=1, update_id="a"),
            ),
        )
        assert first_start.started is True

        # Same start request id, new update: no ALREADY_EXISTS despite FAIL;
        # the update goes to the run that request started.
        start, update = await execute(
            client,
            multi(
                start_op(wf_id, task_queue, conflict=fail, request_id=request_id),
                update_op(wf_id, arg=2, update_id="b"),
            ),
        )
        assert start.run_id == first_start.run_id
        assert start.started is False
        assert value_of(update.outcome.success) == 3
        assert names(await history(client, wf_id)) == FRESH_HISTORY + UPDATE_ON_RUNNING

        assert await finish(client, wf_id) == [1, 2]
        closed = names(await history(client, wf_id))

        # After that run closed, the deduplicated start cannot take a new
        # update: UNAVAILABLE on the start operation.
        err = await execute_error(
            client,
            multi(
                start_op(wf_id, task_queue, conflict=fail, request_id=request_id),
                update_op(wf_id, arg=4, update_id="c"),
            ),
        )
        assert err.status == RPCStatusCode.UNAVAILABLE
        start_status, update_status = op_statuses(err)
        assert start_status.code == RPCStatusCode.UNAVAILABLE
        assert start_status.message == "Workflow was not started: StartDeduped"
        assert list(start_status.details) == []
        assert_aborted(update_status)
        desc = await client.get_workflow_handle(wf_id).describe()
        assert desc.run_id == first_start.run_id
        assert names(await history(client, wf_id)) == closed


async def test_run_closing_before_the_update_is_accepted_starts_a_new_run(client, task_queue):
    """USE_EXISTING on a run that has not processed the update yet; the run
    is terminated: the server retries the Update-with-Start, which now starts
    a new run that gets the update."""
    old = await client.start_workflow(UwsCounter.run, id=unique("uws-closing"), task_queue=task_queue)
    call = asyncio.create_task(
        execute(client, multi(start_op(old.id, task_queue), update_op(old.id, arg=6, update_id="late")))
    )
    try:
        await asyncio.sleep(1.0)
        assert not call.done()
        await old.terminate("closing under the update")
        async with new_worker(client, task_queue, [UwsCounter]):
            start, update = await asyncio.wait_for(call, RESULT_TIMEOUT_S)
            assert start.started is True
            assert start.run_id != old.result_run_id
            assert update.update_ref.workflow_execution.run_id == start.run_id
            assert value_of(update.outcome.success) == 6
            events = await history(client, old.id, start.run_id)
            assert names(events) == FRESH_HISTORY
            check_accepted_in_first_task(events, "late", "add")
            assert await finish(client, old.id) == [6]
    finally:
        call.cancel()
    old_names = names(await history(client, old.id, old.result_run_id))
    assert old_names == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_TERMINATED",
    ]


# --- validation -------------------------------------------------------------------


def _ops_count_cases(w, tq):
    return {
        "no operations": multi(),
        "start only": multi(start_op(w, tq)),
        "update only": multi(update_op(w)),
        "update then start": multi(update_op(w), start_op(w, tq)),
        "two starts": multi(start_op(w, tq), start_op(w, tq)),
        "three operations": multi(start_op(w, tq), update_op(w), update_op(w)),
    }


@pytest.mark.parametrize(
    "case",
    ["no operations", "start only", "update only", "update then start", "two starts", "three operations"],
)
async def test_operations_must_be_start_then_update(client, task_queue, case):
    wf_id = unique("uws-ops")
    err = await execute_error(client, _ops_count_cases(wf_id, task_queue)[case])
    assert err.status == RPCStatusCode.INVALID_ARGUMENT
    assert err.message == NOT_START_AND_UPDATE
    assert list(err.grpc_status.details) == []
    await assert_not_stored(client, wf_id)


# (start op error or None for aborted, update op error or None for aborted);
# each error is (code, message).
INVALID = RPCStatusCode.INVALID_ARGUMENT
VALIDATION_CASES = {
    "update names another workflow": (
        lambda w, tq: multi(start_op(w, tq), update_op(w + "-other")),
        None,
        (INVALID, "WorkflowId is not consistent with previous operation(s)."),
    ),
    "update names a run id": (
        lambda w, tq: multi(start_op(w, tq), update_op(w, run_id=str(uuid.uuid4()))),
        None,
        (INVALID, "RunId is not allowed."),
    ),
    "update names a first execution run id": (
        lambda w, tq: multi(
            start_op(w, tq), update_op(w, first_execution_run_id=str(uuid.uuid4()))
        ),
        None,
        (INVALID, "FirstExecutionRunId is not allowed."),
    ),
    "cron schedule": (
        lambda w, tq: multi(start_op(w, tq, cron_schedule="* * * * *"), update_op(w)),
        (INVALID, "CronSchedule is not allowed."),
        None,
    ),
    "start delay": (
        lambda w, tq: multi(
            start_op(w, tq, workflow_start_delay=Duration(seconds=5)), update_op(w)
        ),
        (INVALID, "WorkflowStartDelay is not supported."),
        None,
    ),
    "eager execution": (
        lambda w, tq: multi(start_op(w, tq, request_eager_execution=True), update_op(w)),
        (INVALID, "RequestEagerExecution is not supported."),
        None,
    ),
    "missing update name": (
        lambda w, tq: multi(start_op(w, tq), update_op(w, name="")),
        None,
        (INVALID, "Update name is not set on request."),
    ),
    "start namespace differs": (
        lambda w, tq: multi(start_op(w, tq, namespace="other"), update_op(w)),
        (INVALID, "Operation namespace did not match request's namespace."),
        None,
    ),
    "update namespace differs": (
        lambda w, tq: multi(start_op(w, tq), update_op(w, namespace="other")),
        None,
        (INVALID, "Operation namespace did not match request's namespace."),
    ),
    "both namespaces differ": (
        lambda w, tq: multi(
            start_op(w, tq, namespace="other"), update_op(w, namespace="other")
        ),
        (INVALID, "Operation namespace did not match request's namespace."),
        (INVALID, "Operation namespace did not match request's namespace."),
    ),
    "cron schedule and update run id": (
        lambda w, tq: multi(
            start_op(w, tq, cron_schedule="* * * * *"),
            update_op(w, run_id=str(uuid.uuid4())),
        ),
        (INVALID, "CronSchedule is not allowed."),
        (INVALID, "RunId is not allowed."),
    ),
    "terminate-if-running reuse with a conflict policy": (
        lambda w, tq: multi(
            start_op(
                w,
                tq,
                workflow_id_reuse_policy=REUSE.WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING,
            ),
            update_op(w),
        ),
        (INVALID, TERMINATE_IF_RUNNING_WITH_CONFLICT),
        None,
    ),
    "reject-duplicate reuse with terminate-existing": (
        lambda w, tq: multi(
            start_op(
                w,
                tq,
                conflict=CONFLICT.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
                workflow_id_reuse_policy=REUSE.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
            ),
            update_op(w),
        ),
        (
            INVALID,
            "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE "
            "cannot be used together with WorkflowIdConflictPolicy "
            "WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING",
        ),
        None,
    ),
}


@pytest.mark.parametrize("case", list(VALIDATION_CASES))
async def test_invalid_operation(client, task_queue, case):
    build, start_error, update_error = VALIDATION_CASES[case]
    wf_id = unique("uws-bad")
    err = await execute_error(client, build(wf_id, task_queue))
    start_status, update_status = op_statuses(err)
    first_error = start_error or update_error
    assert err.status == first_error[0]
    for status, expected in ((start_status, start_error), (update_status, update_error)):
        if expected is None:
            assert_aborted(status)
        else:
            assert (status.code, status.message) == (int(expected[0]), expected[1])
            assert list(status.details) == []
    await assert_not_stored(client, wf_id)


async def test_unknown_request_namespace(client, task_queue):
    wf_id = unique("uws-ns")
    err = await execute_error(
        client,
        multi(
            start_op(wf_id, task_queue, namespace="no-such-ns"),
            update_op(wf_id, namespace="no-such-ns"),
            namespace="no-such-ns",
        ),
    )
    assert err.status == RPCStatusCode.NOT_FOUND
    assert err.message == "Namespace no-such-ns is not found."
    [detail] = err.grpc_status.details
    info = NamespaceNotFoundFailure()
    assert detail.Unpack(info), detail.type_url
    assert info.namespace == "no-such-ns"


async def test_conflict_policy_is_not_required_for_a_new_workflow(client, task_queue):
    """UNSPECIFIED is accepted: with no workflow it starts one."""
    wf_id = unique("uws-nopolicy")
    async with new_worker(client, task_queue, [UwsCounter]):
        start, update = await execute(
            client,
            multi(
                start_op(wf_id, task_queue, conflict=CONFLICT.WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED),
                update_op(wf_id, arg=12),
            ),
        )
        assert start.started is True
        assert value_of(update.outcome.success) == 12
        assert await finish(client, wf_id) == [12]
