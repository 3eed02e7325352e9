"""Batch operations: StartBatchOperation, StopBatchOperation, DescribeBatchOperation,
ListBatchOperations (raw service calls), and the CLI's ``temporal workflow
terminate|cancel|signal|delete|reset|update-options --query ... --yes`` and
``temporal batch list|describe|terminate``.

Validated against the real dev server (Temporal 1.32.0, CLI 1.9.1, temporalio
1.35). What it does, and these tests check:

* A batch is a system workflow whose id is the job id (type
  ``temporal-sys-batch-workflow-protobuf``, task queue ``temporal-sys-per-ns-tq``,
  search attribute ``TemporalNamespaceDivision="TemporalBatcher"``). It is hidden
  from List/CountWorkflowExecutions unless the query names that division.
  Reusing a job id: ALREADY_EXISTS (the workflow id reuse error).
* One running batch per namespace: a second start (any job id) answers
  RESOURCE_EXHAUSTED "Max concurrent batch operations is reached"; another
  namespace is not affected.
* Targets: ``visibility_query`` xor ``executions`` (or ``target_executions``).
  For terminate, cancel, signal and update-options the query is narrowed to
  running workflows (a closed match is not counted at all); delete and reset
  take every match, closed runs included (resetting a closed run starts a new
  run). Describe echoes the query verbatim, or the executions as
  ``Execution{type: WORKFLOW, business_id, run_id}``.
* Per item: NOT_FOUND counts as a success (an unknown or closed workflow is
  "complete"); other errors count as failures (a malformed run id; a reset of a
  workflow without a completed workflow task, or of an unknown one). Duplicate
  executions are counted per entry but applied once per (workflow id, run id).
* What targets record: terminate -> reason = batch reason, identity = the
  server's own batch client (``<pid>@<host>@``), the operation's ``details`` and
  ``identity`` are dropped; cancel -> cancel request with that same client
  identity; signal -> name, input, the operation's identity and a request id;
  reset -> like ResetWorkflowExecution with reason = batch reason (base run
  terminated by "history-resetter", WorkflowTaskFailed RESET_WORKFLOW by
  "history-service"); update-options -> WorkflowExecutionOptionsUpdated with the
  operation's identity (and ``unset_versioning_override`` true).
* Describe: type as the ``*_WORKFLOW`` enum values, state RUNNING ->
  COMPLETED, or FAILED (stopped, or the job itself failed: e.g. an unknown
  search attribute in the query, accepted at start); counts are the final ones
  on COMPLETED and all zero on FAILED. Stop terminates the system workflow with
  the stop's reason and identity; stopping a closed job: NOT_FOUND "workflow
  execution already completed"; unknown job: NOT_FOUND "workflow not found for
  ID: <job>".
* List: newest first, entries carry job id, state, type, start and close time
  only; paged by ``page_size``.
* Rate: the namespace's ``worker.batcherRPS`` (dynamic config, default 50/s)
  paces the items; ``max_operations_per_second`` is accepted but not enforced
  by 1.32 (upstream temporalio/temporal#12087 proposes restoring it).
* CLI: ``workflow <op> --query`` calls StartBatchOperation with a random UUID
  job id, identity ``temporal-cli:<user>@<host>`` and default reason
  ``Requested from CLI by <user>``, prints ``Started batch for job ID: <id>``
  and does not wait; ``batch terminate`` calls StopBatchOperation.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import socket
import time
import uuid
from typing import Any

import pytest
import pytest_asyncio
from google.protobuf.empty_pb2 import Empty
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio import workflow
from temporalio.api.batch.v1 import (
    BatchOperationCancellation,
    BatchOperationDeletion,
    BatchOperationReset,
    BatchOperationSignal,
    BatchOperationTermination,
    BatchOperationUpdateWorkflowExecutionOptions,
)
from temporalio.api.common.v1 import (
    Execution,
    Payloads,
    Priority,
    ResetOptions,
    WorkflowExecution,
)
from temporalio.api.enums.v1 import (
    BatchOperationState,
    BatchOperationType,
    EventType,
    ExecutionType,
    ResetReapplyType,
    ResetType,
    WorkflowExecutionStatus,
    WorkflowTaskFailedCause,
)
from temporalio.api.workflow.v1 import WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeBatchOperationRequest,
    DescribeBatchOperationResponse,
    GetWorkflowExecutionHistoryRequest,
    ListBatchOperationsRequest,
    ListWorkflowExecutionsRequest,
    StartBatchOperationRequest,
    StopBatchOperationRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from conftest import EXTRA_NAMESPACE, new_worker, start_server, target, unique
from endure_testing.cli import Cli, kv_lines
from endure_testing.servers import ServerProcess
from history_golden import event_names, events_of, wait_for_events

NS = "default"
BATCH_DEADLINE_S = 30
VISIBILITY_DEADLINE_S = 20
RESULT_TIMEOUT_S = 30

S = WorkflowExecutionStatus
BT = BatchOperationType
ST = BatchOperationState
RUNNING = ST.BATCH_OPERATION_STATE_RUNNING
COMPLETED = ST.BATCH_OPERATION_STATE_COMPLETED
FAILED = ST.BATCH_OPERATION_STATE_FAILED

# The identity the server's own batch client uses toward the targets (the Go SDK
# default, "<pid>@<hostname>@"): terminate and cancel record it, not the
# operation's identity.
BATCHER_CLIENT_IDENTITY = re.compile(r"\d+@[^@]+@")

CONV = DataConverter.default.payload_converter


# ---------------------------------------------------------------- workflows


@workflow.defn(name="BatchTarget")
class BatchTarget:
    """Collects ``poke`` signals (each as the list of its arguments) until ``finish``."""

    def __init__(self) -> None:
        self.pokes: list[list[Any]] = []
        self.done = False

    @workflow.signal(name="poke")
    def poke(self, *args: Any) -> None:
        self.pokes.append(list(args))

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> list:
        await workflow.wait_condition(lambda: self.done)
        return self.pokes


# ---------------------------------------------------------------- helpers


async def start_batch(client: Client, job_id: str | None = None, namespace: str = NS, **kw) -> str:
    job_id = job_id or unique("batch")
    await client.workflow_service.start_batch_operation(
        StartBatchOperationRequest(namespace=namespace, job_id=job_id, **kw)
    )
    return job_id


async def describe(client: Client, job_id: str, namespace: str = NS) -> DescribeBatchOperationResponse:
    return await client.workflow_service.describe_batch_operation(
        DescribeBatchOperationRequest(namespace=namespace, job_id=job_id)
    )


async def wait_done(
    client: Client, job_id: str, namespace: str = NS, timeout: float = BATCH_DEADLINE_S
) -> DescribeBatchOperationResponse:
    """Until the batch leaves RUNNING; its final description."""
    deadline = time.monotonic() + timeout
    while True:
        d = await describe(client, job_id, namespace)
        if d.state != RUNNING:
            return d
        if time.monotonic() > deadline:
            pytest.fail(f"batch {job_id} still running after {timeout}s: {d}")
        await asyncio.sleep(0.1)


async def run_batch(client: Client, **kw) -> DescribeBatchOperationResponse:
    """Start a batch and wait until it is done."""
    return await wait_done(client, await start_batch(client, **kw), kw.get("namespace", NS))


async def wait_idle(client: Client, namespace: str = NS) -> None:
    """Until no batch of the namespace is running (only one may run at a time)."""
    deadline = time.monotonic() + BATCH_DEADLINE_S
    while True:
        listed = await client.workflow_service.list_batch_operations(
            ListBatchOperationsRequest(namespace=namespace)
        )
        running = [i.job_id for i in listed.operation_info if i.state == RUNNING]
        if not running:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"batches still running in {namespace}: {running}")
        await asyncio.sleep(0.1)


async def count(client: Client, query: str) -> int:
    resp = await client.workflow_service.count_workflow_executions(
        CountWorkflowExecutionsRequest(namespace=NS, query=query)
    )
    return resp.count


async def wait_visible(client: Client, query: str, n: int) -> None:
    """Until visibility counts exactly ``n`` executions for ``query`` (it lags)."""
    deadline = time.monotonic() + VISIBILITY_DEADLINE_S
    while True:
        got = await count(client, query)
        if got == n:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"visibility counts {got} for {query!r}, expected {n}")
        await asyncio.sleep(0.1)


async def start_targets(client: Client, task_queue: str, n: int, prefix: str = "bt") -> list[WorkflowHandle]:
    handles = [
        await client.start_workflow(BatchTarget.run, id=unique(prefix), task_queue=task_queue)
        for _ in range(n)
    ]
    for h in handles:
        await wait_for_events(h, [])
    return handles


async def completed_target(client: Client, task_queue: str) -> WorkflowHandle:
    (h,) = await start_targets(client, task_queue, 1, prefix="bt-done")
    await h.signal(BatchTarget.finish)
    await asyncio.wait_for(h.result(), RESULT_TIMEOUT_S)
    return h


async def wait_history_has(handle: WorkflowHandle, name: str) -> list:
    """Until the history holds an event of type ``name`` (without ``EVENT_TYPE_``)."""
    deadline = time.monotonic() + RESULT_TIMEOUT_S
    while True:
        events = list((await handle.fetch_history()).events)
        if name in event_names(events):
            return events
        if time.monotonic() > deadline:
            pytest.fail(f"{handle.id} has no {name}: {event_names(events)}")
        await asyncio.sleep(0.05)


async def history(client: Client, workflow_id: str, run_id: str = ""):
    return list((await client.get_workflow_handle(workflow_id, run_id=run_id or None).fetch_history()).events)


async def current_run(client: Client, workflow_id: str):
    return (await client.get_workflow_handle(workflow_id).describe()).raw_description.workflow_execution_info


def decode(payloads) -> list:
    return [CONV.from_payload(p) for p in payloads]


def ghosts(n: int, prefix: str = "ghost") -> list[WorkflowExecution]:
    """Executions that do not exist: NOT_FOUND for every item, which counts as a success
    and still takes a token of the namespace's batch rate."""
    tag = uuid.uuid4().hex[:8]
    return [WorkflowExecution(workflow_id=f"{prefix}-{tag}-{i}") for i in range(n)]


