"""Eager activity execution: which ScheduleActivityTask commands come back as activity tasks in
the RespondWorkflowTaskCompleted response, through raw worker calls. Validated against the real
dev server (1.32, which the CLI starts with ``system.enableActivityEagerExecution`` on).

The real server's rule (history's workflow-task-completed handler): an activity is started for
the completing worker when its command sets ``request_eager_execution``, the namespace has eager
execution on, and the workflow does not use versioning (a worker version stamp with
``use_versioning`` or an assigned build id) unless the command sets ``use_workflow_build_id``;
and, once every command of the completion is handled, the workflow is still running and the
activity still pending (not cancelled by a later command). Nothing else: not the activity's
task queue (any queue, not only the workflow's), not how many (no limit per completion), not
the sticky attributes or the identity (the activity is started by the completion's identity).
What to ask for is the SDK's choice: its core asks only for activities on the worker's own
queue, at most ``max_eager_activity_reservations_per_workflow_task`` (3) per task, and only
when the worker runs activities and has a free slot.
"""

from __future__ import annotations

import uuid

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.command.v1 import Command, ScheduleActivityTaskCommandAttributes
from temporalio.api.common.v1 import (
    ActivityType,
    WorkerVersionStamp,
    WorkflowExecution,
    WorkflowType,
)
from temporalio.api.enums.v1 import (
    CommandType,
    EventType,
    PendingActivityState,
    TaskQueueKind,
    WorkflowTaskFailedCause,
)
from temporalio.api.taskqueue.v1 import StickyExecutionAttributes, TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
    PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
    RespondWorkflowTaskCompletedResponse,
    StartWorkflowExecutionRequest,
    TerminateWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import unique

NS = "default"


def schedule(
    activity_id: str,
    queue: str | None,
    *,
    eager: bool = True,
    use_workflow_build_id: bool = False,
) -> Command:
    attrs = ScheduleActivityTaskCommandAttributes(
        activity_id=activity_id,
        activity_type=ActivityType(name="work"),
        start_to_close_timeout=Duration(seconds=30),
        request_eager_execution=eager,
        use_workflow_build_id=use_workflow_build_id,
    )
    if queue is not None:
        attrs.task_queue.CopyFrom(TaskQueue(name=queue))
    return Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=attrs,
    )


class Run:
    """A workflow started on its own queue, with its first workflow task polled."""

    def __init__(self, client: Client) -> None:
        self.svc = client.workflow_service
        self.queue = unique("eager-tq")
        self.workflow_id = unique("eager-wf")
        self.token = b""

    async def start(self, poller: str = "poller") -> "Run":
        await self.svc.start_workflow_execution(
            StartWorkflowExecutionRequest(
                namespace=NS,
                workflow_id=self.workflow_id,
                workflow_type=WorkflowType(name="EagerProbe"),
                task_queue=TaskQueue(name=self.queue),
                request_id=str(uuid.uuid4()),
                identity="starter",
            )
        )
        task = await self.svc.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace=NS, task_queue=TaskQueue(name=self.queue), identity=poller
            )
        )
        assert task.task_token
        self.token = task.task_token
        return self

    async def complete(
        self, commands: list[Command], identity: str = "completer", **kw
    ) -> RespondWorkflowTaskCompletedResponse:
        return await self.svc.respond_workflow_task_completed(
            RespondWorkflowTaskCompletedRequest(
                namespace=NS,
                task_token=self.token,
                identity=identity,
                commands=commands,
                **kw,
            )
        )

    async def pending(self) -> dict[str, tuple[int, str]]:
        desc = await self.svc.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=NS, execution=WorkflowExecution(workflow_id=self.workflow_id)
            )
        )
        return {a.activity_id: (a.state, a.last_worker_identity) for a in desc.pending_activities}

    async def terminate(self) -> None:
        await self.svc.terminate_workflow_execution(
            TerminateWorkflowExecutionRequest(
                namespace=NS,
                workflow_execution=WorkflowExecution(workflow_id=self.workflow_id),
                reason="test over",
            )
        )


STARTED = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
SCHEDULED = PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED


