"""The same scenarios against Endure and the real Temporal dev server, compared field by field.

Each scenario drives the Temporal API directly (the raw WorkflowService calls an SDK's worker
and client make, with fixed ids and inputs), collects every response a worker or user reads
(the tasks polled, the history, Describe) and returns them by name. It runs once against the
suite's server and once against a real dev server started next to it; the two sets are
normalised (tests/python/field_diff.py: times, UUIDs, tokens) and must be equal in every field.
A field the real server writes and Endure leaves out is exactly what breaks an SDK (the
TypeScript worker refused every activity task whose timeouts were unset instead of zero).

With ``ENDURE_TEST_TARGET=temporal`` both sides are real servers: the scenarios validate
themselves (nothing may differ between two runs of the same server).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from temporalio.api.command.v1 import (
    Command,
    CompleteWorkflowExecutionCommandAttributes,
    ContinueAsNewWorkflowExecutionCommandAttributes,
    SignalExternalWorkflowExecutionCommandAttributes,
    StartChildWorkflowExecutionCommandAttributes,
    StartTimerCommandAttributes,
    ScheduleActivityTaskCommandAttributes,
)
from temporalio.api.common.v1 import ActivityType, Payload, Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import (
    CommandType,
    UpdateWorkflowExecutionLifecycleStage,
    WorkflowIdConflictPolicy,
)
from temporalio.api.update.v1 import Input as UpdateInput
from temporalio.api.update.v1 import Meta as UpdateMeta
from temporalio.api.update.v1 import Request as UpdateRequest
from temporalio.api.update.v1 import Acceptance, Outcome, UpdateRef, WaitPolicy
from temporalio.api.update.v1 import Response as UpdateResponse
from temporalio.api.protocol.v1 import Message as ProtocolMessage
from temporalio.api.activity.v1 import ActivityOptions
from temporalio.api.common.v1 import RetryPolicy
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio.api.sdk.v1 import UserMetadata
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    ExecuteMultiOperationRequest,
    GetWorkflowExecutionHistoryRequest,
    PauseActivityRequest,
    RecordActivityTaskHeartbeatRequest,
    ResetActivityRequest,
    UnpauseActivityRequest,
    UpdateActivityOptionsRequest,
    PollActivityTaskQueueRequest,
    PollWorkflowExecutionUpdateRequest,
    PollWorkflowTaskQueueRequest,
    RespondActivityTaskCompletedRequest,
    ResetWorkflowExecutionRequest,
    RespondWorkflowTaskCompletedRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
    UpdateWorkflowExecutionRequest,
)
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowUpdateStage
from temporalio.service import RPCError

from conftest import new_worker, unique
from endure_testing.servers import ServerProcess, TemporalDevServer
from field_diff import as_json, differences, normalize

IDENTITY = "differential-test"
Docs = dict[str, Any]


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real Temporal dev server next to the suite's server."""
    tmp: Path = tmp_path_factory.mktemp("oracle")
    srv = TemporalDevServer("oracle", tmp / "oracle.log", tmp / "oracle.db")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def payloads(text: str) -> Payloads:
    return Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())])


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class HeldUpdateWorkflow:
    """Accepts `hold` updates whose handlers never finish; completes on the `finish` signal."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return "finished"

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def hold(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def is_done(self) -> bool:
        return self.done


class Driver:
    """Raw WorkflowService calls on one server, with the scenario's fixed ids."""

    def __init__(self, client: Client, workflow_id: str, task_queue: str):
        self.client = client
        self.svc = client.workflow_service
        self.ns = client.namespace
        self.workflow_id = workflow_id
        self.task_queue = task_queue
        self.run_id = ""

    async def start(self, **fields: Any) -> Any:
        request = StartWorkflowExecutionRequest(
            namespace=self.ns,
            workflow_id=self.workflow_id,
            workflow_type=WorkflowType(name="DiffWorkflow"),
            task_queue=TaskQueue(name=self.task_queue),
            input=payloads("in"),
            identity=IDENTITY,
            request_id=f"start-{self.workflow_id}",
        )
        for name, value in fields.items():
            if isinstance(value, Message):
                getattr(request, name).CopyFrom(value)
            else:
                setattr(request, name, value)
        response = await self.svc.start_workflow_execution(request)
        self.run_id = response.run_id
        return response

    async def poll_workflow_task(self) -> Any:
        task = await self.svc.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace=self.ns, task_queue=TaskQueue(name=self.task_queue), identity=IDENTITY
            )
        )
        assert task.task_token, "a workflow task"
        return task

    async def complete_workflow_task(self, task: Any, commands: list[Command]) -> Any:
        return await self.svc.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace=self.ns, task_token=task.task_token, commands=commands, identity=IDENTITY
            )
        )

    async def poll_activity_task(self) -> Any:
        task = await self.svc.poll_activity_task_queue(
            PollActivityTaskQueueRequest(
                namespace=self.ns, task_queue=TaskQueue(name=self.task_queue), identity=IDENTITY
            )
        )
        assert task.task_token, "an activity task"
        return task

    async def history(self) -> list[Any]:
        response = await self.svc.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=self.ns,
                execution=WorkflowExecution(workflow_id=self.workflow_id, run_id=self.run_id),
            )
        )
        return [as_json(e) for e in response.history.events]

    async def describe(self) -> Any:
        return await self.svc.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=self.ns,
                execution=WorkflowExecution(workflow_id=self.workflow_id, run_id=self.run_id),
            )
        )