async def rpc_error(awaitable) -> RPCError:
    with pytest.raises(RPCError) as info:
        await awaitable
    return info.value


def duration_s(d: DescribeBatchOperationResponse) -> float:
    return (d.close_time.ToNanoseconds() - d.start_time.ToNanoseconds()) / 1e9


@pytest_asyncio.fixture(autouse=True)
async def no_running_batch(client: Client):
    """Each test starts with no batch running in the default namespace."""
    await wait_idle(client)
    yield


# ---------------------------------------------------------------- operations


async def test_terminate_by_query(client: Client, task_queue: str):
    async with new_worker(client, task_queue, [BatchTarget]):
        done = await completed_target(client, task_queue)
        targets = await start_targets(client, task_queue, 3)
        query = f'TaskQueue="{task_queue}"'
        await wait_visible(client, query + ' AND ExecutionStatus="Running"', 3)
        await wait_visible(client, query, 4)

        before = time.time()
        job = await start_batch(
            client,
            visibility_query=query,
            reason="batch terminate reason",
            termination_operation=BatchOperationTermination(
                identity="term-identity",
                details=Payloads(payloads=[CONV.to_payload("ignored details")]),
            ),
        )
        d = await wait_done(client, job)

    assert d.operation_type == BT.BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW
    assert d.job_id == job
    assert d.state == COMPLETED
    assert before - 5 < d.start_time.ToSeconds() <= d.close_time.ToSeconds() < time.time() + 5
    assert d.start_time.ToNanoseconds() <= d.close_time.ToNanoseconds()
    # The completed workflow matches the query but is not counted: terminate only
    # targets running workflows.
    assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (3, 3, 0)
    assert d.identity == "term-identity"
    assert d.reason == "batch terminate reason"
    assert d.query == query  # verbatim, without the running-only narrowing
    assert list(d.executions) == []

    for h in targets:
        events = await history(client, h.id)
        assert event_names(events)[-1] == "WORKFLOW_EXECUTION_TERMINATED"
        term = events[-1].workflow_execution_terminated_event_attributes
        assert term.reason == "batch terminate reason"
        # Neither the operation's identity nor its details reach the target.
        assert BATCHER_CLIENT_IDENTITY.fullmatch(term.identity), term.identity
        assert not term.HasField("details")
        assert (await current_run(client, h.id)).status == S.WORKFLOW_EXECUTION_STATUS_TERMINATED
    assert (await current_run(client, done.id)).status == S.WORKFLOW_EXECUTION_STATUS_COMPLETED