async def test_eager_activity_goes_to_the_completing_worker(client: Client):
    """Same queue as the workflow, sticky attributes set, a completion identity other than
    the poll's: the activity comes back, started by the completion's identity."""
    run = await Run(client).start(poller="the-poller")
    resp = await run.complete(
        [schedule("a1", run.queue)],
        identity="the-completer",
        sticky_attributes=StickyExecutionAttributes(
            worker_task_queue=TaskQueue(
                name=f"{run.queue}-sticky",
                kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY,
                normal_name=run.queue,
            ),
            schedule_to_start_timeout=Duration(seconds=10),
        ),
    )
    assert [t.activity_id for t in resp.activity_tasks] == ["a1"]
    assert resp.activity_tasks[0].attempt == 1
    assert await run.pending() == {"a1": (STARTED, "the-completer")}
    await run.terminate()


async def test_eager_activity_on_another_task_queue(client: Client):
    """The real server does not look at the activity's task queue: an activity for another
    queue is handed to the completing worker all the same (no task reaches that queue).
    Endure only starts activities on the workflow's own queue eagerly."""
    run = await Run(client).start()
    other = unique("other-tq")
    resp = await run.complete([schedule("a1", other)])
    assert [t.activity_id for t in resp.activity_tasks] == ["a1"]
    assert await run.pending() == {"a1": (STARTED, "completer")}
    await run.terminate()


async def test_eager_activities_are_not_capped_per_workflow_task(client: Client):
    """The real server has no limit per completion (the SDKs' core asks for at most three):
    five requested, five returned. Endure returns the first three."""
    run = await Run(client).start()
    ids = [f"a{i}" for i in range(5)]
    resp = await run.complete([schedule(i, run.queue) for i in ids])
    assert [t.activity_id for t in resp.activity_tasks] == ids
    assert await run.pending() == {i: (STARTED, "completer") for i in ids}
    await run.terminate()


async def test_eager_activity_on_own_queue_after_three_on_other_queues(client: Client):
    """Three activities for another queue, then one for the workflow's queue, all asking for
    eager execution: the real server returns all four, in command order. Endure returns none,
    not even the one on its own queue: it keeps the first three requests, then drops those on
    other queues."""
    run = await Run(client).start()
    other = unique("other-tq")
    commands = [schedule(f"o{i}", other) for i in range(3)] + [schedule("own", run.queue)]
    resp = await run.complete(commands)
    assert [t.activity_id for t in resp.activity_tasks] == ["o0", "o1", "o2", "own"]
    await run.terminate()


@pytest.mark.parametrize("use_workflow_build_id", [False, True])
async def test_versioned_worker_gets_eager_activity_only_with_workflow_build_id(
    client: Client, use_workflow_build_id: bool
):
    """A completion stamped with a versioned build id (worker versioning by build id): the
    workflow now uses versioning, so an activity is started eagerly only if its command sets
    `use_workflow_build_id` (a worker is compatible with itself); otherwise it stays scheduled
    for matching. Endure hands it out either way."""
    run = await Run(client).start()
    resp = await run.complete(
        [schedule("a1", run.queue, use_workflow_build_id=use_workflow_build_id)],
        worker_version_stamp=WorkerVersionStamp(build_id="build-1", use_versioning=True),
    )
    if use_workflow_build_id:
        assert [t.activity_id for t in resp.activity_tasks] == ["a1"]
        assert await run.pending() == {"a1": (STARTED, "completer")}
    else:
        assert list(resp.activity_tasks) == []
        assert await run.pending() == {"a1": (SCHEDULED, "")}
    await run.terminate()


@pytest.mark.parametrize(
    "queue, message",
    [
        (None, "BadScheduleActivityAttributes: taskQueue is not set"),
        ("", "BadScheduleActivityAttributes: missing task queue name"),
    ],
    ids=["unset", "empty_name"],
)
async def test_schedule_activity_without_task_queue_fails_the_workflow_task(
    client: Client, queue: str | None, message: str
):
    """The SDKs always name the activity's queue; a command without one is refused: the
    completion answers INVALID_ARGUMENT and the workflow task fails with
    BAD_SCHEDULE_ACTIVITY_ATTRIBUTES. Endure schedules it on the workflow's queue (and starts
    it eagerly)."""
    run = await Run(client).start()
    with pytest.raises(RPCError) as err:
        await run.complete([schedule("a1", queue)])
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert err.value.message == message
    history = await run.svc.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=NS, execution=WorkflowExecution(workflow_id=run.workflow_id)
        )
    )
    events = history.history.events
    assert [e.event_type for e in events] == [
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    ]
    failed = events[3].workflow_task_failed_event_attributes
    assert failed.cause == (
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES
    )
    assert failed.failure.message == message
    assert failed.identity == "completer"
    await run.terminate()