def schedule_greet(d: Driver, input: Payloads | None = None) -> Command:
    """A ScheduleActivityTask command for activity "1" (greet) with only its start-to-close
    timeout, as SDKs send by default."""
    return Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
            activity_id="1",
            activity_type=ActivityType(name="greet"),
            task_queue=TaskQueue(name=d.task_queue),
            input=input,
            start_to_close_timeout=Duration(seconds=10),
        ),
    )


async def one_activity_on_default_options(d: Driver) -> Docs:
    """A workflow schedules one activity with only its start-to-close timeout, as SDKs do by
    default; a worker runs it; the workflow completes with its result."""
    docs: Docs = {"start": as_json(await d.start())}
    docs["start again, same request id"] = as_json(await d.start())
    docs["start again, use existing"] = as_json(
        await d.start(
            request_id=f"other-{d.workflow_id}",
            workflow_id_conflict_policy=WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
        )
    )
    task = await d.poll_workflow_task()
    docs["workflow task 1"] = as_json(task)
    schedule = schedule_greet(d, payloads("world"))
    docs["complete 1"] = as_json(await d.complete_workflow_task(task, [schedule]))
    activity = await d.poll_activity_task()
    docs["activity task"] = as_json(activity)
    docs["describe while the activity runs"] = as_json(await d.describe())
    await d.svc.respond_activity_task_completed(
        RespondActivityTaskCompletedRequest(
            namespace=d.ns, task_token=activity.task_token, result=payloads("hello"), identity=IDENTITY
        )
    )
    task = await d.poll_workflow_task()
    docs["workflow task 2"] = as_json(task)
    complete = Command(
        command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        complete_workflow_execution_command_attributes=CompleteWorkflowExecutionCommandAttributes(
            result=payloads("done")
        ),
    )
    docs["complete 2"] = as_json(await d.complete_workflow_task(task, [complete]))
    docs["history"] = await d.history()
    docs["describe when closed"] = as_json(await d.describe())
    return docs


async def sdk_worker_runs_an_activity(d: Driver) -> Docs:
    """The official Python SDK's worker (default options) runs a workflow with one activity:
    what its worker writes into history (build ids, SDK metadata) and what Describe shows."""
    async with new_worker(d.client, d.task_queue, [GreetingWorkflow], [greet]):
        handle = await d.client.start_workflow(
            GreetingWorkflow.run, "world", id=d.workflow_id, task_queue=d.task_queue
        )
        d.run_id = handle.result_run_id or ""
        assert await handle.result() == "Hello, world!"
    return {"history": await d.history(), "describe": as_json(await d.describe())}