async def test_cancel_by_executions_list(client: Client, task_queue: str):
    async with new_worker(client, task_queue, [BatchTarget]):
        a, b, untouched = await start_targets(client, task_queue, 3)
        b_run = (await b.describe()).run_id
        d = await run_batch(
            client,
            executions=[WorkflowExecution(workflow_id=a.id), WorkflowExecution(workflow_id=b.id, run_id=b_run)],
            reason="batch cancel reason",
            cancellation_operation=BatchOperationCancellation(identity="cancel-identity"),
        )
        for h in (a, b):
            await wait_history_has(h, "WORKFLOW_EXECUTION_CANCELED")

        assert d.operation_type == BT.BATCH_OPERATION_TYPE_CANCEL_WORKFLOW
        assert d.state == COMPLETED
        assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (2, 2, 0)
        assert d.identity == "cancel-identity"
        assert d.reason == "batch cancel reason"
        assert d.query == ""
        assert [(e.type, e.business_id, e.run_id) for e in d.executions] == [
            (ExecutionType.EXECUTION_TYPE_WORKFLOW, a.id, ""),
            (ExecutionType.EXECUTION_TYPE_WORKFLOW, b.id, b_run),
        ]

        for h in (a, b):
            events = await history(client, h.id)
            (requested,) = events_of(events, "WORKFLOW_EXECUTION_CANCEL_REQUESTED")
            attrs = requested.workflow_execution_cancel_requested_event_attributes
            # The request names the server's batch client, not the operation's identity;
            # the batch reason is not carried.
            assert BATCHER_CLIENT_IDENTITY.fullmatch(attrs.identity), attrs.identity
            assert attrs.cause == ""
            assert (await current_run(client, h.id)).status == S.WORKFLOW_EXECUTION_STATUS_CANCELED
        assert (await current_run(client, untouched.id)).status == S.WORKFLOW_EXECUTION_STATUS_RUNNING
        await untouched.signal(BatchTarget.finish)
        assert await asyncio.wait_for(untouched.result(), RESULT_TIMEOUT_S) == []


async def test_signal_with_input_by_query(client: Client, task_queue: str):
    async with new_worker(client, task_queue, [BatchTarget]):
        await completed_target(client, task_queue)
        targets = await start_targets(client, task_queue, 2)
        query = f'TaskQueue="{task_queue}"'
        await wait_visible(client, query + ' AND ExecutionStatus="Running"', 2)
        await wait_visible(client, query, 3)

        d = await run_batch(
            client,
            visibility_query=query,
            reason="batch signal reason",
            signal_operation=BatchOperationSignal(
                signal="poke",
                input=Payloads(payloads=[CONV.to_payload("hello"), CONV.to_payload(42)]),
                identity="signal-identity",
            ),
        )
        assert d.operation_type == BT.BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW
        assert d.state == COMPLETED
        # The closed match is not signalled and not counted.
        assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (2, 2, 0)
        assert (d.identity, d.reason, d.query) == ("signal-identity", "batch signal reason", query)

        request_ids = set()
        for h in targets:
            events = await wait_for_events(h, ["WORKFLOW_EXECUTION_SIGNALED"])
            (sig,) = events_of(events, "WORKFLOW_EXECUTION_SIGNALED")
            attrs = sig.workflow_execution_signaled_event_attributes
            assert attrs.signal_name == "poke"
            assert decode(attrs.input.payloads) == ["hello", 42]
            assert attrs.identity == "signal-identity"
            assert attrs.request_id
            request_ids.add(attrs.request_id)
            await h.signal(BatchTarget.finish)
            assert await asyncio.wait_for(h.result(), RESULT_TIMEOUT_S) == [["hello", 42]]
        assert len(request_ids) == 2


async def test_item_outcomes_missing_closed_duplicate_and_bad_run_id(client: Client, task_queue: str):
    """NOT_FOUND is a success (unknown or closed workflow); a malformed run id is a failure;
    a duplicate entry counts twice but signals once (same workflow id and run id)."""
    async with new_worker(client, task_queue, [BatchTarget]):
        done = await completed_target(client, task_queue)
        (live,) = await start_targets(client, task_queue, 1)
        live_run = (await live.describe()).run_id
        d = await run_batch(
            client,
            executions=[
                WorkflowExecution(workflow_id=unique("never-started")),
                WorkflowExecution(workflow_id=done.id),
                WorkflowExecution(workflow_id=live.id),
                WorkflowExecution(workflow_id=live.id),
                WorkflowExecution(workflow_id=live.id, run_id=live_run),
                WorkflowExecution(workflow_id=live.id, run_id="not-a-run-id"),
            ],
            reason="outcomes",
            signal_operation=BatchOperationSignal(signal="poke", identity="outcomes"),
        )
        assert d.state == COMPLETED
        assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (6, 5, 1)
        assert len(d.executions) == 6

        await live.signal(BatchTarget.finish)
        assert await asyncio.wait_for(live.result(), RESULT_TIMEOUT_S) == [[], []]
    signals = events_of(await history(client, live.id), "WORKFLOW_EXECUTION_SIGNALED")
    pokes = [s for s in signals if s.workflow_execution_signaled_event_attributes.signal_name == "poke"]
    assert len(pokes) == 2
    done_signals = events_of(await history(client, done.id), "WORKFLOW_EXECUTION_SIGNALED")
    assert [s.workflow_execution_signaled_event_attributes.signal_name for s in done_signals] == ["finish"]


async def test_delete_by_query_includes_closed(client: Client, task_queue: str):
    async with new_worker(client, task_queue, [BatchTarget]):
        await completed_target(client, task_queue)
        targets = await start_targets(client, task_queue, 2)
        query = f'TaskQueue="{task_queue}"'
        await wait_visible(client, query, 3)
        d = await run_batch(
            client,
            visibility_query=query,
            reason="batch delete reason",
            deletion_operation=BatchOperationDeletion(identity="delete-identity"),
        )
    assert d.operation_type == BT.BATCH_OPERATION_TYPE_DELETE_WORKFLOW
    assert d.state == COMPLETED
    # Delete is not narrowed to running workflows: the completed one counts too.
    assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (3, 3, 0)
    assert (d.identity, d.reason) == ("delete-identity", "batch delete reason")
    for h in targets:
        err = await rpc_error(h.describe())
        assert err.status == RPCStatusCode.NOT_FOUND
        assert err.message == f"workflow not found for ID: {h.id}"


async def test_reset_first_workflow_task_by_query(client: Client, task_queue: str):
    async with new_worker(client, task_queue, [BatchTarget]):
        done = await completed_target(client, task_queue)
        targets = await start_targets(client, task_queue, 2)
        for h in targets:
            await h.signal(BatchTarget.poke, "a")
            await wait_for_events(h, ["WORKFLOW_EXECUTION_SIGNALED"])
        query = f'TaskQueue="{task_queue}"'
        await wait_visible(client, query, 3)
        bases = {h.id: (await h.describe()).run_id for h in [*targets, done]}

        d = await run_batch(
            client,
            visibility_query=query,
            reason="batch reset reason",
            reset_operation=BatchOperationReset(
                identity="reset-identity", reset_type=ResetType.RESET_TYPE_FIRST_WORKFLOW_TASK
            ),
        )
        assert d.operation_type == BT.BATCH_OPERATION_TYPE_RESET_WORKFLOW
        assert d.state == COMPLETED
        # Reset is not narrowed to running workflows: the completed one is reset too.
        assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (3, 3, 0)
        assert (d.identity, d.reason) == ("reset-identity", "batch reset reason")

        for h in [*targets, done]:
            base_run = bases[h.id]
            info = await current_run(client, h.id)
            new_run = info.execution.run_id
            assert new_run != base_run
            new = client.get_workflow_handle(h.id, run_id=new_run)
            if h is done:
                # The completed run was reset too: its new run re-applies "finish" and
                # completes again.
                assert await asyncio.wait_for(new.result(), RESULT_TIMEOUT_S) == []
                events = await history(client, h.id, new_run)
            else:
                assert info.status == S.WORKFLOW_EXECUTION_STATUS_RUNNING
                base_events = await history(client, h.id, base_run)
                assert event_names(base_events)[-1] == "WORKFLOW_EXECUTION_TERMINATED"
                term = base_events[-1].workflow_execution_terminated_event_attributes
                assert (term.reason, term.identity) == ("batch reset reason", "history-resetter")
                events = await wait_for_events(new, ["WORKFLOW_TASK_FAILED"])

            assert event_names(events)[:4] == [
                "WORKFLOW_EXECUTION_STARTED",
                "WORKFLOW_TASK_SCHEDULED",
                "WORKFLOW_TASK_STARTED",
                "WORKFLOW_TASK_FAILED",
            ]
            failed = events[3].workflow_task_failed_event_attributes
            assert failed.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
            assert failed.failure.message == "batch reset reason"
            assert failed.identity == "history-service"
            assert (failed.base_run_id, failed.new_run_id) == (base_run, new_run)
            assert events[0].workflow_execution_started_event_attributes.original_execution_run_id == base_run

            # Default reapply: the signals after the reset point come back.
            signals = [
                e.workflow_execution_signaled_event_attributes
                for e in events_of(events, "WORKFLOW_EXECUTION_SIGNALED")
            ]
            if h is done:
                assert [s.signal_name for s in signals] == ["finish"]
            else:
                assert [(s.signal_name, decode(s.input.payloads)) for s in signals] == [("poke", ["a"])]
                await new.signal(BatchTarget.finish)
                assert await asyncio.wait_for(new.result(), RESULT_TIMEOUT_S) == [["a"]]


async def test_reset_last_workflow_task_and_reapply_choice(client: Client, task_queue: str):
    """reset_type LAST_WORKFLOW_TASK with reapply NONE drops a signal that came after the
    last completed workflow task; ResetOptions(last_workflow_task, reapply SIGNAL) keeps it."""
    async with new_worker(client, task_queue, [BatchTarget]):
        plain, with_options = await start_targets(client, task_queue, 2)
        for h in (plain, with_options):
            await h.signal(BatchTarget.poke, "a")
            await wait_for_events(h, ["WORKFLOW_EXECUTION_SIGNALED"])
    # No worker now: "b" waits after the last completed workflow task.
    for h in (plain, with_options):
        await h.signal(BatchTarget.poke, "b")
    bases = {}
    for h in (plain, with_options):
        events = await history(client, h.id)
        assert event_names(events)[-2:] == ["WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_TASK_SCHEDULED"]
        last_completed = max(e.event_id for e in events_of(events, "WORKFLOW_TASK_COMPLETED"))
        bases[h.id] = ((await h.describe()).run_id, last_completed, events)

    d1 = await run_batch(
        client,
        executions=[WorkflowExecution(workflow_id=plain.id)],
        reason="reset last, reapply none",
        reset_operation=BatchOperationReset(
            reset_type=ResetType.RESET_TYPE_LAST_WORKFLOW_TASK,
            reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_NONE,
        ),
    )
    d2 = await run_batch(
        client,
        executions=[WorkflowExecution(workflow_id=with_options.id)],
        reason="reset last, reapply signals",
        reset_operation=BatchOperationReset(
            options=ResetOptions(
                last_workflow_task=Empty(),
                reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_SIGNAL,
            )
        ),
    )
    for d in (d1, d2):
        assert d.state == COMPLETED
        assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (1, 1, 0)

    for h, reason, reapplied in (
        (plain, "reset last, reapply none", []),
        (with_options, "reset last, reapply signals", [["b"]]),
    ):
        base_run, last_completed, base_events = bases[h.id]
        info = await current_run(client, h.id)
        assert info.execution.run_id != base_run
        events = await history(client, h.id, info.execution.run_id)
        # The base's events before its last WorkflowTaskCompleted, then the failed task.
        assert event_names(events[: last_completed - 1]) == event_names(base_events[: last_completed - 1])
        failed = events[last_completed - 1]
        assert event_names([failed]) == ["WORKFLOW_TASK_FAILED"]
        assert failed.workflow_task_failed_event_attributes.failure.message == reason
        after = events_of(events[last_completed:], "WORKFLOW_EXECUTION_SIGNALED")
        assert [decode(s.workflow_execution_signaled_event_attributes.input.payloads) for s in after] == reapplied
        term = (await history(client, h.id, base_run))[-1].workflow_execution_terminated_event_attributes
        assert (term.reason, term.identity) == (reason, "history-resetter")

    async with new_worker(client, task_queue, [BatchTarget]):
        for h, expected in ((plain, [["a"]]), (with_options, [["a"], ["b"]])):
            current = client.get_workflow_handle(h.id)
            await current.signal(BatchTarget.finish)
            assert await asyncio.wait_for(current.result(), RESULT_TIMEOUT_S) == expected