async def update_outlived_by_its_run(d: Driver) -> Docs:
    """An update is accepted, its handler never finishes, the run completes: what a caller
    polling for the update's outcome gets, and the history."""
    async with new_worker(d.client, d.task_queue, [HeldUpdateWorkflow]):
        handle = await d.client.start_workflow(
            HeldUpdateWorkflow.run, id=d.workflow_id, task_queue=d.task_queue
        )
        d.run_id = handle.result_run_id or ""
        # Answered once the first workflow task completed: the update then needs a task of its
        # own on both servers, whatever the timing.
        assert not await handle.query(HeldUpdateWorkflow.is_done)
        await handle.start_update(
            HeldUpdateWorkflow.hold, id="held", wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        await handle.signal(HeldUpdateWorkflow.finish)
        assert await handle.result() == "finished"
    poll = await d.svc.poll_workflow_execution_update(
        PollWorkflowExecutionUpdateRequest(
            namespace=d.ns,
            update_ref=UpdateRef(
                workflow_execution=WorkflowExecution(workflow_id=d.workflow_id), update_id="held"
            ),
            wait_policy=WaitPolicy(
                lifecycle_stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
            ),
        )
    )
    return {"poll after close": as_json(poll), "history": await d.history()}


async def update_admitted_while_the_run_continues_as_new(d: Driver) -> Docs:
    """An update arrives while a workflow task is running; that task continues the workflow as
    new: the update goes on to the new run and its first task delivers it."""
    docs: Docs = {"start": as_json(await d.start())}
    task = await d.poll_workflow_task()
    # The caller waits for acceptance, which only the new run's worker can give.
    waiting = asyncio.create_task(
        d.svc.update_workflow_execution(
            UpdateWorkflowExecutionRequest(
                namespace=d.ns,
                workflow_execution=WorkflowExecution(workflow_id=d.workflow_id),
                request=UpdateRequest(meta=UpdateMeta(update_id="moved"), input=UpdateInput(name="add")),
                wait_policy=WaitPolicy(
                    lifecycle_stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
                ),
            )
        )
    )
    await asyncio.sleep(0.5)  # admitted by now (the call is answered only once accepted)
    can = Command(
        command_type=CommandType.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
        continue_as_new_workflow_execution_command_attributes=ContinueAsNewWorkflowExecutionCommandAttributes(
            workflow_type=WorkflowType(name="DiffWorkflow"), task_queue=TaskQueue(name=d.task_queue)
        ),
    )
    docs["continue as new"] = as_json(await d.complete_workflow_task(task, [can]))
    docs["history of the first run"] = await d.history()
    docs["first task of the new run"] = as_json(await d.poll_workflow_task())
    await asyncio.sleep(0.2)
    if waiting.done():
        e = waiting.exception()
        docs["waiting update call"] = {"status": getattr(e, "status", None), "message": str(e)}
    else:
        docs["waiting update call"] = "still waiting"
        waiting.cancel()
    return docs


async def reset_points(d: Driver) -> Docs:
    """Which event ids ResetWorkflowExecution takes as the workflow task finish event id, and
    what it answers for the others: every event of a run with one completed workflow task, a
    scheduled activity, a signal and a started second workflow task."""
    await d.start()
    task = await d.poll_workflow_task()
    schedule = schedule_greet(d)
    await d.complete_workflow_task(task, [schedule])
    await d.svc.signal_workflow_execution(
        SignalWorkflowExecutionRequest(
            namespace=d.ns,
            workflow_execution=WorkflowExecution(workflow_id=d.workflow_id),
            signal_name="poke",
            identity=IDENTITY,
            request_id=f"signal-{d.workflow_id}",
        )
    )
    await d.poll_workflow_task()
    events = await d.history()
    answers: dict[str, Any] = {}
    first_reset_history: list[Any] = []
    for event_id in range(0, len(events) + 2):
        try:
            reset = await d.svc.reset_workflow_execution(
                ResetWorkflowExecutionRequest(
                    namespace=d.ns,
                    workflow_execution=WorkflowExecution(workflow_id=d.workflow_id, run_id=d.run_id),
                    reason="differential",
                    workflow_task_finish_event_id=event_id,
                    request_id=f"reset-{event_id}-{d.workflow_id}",
                )
            )
            answers[str(event_id)] = "reset"
            if "first reset run" not in answers:
                answers["first reset run"] = event_id
                new_run = await d.svc.get_workflow_execution_history(
                    GetWorkflowExecutionHistoryRequest(
                        namespace=d.ns,
                        execution=WorkflowExecution(workflow_id=d.workflow_id, run_id=reset.run_id),
                    )
                )
                first_reset_history = [as_json(e) for e in new_run.history.events]
        except RPCError as e:
            answers[str(event_id)] = f"{e.status.name}: {e.message}"
    return {
        "history": events,
        "reset answers by event id": answers,
        "the first reset's new run": first_reset_history,
    }


async def user_metadata(d: Driver) -> Docs:
    """Summaries and details on the start and on the commands (an activity, a timer, a child),
    then a signal to the child: what history and Describe carry back (the child and external
    events' namespace fields too)."""
    def meta(text: str) -> UserMetadata:
        return UserMetadata(
            summary=payloads(f"{text} summary").payloads[0],
            details=payloads(f"{text} details").payloads[0],
        )

    docs: Docs = {"start": as_json(await d.start(user_metadata=meta("workflow")))}
    task = await d.poll_workflow_task()
    activity = schedule_greet(d)
    activity.user_metadata.CopyFrom(meta("activity"))
    timer = Command(
        command_type=CommandType.COMMAND_TYPE_START_TIMER,
        start_timer_command_attributes=StartTimerCommandAttributes(
            timer_id="t1", start_to_fire_timeout=Duration(seconds=3600)
        ),
        user_metadata=meta("timer"),
    )
    child = Command(
        command_type=CommandType.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION,
        start_child_workflow_execution_command_attributes=StartChildWorkflowExecutionCommandAttributes(
            workflow_id=f"{d.workflow_id}-child",
            workflow_type=WorkflowType(name="DiffChild"),
            task_queue=TaskQueue(name=f"{d.task_queue}-child"),
        ),
        user_metadata=meta("child"),
    )
    signal = Command(
        command_type=CommandType.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION,
        signal_external_workflow_execution_command_attributes=SignalExternalWorkflowExecutionCommandAttributes(
            execution=WorkflowExecution(workflow_id=f"{d.workflow_id}-child"), signal_name="hello"
        ),
    )
    await d.complete_workflow_task(task, [activity, timer, child])
    # The child's start lands in a workflow task of the parent's, which then signals it.
    task = await d.poll_workflow_task()
    await d.complete_workflow_task(task, [signal])
    task = await d.poll_workflow_task()  # the signal delivered
    docs["history"] = await d.history()
    docs["describe"] = as_json(await d.describe())
    child_run = Driver(d.client, f"{d.workflow_id}-child", f"{d.task_queue}-child")
    docs["child history"] = await child_run.history()
    docs["child describe"] = as_json(await child_run.describe())
    return docs


def protocol_messages(task: Any) -> list[ProtocolMessage]:
    """Acceptance and response messages for each update request a workflow task carries (the
    handler returns "ok")."""
    out = []
    for m in task.messages:
        request = UpdateRequest()
        m.body.Unpack(request)
        update_id = m.protocol_instance_id
        accept = ProtocolMessage(
            id=f"{update_id}/accept",
            protocol_instance_id=update_id,
            event_id=m.event_id,
        )
        accept.body.Pack(Acceptance(accepted_request_message_id=m.id, accepted_request_sequencing_event_id=m.event_id, accepted_request=request))
        respond = ProtocolMessage(id=f"{update_id}/complete", protocol_instance_id=update_id)
        respond.body.Pack(
            UpdateResponse(meta=request.meta, outcome=Outcome(success=payloads("ok")))
        )
        out += [accept, respond]
    return out


async def update_with_start(d: Driver) -> Docs:
    """Update-with-Start on no workflow: the start and the update in one call, the update on the
    first workflow task; then again with the same update id (its outcome); and a second start of
    the same id that must fail."""
    def request(update_id: str, conflict: int) -> ExecuteMultiOperationRequest:
        start = StartWorkflowExecutionRequest(
            namespace=d.ns,
            workflow_id=d.workflow_id,
            workflow_type=WorkflowType(name="DiffWorkflow"),
            task_queue=TaskQueue(name=d.task_queue),
            identity=IDENTITY,
            request_id=f"uws-{update_id}",
            workflow_id_conflict_policy=conflict,
        )
        update = UpdateWorkflowExecutionRequest(
            namespace=d.ns,
            workflow_execution=WorkflowExecution(workflow_id=d.workflow_id),
            request=UpdateRequest(
                meta=UpdateMeta(update_id=update_id, identity=IDENTITY),
                input=UpdateInput(name="add", args=payloads("1")),
            ),
            wait_policy=WaitPolicy(
                lifecycle_stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
            ),
        )
        return ExecuteMultiOperationRequest(
            namespace=d.ns,
            operations=[
                ExecuteMultiOperationRequest.Operation(start_workflow=start),
                ExecuteMultiOperationRequest.Operation(update_workflow=update),
            ],
        )

    use_existing = WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
    call = asyncio.create_task(d.svc.execute_multi_operation(request("u1", use_existing)))
    task = await d.poll_workflow_task()
    docs: Docs = {"first workflow task": as_json(task)}
    docs["complete"] = as_json(
        await d.svc.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace=d.ns, task_token=task.task_token, messages=protocol_messages(task), identity=IDENTITY
            )
        )
    )
    response = await call
    d.run_id = response.responses[0].start_workflow.run_id
    docs["response"] = as_json(response)
    docs["same update again"] = as_json(await d.svc.execute_multi_operation(request("u1", use_existing)))
    try:
        await d.svc.execute_multi_operation(
            request("u2", WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_FAIL)
        )
        docs["conflict"] = "no error"
    except RPCError as e:
        docs["conflict"] = {"status": int(e.status), "message": e.message, "details": [
            d.type_url for d in e.grpc_status.details
        ]}
    docs["history"] = await d.history()
    docs["describe"] = as_json(await d.describe())
    return docs