async def test_update_workflow_options_by_query(client: Client, task_queue: str):
    async with new_worker(client, task_queue, [BatchTarget]):
        done = await completed_target(client, task_queue)
        targets = await start_targets(client, task_queue, 2)
        query = f'TaskQueue="{task_queue}"'
        await wait_visible(client, query + ' AND ExecutionStatus="Running"', 2)
        await wait_visible(client, query, 3)
        d = await run_batch(
            client,
            visibility_query=query,
            reason="batch options reason",
            update_workflow_options_operation=BatchOperationUpdateWorkflowExecutionOptions(
                identity="options-identity",
                workflow_execution_options=WorkflowExecutionOptions(priority=Priority(priority_key=3)),
                update_mask=FieldMask(paths=["priority"]),
            ),
        )
        assert d.operation_type == BT.BATCH_OPERATION_TYPE_UPDATE_WORKFLOW_EXECUTION_OPTIONS
        assert d.state == COMPLETED
        assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (2, 2, 0)
        assert (d.identity, d.reason) == ("options-identity", "batch options reason")
        for h in targets:
            assert (await current_run(client, h.id)).priority.priority_key == 3
            events = await history(client, h.id)
            assert event_names(events)[-1] == "WORKFLOW_EXECUTION_OPTIONS_UPDATED"
            attrs = events[-1].workflow_execution_options_updated_event_attributes
            assert attrs.identity == "options-identity"
            assert attrs.priority.priority_key == 3
            assert attrs.unset_versioning_override is True
            await h.signal(BatchTarget.finish)
            await asyncio.wait_for(h.result(), RESULT_TIMEOUT_S)
        assert (await current_run(client, done.id)).priority.priority_key == 0


async def test_target_executions(client: Client, task_queue: str):
    """The newer ``target_executions`` (typed Execution) works like ``executions``; a
    non-workflow type is refused for a workflow operation."""
    async with new_worker(client, task_queue, [BatchTarget]):
        (h,) = await start_targets(client, task_queue, 1)
        run_id = (await h.describe()).run_id
        target = Execution(type=ExecutionType.EXECUTION_TYPE_WORKFLOW, business_id=h.id, run_id=run_id)
        d = await run_batch(
            client, target_executions=[target], reason="typed", termination_operation=BatchOperationTermination()
        )
    assert (d.state, d.total_operation_count, d.complete_operation_count) == (COMPLETED, 1, 1)
    assert list(d.executions) == [target]
    assert (await current_run(client, h.id)).status == S.WORKFLOW_EXECUTION_STATUS_TERMINATED

    err = await rpc_error(
        start_batch(
            client,
            executions=[WorkflowExecution(workflow_id=h.id)],
            target_executions=[target],
            reason="both",
            termination_operation=BatchOperationTermination(),
        )
    )
    assert (err.status, err.message) == (
        RPCStatusCode.INVALID_ARGUMENT,
        "visibility query, executions, and target executions are mutually exclusive",
    )
    for kind, name in ((ExecutionType.EXECUTION_TYPE_ACTIVITY, "Activity"), (ExecutionType.EXECUTION_TYPE_UNSPECIFIED, "Unspecified")):
        err = await rpc_error(
            start_batch(
                client,
                target_executions=[Execution(type=kind, business_id=h.id)],
                reason="wrong type",
                termination_operation=BatchOperationTermination(),
            )
        )
        assert (err.status, err.message) == (
            RPCStatusCode.INVALID_ARGUMENT,
            f"target_executions[0] has type {name}, but operation "
            "*workflowservice.StartBatchOperationRequest_TerminationOperation requires Workflow",
        )


async def test_failures_are_counted(client: Client):
    """Reset of a workflow that never completed a workflow task, and of one that does not
    exist, fail (unlike NOT_FOUND on terminate/cancel/signal/delete/update-options)."""
    no_worker = await client.start_workflow(BatchTarget.run, id=unique("no-worker"), task_queue=unique("no-worker-tq"))
    d = await run_batch(
        client,
        executions=[WorkflowExecution(workflow_id=no_worker.id), WorkflowExecution(workflow_id=unique("never-started"))],
        reason="doomed resets",
        reset_operation=BatchOperationReset(reset_type=ResetType.RESET_TYPE_FIRST_WORKFLOW_TASK),
    )
    assert d.state == COMPLETED  # the job completes; its items failed
    assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (2, 0, 2)
    assert (await current_run(client, no_worker.id)).execution.run_id == no_worker.result_run_id

    d = await run_batch(
        client,
        executions=[WorkflowExecution(workflow_id=no_worker.id, run_id="bad")],
        reason="bad run id",
        termination_operation=BatchOperationTermination(),
    )
    assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (1, 0, 1)
    assert d.identity == ""
    await no_worker.terminate("cleanup")


# ---------------------------------------------------------------- describe / list / visibility


async def test_list_batch_operations(client: Client):
    first = await run_batch(client, executions=ghosts(1), reason="first", signal_operation=BatchOperationSignal(signal="s"))
    second = await run_batch(client, executions=ghosts(1), reason="second", cancellation_operation=BatchOperationCancellation())

    listed = await client.workflow_service.list_batch_operations(ListBatchOperationsRequest(namespace=NS))
    ids = [i.job_id for i in listed.operation_info]
    assert ids.index(second.job_id) < ids.index(first.job_id)  # newest first
    by_id = {i.job_id: i for i in listed.operation_info}
    for d in (first, second):
        info = by_id[d.job_id]
        assert info.state == COMPLETED
        assert info.operation_type == d.operation_type
        # Visibility keeps microseconds; Describe the exact times.
        assert abs(info.start_time.ToNanoseconds() - d.start_time.ToNanoseconds()) < 1_000_000
        assert abs(info.close_time.ToNanoseconds() - d.close_time.ToNanoseconds()) < 1_000_000
    assert by_id[first.job_id].operation_type == BT.BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW
    assert by_id[second.job_id].operation_type == BT.BATCH_OPERATION_TYPE_CANCEL_WORKFLOW

    page1 = await client.workflow_service.list_batch_operations(ListBatchOperationsRequest(namespace=NS, page_size=1))
    assert [i.job_id for i in page1.operation_info] == [second.job_id]
    assert page1.next_page_token
    page2 = await client.workflow_service.list_batch_operations(
        ListBatchOperationsRequest(namespace=NS, page_size=1, next_page_token=page1.next_page_token)
    )
    assert [i.job_id for i in page2.operation_info] == [first.job_id]


async def test_batch_workflow_is_hidden_from_plain_visibility(client: Client):
    d = await run_batch(client, executions=ghosts(1), reason="hidden", signal_operation=BatchOperationSignal(signal="s"))
    job = d.job_id
    division = f'TemporalNamespaceDivision="TemporalBatcher" AND WorkflowId="{job}"'
    deadline = time.monotonic() + VISIBILITY_DEADLINE_S
    while True:
        found = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=NS, query=division)
        )
        if found.executions and found.executions[0].status == S.WORKFLOW_EXECUTION_STATUS_COMPLETED:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"batch workflow {job} not listed as completed: {found}")
        await asyncio.sleep(0.1)
    (info,) = found.executions
    assert info.type.name == "temporal-sys-batch-workflow-protobuf"
    assert info.task_queue == "temporal-sys-per-ns-tq"

    for query in (f'WorkflowId="{job}"', ""):
        listed = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=NS, query=query)
        )
        assert job not in [e.execution.workflow_id for e in listed.executions]
    assert await count(client, f'WorkflowId="{job}"') == 0
    assert await count(client, division) == 1

    # A job id is a workflow id: reusing it is the id-reuse error.
    err = await rpc_error(
        start_batch(client, job_id=job, executions=ghosts(1), reason="again", signal_operation=BatchOperationSignal(signal="s"))
    )
    assert err.status == RPCStatusCode.ALREADY_EXISTS
    assert err.message.startswith(f"Workflow execution already finished. WorkflowId: {job}, RunId: ")


# ---------------------------------------------------------------- errors


async def test_start_validation_errors(client: Client):
    term = BatchOperationTermination()
    query = 'WorkflowType="Nothing"'
    cases = [
        (
            dict(job_id="j", reason="r", visibility_query=query, executions=[WorkflowExecution(workflow_id="w")], termination_operation=term),
            RPCStatusCode.INVALID_ARGUMENT,
            "visibility query, executions, and target executions are mutually exclusive",
        ),
        (
            dict(job_id="j", reason="r", termination_operation=term),
            RPCStatusCode.INVALID_ARGUMENT,
            "must provide required parameters: BatchType,Reason,Namespace, AND one of (Query OR Executions OR TargetExecutions)",
        ),
        (
            dict(job_id="j", visibility_query=query, termination_operation=term),
            RPCStatusCode.INVALID_ARGUMENT,
            "must provide required parameters: BatchType,Reason,Namespace, AND one of (Query OR Executions OR TargetExecutions)",
        ),
        (
            dict(job_id="j", reason="r", visibility_query=query),
            RPCStatusCode.INVALID_ARGUMENT,
            "must provide required parameters: BatchType,Reason,Namespace, AND one of (Query OR Executions OR TargetExecutions)",
        ),
        (
            dict(reason="r", visibility_query=query, termination_operation=term),
            RPCStatusCode.INVALID_ARGUMENT,
            "JobId is not set on request.",
        ),
        (
            dict(job_id="j", reason="r", visibility_query="Foo bar baz", termination_operation=term),
            RPCStatusCode.INVALID_ARGUMENT,
            "invalid visibility query: syntax error at position 34 near 'bar'",
        ),
        (
            dict(job_id="j", reason="r", visibility_query=query, signal_operation=BatchOperationSignal()),
            RPCStatusCode.INVALID_ARGUMENT,
            "must provide signal name",
        ),
        (
            dict(job_id="j", reason="r", visibility_query=query, reset_operation=BatchOperationReset()),
            RPCStatusCode.INVALID_ARGUMENT,
            "unknown batch reset type Unspecified",
        ),
        (
            dict(
                job_id="j",
                reason="r",
                visibility_query=query,
                update_workflow_options_operation=BatchOperationUpdateWorkflowExecutionOptions(),
            ),
            RPCStatusCode.INVALID_ARGUMENT,
            "must provide UpdateOptions",
        ),
    ]
    for kw, code, message in cases:
        err = await rpc_error(client.workflow_service.start_batch_operation(StartBatchOperationRequest(namespace=NS, **kw)))
        assert (err.status, err.message) == (code, message), kw

    err = await rpc_error(
        client.workflow_service.start_batch_operation(
            StartBatchOperationRequest(job_id="j", reason="r", visibility_query=query, termination_operation=term)
        )
    )
    assert (err.status, err.message) == (RPCStatusCode.INVALID_ARGUMENT, "Namespace is empty.")
    err = await rpc_error(
        client.workflow_service.start_batch_operation(
            StartBatchOperationRequest(namespace="no-such-namespace", job_id="j", reason="r", visibility_query=query, termination_operation=term)
        )
    )
    assert (err.status, err.message) == (RPCStatusCode.NOT_FOUND, "Namespace no-such-namespace is not found.")
    # Nothing was started by the rejected requests.
    listed = await client.workflow_service.list_batch_operations(ListBatchOperationsRequest(namespace=NS))
    assert "j" not in [i.job_id for i in listed.operation_info]


async def test_unknown_search_attribute_fails_the_job(client: Client):
    """A query that parses but names an unknown search attribute is accepted; the job then
    fails (state FAILED, no counts)."""
    job = await start_batch(
        client,
        visibility_query='NoSuchAttribute="x"',
        reason="bad attribute",
        termination_operation=BatchOperationTermination(identity="bad-attr"),
    )
    d = await wait_done(client, job)
    assert d.state == FAILED
    assert d.HasField("close_time")
    assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (0, 0, 0)
    assert (d.identity, d.reason, d.query) == ("bad-attr", "bad attribute", 'NoSuchAttribute="x"')


async def test_describe_and_stop_unknown_job(client: Client):
    job = unique("no-such-job")
    err = await rpc_error(describe(client, job))
    assert (err.status, err.message) == (RPCStatusCode.NOT_FOUND, f"workflow not found for ID: {job}")
    err = await rpc_error(
        client.workflow_service.stop_batch_operation(StopBatchOperationRequest(namespace=NS, job_id=job, reason="r"))
    )
    assert (err.status, err.message) == (RPCStatusCode.NOT_FOUND, f"workflow not found for ID: {job}")
    err = await rpc_error(describe(client, ""))
    assert (err.status, err.message) == (RPCStatusCode.INVALID_ARGUMENT, "JobId is not set on request.")
    err = await rpc_error(
        client.workflow_service.stop_batch_operation(StopBatchOperationRequest(namespace=NS, job_id="", reason="r"))
    )
    assert (err.status, err.message) == (RPCStatusCode.INVALID_ARGUMENT, "JobId is not set on request.")
    err = await rpc_error(client.workflow_service.stop_batch_operation(StopBatchOperationRequest(namespace=NS, job_id=job)))
    assert (err.status, err.message) == (RPCStatusCode.INVALID_ARGUMENT, "Reason is not set on request.")