async def activity_operations(d: Driver) -> Docs:
    """An operator pauses a scheduled activity, changes its options, unpauses and resets it:
    Describe after each step, the options answered, and what the worker then gets."""
    docs: Docs = {"start": as_json(await d.start())}
    task = await d.poll_workflow_task()
    await d.complete_workflow_task(task, [schedule_greet(d, payloads("world"))])
    execution = WorkflowExecution(workflow_id=d.workflow_id, run_id=d.run_id)
    await d.svc.pause_activity(
        PauseActivityRequest(namespace=d.ns, execution=execution, id="1", identity=IDENTITY, reason="look")
    )
    docs["describe paused"] = as_json(await d.describe())
    docs["update options"] = as_json(
        await d.svc.update_activity_options(
            UpdateActivityOptionsRequest(
                namespace=d.ns,
                execution=execution,
                id="1",
                identity=IDENTITY,
                activity_options=ActivityOptions(
                    start_to_close_timeout=Duration(seconds=20),
                    retry_policy=RetryPolicy(maximum_attempts=7),
                ),
                update_mask=FieldMask(paths=["start_to_close_timeout", "retry_policy.maximum_attempts"]),
            )
        )
    )
    await d.svc.unpause_activity(
        UnpauseActivityRequest(namespace=d.ns, execution=execution, id="1", identity=IDENTITY)
    )
    docs["describe unpaused"] = as_json(await d.describe())
    activity_task = await d.poll_activity_task()
    docs["activity task"] = as_json(activity_task)
    await d.svc.reset_activity(
        ResetActivityRequest(namespace=d.ns, execution=execution, id="1", identity=IDENTITY)
    )
    docs["heartbeat after reset"] = as_json(
        await d.svc.record_activity_task_heartbeat(
            RecordActivityTaskHeartbeatRequest(namespace=d.ns, task_token=activity_task.task_token, identity=IDENTITY)
        )
    )
    docs["describe reset"] = as_json(await d.describe())
    docs["history"] = await d.history()
    return docs


Scenario = Callable[[Driver], Awaitable[Docs]]
SCENARIOS: list[Scenario] = [
    update_with_start,
    activity_operations,
    user_metadata,
    reset_points,
    update_admitted_while_the_run_continues_as_new,
    one_activity_on_default_options,
    sdk_worker_runs_an_activity,
    update_outlived_by_its_run,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
async def test_same_responses_as_the_real_server(
    scenario: Scenario, server: ServerProcess, oracle: ServerProcess
) -> None:
    workflow_id, task_queue = unique("diff"), unique("tq")
    ours = await scenario(Driver(await Client.connect(server.address), workflow_id, task_queue))
    theirs = await scenario(Driver(await Client.connect(oracle.address), workflow_id, task_queue))
    found = differences(normalize(ours), normalize(theirs))
    assert not found, f"{len(found)} fields differ from the real server:\n" + "\n".join(found)