async def test_one_batch_per_namespace_and_stop(client: Client, server: ServerProcess):
    # 500 unknown executions at the namespace's default 50 items/s: ~9 s of work.
    job = await start_batch(
        client,
        executions=ghosts(500),
        reason="long batch",
        signal_operation=BatchOperationSignal(signal="s", identity="long-identity"),
    )
    try:
        d = await describe(client, job)
        assert d.state == RUNNING
        assert not d.HasField("close_time")
        assert (d.identity, d.reason, len(d.executions)) == ("long-identity", "long batch", 500)

        for other_job in (unique("second"), job):
            err = await rpc_error(
                start_batch(client, job_id=other_job, executions=ghosts(1), reason="second", termination_operation=BatchOperationTermination())
            )
            assert (err.status, err.message) == (RPCStatusCode.RESOURCE_EXHAUSTED, "Max concurrent batch operations is reached")

        # The limit is per namespace.
        other_ns = await Client.connect(server.address, namespace=EXTRA_NAMESPACE)
        elsewhere = await run_batch(
            other_ns, namespace=EXTRA_NAMESPACE, executions=ghosts(1), reason="elsewhere", termination_operation=BatchOperationTermination()
        )
        assert elsewhere.state == COMPLETED

        d = await describe(client, job)
        assert d.state == RUNNING
        stopped = await client.workflow_service.stop_batch_operation(
            StopBatchOperationRequest(namespace=NS, job_id=job, reason="enough", identity="stopper")
        )
        assert stopped.ByteSize() == 0
    finally:
        await wait_done(client, job)

    d = await describe(client, job)
    assert d.state == FAILED
    assert d.HasField("close_time") and d.close_time.ToNanoseconds() >= d.start_time.ToNanoseconds()
    if target() == "temporal":
        # The real server's stopped job reports no counts (its progress is not kept).
        assert (d.total_operation_count, d.complete_operation_count, d.failure_operation_count) == (0, 0, 0)
    else:
        # Endure keeps a stopped job's progress (issue 13: a job reports its counts): what was
        # done before the stop, not all of it.
        assert d.total_operation_count == 500
        assert 0 < d.complete_operation_count < 500
        assert d.failure_operation_count == 0
    assert (d.identity, d.reason) == ("long-identity", "long batch")
    # Its system workflow was terminated with the stop's reason and identity.
    hist = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(namespace=NS, execution=WorkflowExecution(workflow_id=job))
    )
    last = hist.history.events[-1]
    assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
    attrs = last.workflow_execution_terminated_event_attributes
    assert (attrs.reason, attrs.identity) == ("enough", "stopper")

    err = await rpc_error(
        client.workflow_service.stop_batch_operation(StopBatchOperationRequest(namespace=NS, job_id=job, reason="again"))
    )
    assert (err.status, err.message) == (RPCStatusCode.NOT_FOUND, "workflow execution already completed")
    # The namespace is free again.
    after = await run_batch(client, executions=ghosts(1), reason="after stop", signal_operation=BatchOperationSignal(signal="s"))
    assert after.state == COMPLETED


async def test_rate_of_a_namespace(client: Client):
    """Items are paced by the namespace's batch rate (default 50/s, after a burst).
    max_operations_per_second is accepted but 1.32 does not enforce it; Endure does, as
    issue 13 asks ("rate limit per second as the request says")."""
    d = await run_batch(client, executions=ghosts(150), reason="paced", signal_operation=BatchOperationSignal(signal="s"))
    assert (d.state, d.complete_operation_count) == (COMPLETED, 150)
    assert 1.0 <= duration_s(d) < 20, duration_s(d)

    d = await run_batch(
        client,
        executions=ghosts(10),
        reason="asked for 1/s",
        max_operations_per_second=1,
        signal_operation=BatchOperationSignal(signal="s"),
    )
    assert (d.state, d.complete_operation_count) == (COMPLETED, 10)
    if target() == "temporal":
        assert duration_s(d) < 5, duration_s(d)  # 10 items at 1/s would take 9 s
    else:
        assert duration_s(d) >= 8.5, duration_s(d)  # 10 items at 1/s: 9 s


async def test_dynamic_config_batcher_rps(tmp_path):
    """``worker.batcherRPS`` sets a namespace's batch rate: 20 items at 5/s take ~3 s."""
    srv = await asyncio.to_thread(start_server, tmp_path, "batcher-rps", dynamic_config={"worker.batcherRPS": "5"})
    try:
        c = await Client.connect(srv.address, namespace=NS)
        d = await run_batch(c, executions=ghosts(20), reason="slow namespace", signal_operation=BatchOperationSignal(signal="s"))
        assert (d.state, d.complete_operation_count) == (COMPLETED, 20)
        assert 2.0 <= duration_s(d) < 15, duration_s(d)
    finally:
        await asyncio.to_thread(srv.stop)


# ---------------------------------------------------------------- CLI


class BatchCli(Cli):
    async def start_batch(self, *args: str) -> str:
        """A ``workflow <op> --query ... --yes``: the job id it printed."""
        out = (await self.run(*args, "--yes")).stdout
        m = re.search(r"^Started batch for job ID: (\S+)$", out, flags=re.M)
        assert m, out
        return m.group(1)


@pytest.fixture(scope="module")
def cli(server: ServerProcess) -> BatchCli:
    return BatchCli(server)


def cli_user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def cli_identity() -> str:
    return f"temporal-cli:{cli_user()}@{socket.gethostname()}"


async def test_cli_terminate_by_query_and_batch_describe_list(cli: BatchCli, client: Client, task_queue: str):
    async with new_worker(client, task_queue, [BatchTarget]):
        targets = await start_targets(client, task_queue, 2)
    query = f'TaskQueue="{task_queue}"'
    await wait_visible(client, query + ' AND ExecutionStatus="Running"', 2)

    out = (await cli.run("workflow", "terminate", "--query", query, "--reason", "cli terminate", "--yes")).stdout
    assert f'Start batch against workflows matching query "{query.replace(chr(34), chr(92) + chr(34))}"? y/N yes' in out
    m = re.search(r"^Started batch for job ID: (\S+)$", out, flags=re.M)
    assert m, out
    job = m.group(1)
    assert uuid.UUID(job).version == 4  # the CLI's job id: a random UUID
    d = await wait_done(client, job)
    assert d.operation_type == BT.BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW
    assert (d.state, d.total_operation_count, d.complete_operation_count) == (COMPLETED, 2, 2)
    assert (d.identity, d.reason, d.query) == (cli_identity(), "cli terminate", query)
    for h in targets:
        term = (await history(client, h.id))[-1].workflow_execution_terminated_event_attributes
        assert term.reason == "cli terminate"
        assert BATCHER_CLIENT_IDENTITY.fullmatch(term.identity), term.identity

    doc = await cli.json("batch", "describe", "--job-id", job)
    assert doc["operationType"] == "BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW"
    assert doc["jobId"] == job
    assert doc["state"] == "BATCH_OPERATION_STATE_COMPLETED"
    assert (doc["totalOperationCount"], doc["completeOperationCount"]) == ("2", "2")
    assert "failureOperationCount" not in doc  # zero: omitted
    assert (doc["identity"], doc["reason"], doc["query"]) == (cli_identity(), "cli terminate", query)
    assert doc["startTime"] and doc["closeTime"]

    text = (await cli.run("batch", "describe", "--job-id", job)).stdout
    kv = kv_lines(text)
    assert kv["State"] == "Completed"
    assert kv["Type"] == "TerminateWorkflow"
    assert kv["CompletedCount"] == "2/2"
    assert kv["FailureCount"] == "0/2"
    assert "StartTime" in kv and "CloseTime" in kv

    listed = await cli.json("batch", "list", "--limit", "1")
    assert listed == [
        {
            "jobId": job,
            "state": "BATCH_OPERATION_STATE_COMPLETED",
            "startTime": listed[0]["startTime"],
            "closeTime": listed[0]["closeTime"],
            "operationType": "BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW",
        }
    ]
    text = (await cli.run("batch", "list", "--limit", "1")).stdout
    assert re.search(r"^\s+JobId\s+State\s+StartTime\s+CloseTime\s*$", text, flags=re.M), text
    assert re.search(rf"^\s+{re.escape(job)}\s+Completed\s", text, flags=re.M), text


async def test_cli_signal_cancel_reset_delete_by_query(cli: BatchCli, client: Client, task_queue: str):
    query = f'TaskQueue="{task_queue}"'
    async with new_worker(client, task_queue, [BatchTarget]):
        targets = await start_targets(client, task_queue, 2)
        await wait_visible(client, query + ' AND ExecutionStatus="Running"', 2)

        job = await cli.start_batch("workflow", "signal", "--query", query, "--name", "poke", "--input", '"x"', "--reason", "cli signal")
        d = await wait_done(client, job)
        assert d.operation_type == BT.BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW
        assert (d.state, d.complete_operation_count, d.identity, d.reason) == (COMPLETED, 2, cli_identity(), "cli signal")
        for h in targets:
            events = await wait_for_events(h, ["WORKFLOW_EXECUTION_SIGNALED"])
            (sig,) = events_of(events, "WORKFLOW_EXECUTION_SIGNALED")
            attrs = sig.workflow_execution_signaled_event_attributes
            assert (attrs.signal_name, decode(attrs.input.payloads), attrs.identity) == ("poke", ["x"], cli_identity())

        bases = {h.id: (await h.describe()).run_id for h in targets}
        job = await cli.start_batch(
            "workflow", "reset", "--query", query, "--type", "FirstWorkflowTask", "--reason", "cli reset", "--reapply-exclude", "Signal"
        )
        d = await wait_done(client, job)
        assert d.operation_type == BT.BATCH_OPERATION_TYPE_RESET_WORKFLOW
        assert (d.state, d.complete_operation_count, d.reason) == (COMPLETED, 2, "cli reset")
        for h in targets:
            info = await current_run(client, h.id)
            assert info.execution.run_id != bases[h.id]
            new = client.get_workflow_handle(h.id, run_id=info.execution.run_id)
            events = await wait_for_events(new, ["WORKFLOW_TASK_FAILED"])
            failed = events_of(events, "WORKFLOW_TASK_FAILED")[0].workflow_task_failed_event_attributes
            assert failed.failure.message == "cli reset"
            # Signals excluded from re-application.
            assert events_of(events, "WORKFLOW_EXECUTION_SIGNALED") == []

        job = await cli.start_batch("workflow", "cancel", "--query", query, "--reason", "cli cancel")
        d = await wait_done(client, job)
        assert d.operation_type == BT.BATCH_OPERATION_TYPE_CANCEL_WORKFLOW
        # Only the two new runs are running; the reset's base runs are closed.
        assert (d.state, d.total_operation_count, d.complete_operation_count) == (COMPLETED, 2, 2)
        for h in targets:
            current = client.get_workflow_handle(h.id)
            await wait_history_has(current, "WORKFLOW_EXECUTION_CANCELED")
            assert (await current_run(client, h.id)).status == S.WORKFLOW_EXECUTION_STATUS_CANCELED

    await wait_visible(client, query, 4)
    job = await cli.start_batch("workflow", "delete", "--query", query, "--rps", "5")
    d = await wait_done(client, job)
    assert d.operation_type == BT.BATCH_OPERATION_TYPE_DELETE_WORKFLOW
    # Delete takes closed runs: 2 base runs + 2 reset runs. No --reason: the CLI's default.
    assert (d.state, d.total_operation_count, d.complete_operation_count) == (COMPLETED, 4, 4)
    assert d.reason == f"Requested from CLI by {cli_user()}"


async def test_cli_batch_terminate_and_errors(cli: BatchCli, client: Client, task_queue: str):
    job = await start_batch(
        client, executions=ghosts(500), reason="long cli batch", termination_operation=BatchOperationTermination()
    )
    try:
        text = (await cli.run("batch", "describe", "--job-id", job)).stdout
        assert kv_lines(text)["State"] == "Running"
        listed = await cli.json("batch", "list", "--limit", "1")
        assert [(e["jobId"], e["state"], "closeTime" in e) for e in listed] == [
            (job, "BATCH_OPERATION_STATE_RUNNING", False)
        ]

        # Another batch from the CLI is refused while this one runs.
        proc = await cli.run("workflow", "terminate", "--query", f'TaskQueue="{task_queue}"', "--yes", expect_ok=False)
        assert "Error: failed starting batch operation: Max concurrent batch operations is reached" in proc.stderr

        out = (await cli.run("batch", "terminate", "--job-id", job, "--reason", "cli stop")).stdout
        assert out.strip() == f"Terminated Batch Job '{job}'"
    finally:
        await wait_done(client, job)
    d = await describe(client, job)
    assert d.state == FAILED
    hist = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(namespace=NS, execution=WorkflowExecution(workflow_id=job))
    )
    attrs = hist.history.events[-1].workflow_execution_terminated_event_attributes
    assert (attrs.reason, attrs.identity) == ("cli stop", cli_identity())
    assert kv_lines((await cli.run("batch", "describe", "--job-id", job)).stdout)["State"] == "Failed"

    proc = await cli.run("batch", "terminate", "--job-id", job, "--reason", "again", expect_ok=False)
    assert proc.stderr.strip() == f"Error: could not find Batch Job '{job}'"
    proc = await cli.run("batch", "describe", "--job-id", "no-such-job", expect_ok=False)
    assert proc.stderr.strip() == "Error: could not find Batch Job 'no-such-job'"
