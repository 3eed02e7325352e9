"""History limits and continue-as-new suggestions, driven by dynamic config.

Each test starts its own server with ``start_server(..., dynamic_config={...})``
(``--dynamic-config-value KEY=VALUE``, the value JSON; see tests/python/README.md).
test_limits.py covers the same limits at their defaults; here they are lowered,
so the tests show the server reads them. What the real server (1.32) does, and
these tests check:

* ``limit.historyCount.suggestContinueAsNew`` (default 4096) and
  ``limit.historySize.suggestContinueAsNew`` (default 4 MiB): a
  WorkflowTaskStarted event carries ``suggest_continue_as_new`` when its own
  event id is >= the count threshold, or when its ``history_size_bytes`` is >=
  the size threshold, with ``suggest_continue_as_new_reasons``
  (HISTORY_SIZE_TOO_LARGE, TOO_MANY_HISTORY_EVENTS, in that order).
  ``history_size_bytes`` is the encoded size of the history the server has
  written before that task started: the events before it, each counted as it
  encodes inside a ``History`` message; it may lag behind the last batches
  (never further back than the previous WorkflowTaskStarted). The Python SDK
  reports that event id, size and flag as ``workflow.info()``'s
  ``get_current_history_length()``, ``get_current_history_size()`` and
  ``is_continue_as_new_suggested()``. A new run starts from zero.
* ``limit.historyCount.error`` (default 51200): an update that would leave a
  run with more events than the limit terminates it instead. The update's own
  events are dropped, a workflow task in flight is failed (cause
  FORCE_CLOSE_COMMAND, identity "history-service"), WorkflowExecutionTerminated
  follows (reason "Workflow history count exceeds limit.", identity
  "history-service"), and the RPC that made the update fails with
  INVALID_ARGUMENT and that reason. Exactly the limit is fine.
* ``limit.historySize.error`` (default 50 MiB) terminates the same way
  ("Workflow history size exceeds limit."), but judges the size already
  written: the update that crosses the limit is kept, the next one terminates.
* ``limit.blobSize.error`` (default 2 MiB): DescribeNamespace reports it in
  ``namespace_info.limits.blob_size_limit_error`` and the SDK's worker enforces
  it itself (the task fails with PAYLOADS_TOO_LARGE). The server refuses a
  payload (the encoded ``Payloads``) larger than the limit only if it is also
  larger than ``limit.blobSize.warn`` (default 512 KiB): Start and Signal with
  INVALID_ARGUMENT "Blob data size exceeds limit.", a workflow result by
  failing the task and terminating the run, an activity result by failing the
  activity (see test_limits.py for the messages). ``limit.memoSize.error`` /
  ``limit.memoSize.warn`` likewise for memos (the encoded ``Memo``): "Memo size
  exceeds limit.".
* ``limit.numPendingActivities.error`` (default 2000), and the same for child
  workflows, signals and cancel requests to other workflows
  (``limit.numPendingChildExecutions.error``, ``limit.numPendingSignals.error``,
  ``limit.numPendingCancelRequests.error``): a workflow task whose commands
  would go past the limit fails (PENDING_ACTIVITIES_LIMIT_EXCEEDED, ...), none
  of its commands kept; the run keeps running.
* ``history.maxInFlightUpdates`` (default 10): an update beyond that many
  unfinished ones is RESOURCE_EXHAUSTED; ``history.maxTotalUpdates`` (default
  2000): one beyond that many in the run is FAILED_PRECONDITION; from
  ``history.maxTotalUpdates.suggestContinueAsNewThreshold`` (default 0.9) of
  the total on, workflow tasks suggest continue-as-new.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from pathlib import Path
from typing import AsyncIterator

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import Memo, Payloads
from temporalio.api.enums.v1 import (
    SuggestContinueAsNewReason,
    WorkflowExecutionStatus,
    WorkflowTaskFailedCause,
)
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowUpdateStage
from temporalio.common import RetryPolicy
from temporalio.converter import DataConverter
from temporalio.exceptions import ActivityError, ServerError, TerminatedError
from temporalio.service import RPCError, RPCStatusCode

from conftest import new_worker, start_server, unique
from history_golden import event_names, events_of, wait_for_events, wait_for_status

RESULT_TIMEOUT_S = 20
S = WorkflowExecutionStatus
Cause = WorkflowTaskFailedCause
BY_SIZE = SuggestContinueAsNewReason.SUGGEST_CONTINUE_AS_NEW_REASON_HISTORY_SIZE_TOO_LARGE
BY_COUNT = SuggestContinueAsNewReason.SUGGEST_CONTINUE_AS_NEW_REASON_TOO_MANY_HISTORY_EVENTS
COUNT_EXCEEDED = "Workflow history count exceeds limit."
SIZE_EXCEEDED = "Workflow history size exceeds limit."
BLOB_EXCEEDED = "Blob data size exceeds limit."
RESULT_TOO_LARGE = (
    "BadScheduleActivityAttributes: "
    "CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit."
)
SERVER = "history-service"
INVALID = RPCStatusCode.INVALID_ARGUMENT
TOO_MANY_ACTIVITIES = Cause.WORKFLOW_TASK_FAILED_CAUSE_PENDING_ACTIVITIES_LIMIT_EXCEEDED


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, name: str, config: dict[str, str]) -> AsyncIterator[Client]:
    """A server of the test's own with `config` as dynamic config, and a client on it."""
    # Its readiness probe runs an event loop of its own: off this one.
    server = await asyncio.to_thread(start_server, tmp_path, name, dynamic_config=config)
    try:
        yield await Client.connect(server.address, namespace="default")
    finally:
        await asyncio.to_thread(server.stop)


def encoded_size(event: HistoryEvent) -> int:
    """What an event adds to a history's size: its encoding inside a History message."""
    return History(events=[event]).ByteSize()


def size_before(events: list[HistoryEvent], event_id: int) -> int:
    """The encoded size of the events before `event_id`."""
    return sum(encoded_size(e) for e in events if e.event_id < event_id)


def payloads_size(*values) -> int:
    converter = DataConverter.default.payload_converter
    return Payloads(payloads=[converter.to_payload(v) for v in values]).ByteSize()


def text_encoding_to(size: int, encoded=payloads_size) -> str:
    """A string whose encoding (by default a Payloads of it) is exactly `size` bytes."""
    for n in range(size, 0, -1):
        if encoded("x" * n) == size:
            return "x" * n
    raise AssertionError(f"no string encodes to {size} bytes")


def memo_size(text: str) -> int:
    converter = DataConverter.default.payload_converter
    return Memo(fields={"m": converter.to_payload(text)}).ByteSize()


def task_starts(events: list[HistoryEvent]) -> list[HistoryEvent]:
    return events_of(events, "WORKFLOW_TASK_STARTED")


async def wait_for_failed_task(handle: WorkflowHandle, timeout: float = 15) -> list[HistoryEvent]:
    """The history once it holds a WorkflowTaskFailed event."""
    deadline = asyncio.get_running_loop().time() + timeout
    names: list[str] = []
    while asyncio.get_running_loop().time() < deadline:
        events = list((await handle.fetch_history()).events)
        names = event_names(events)
        if "WORKFLOW_TASK_FAILED" in names:
            return events
        await asyncio.sleep(0.1)
    pytest.fail(f"no WorkflowTaskFailed in {handle.id} within {timeout}s: {names}")


# -- workflows and activities --------------------------------------------------


def observed() -> list:
    """What the workflow is told about its history in this task."""
    info = workflow.info()
    return [
        info.get_current_history_length(),
        info.get_current_history_size(),
        info.is_continue_as_new_suggested(),
    ]


@workflow.defn
class Ticker:
    """Ticks (a 10 ms timer a task) until continue-as-new is suggested, then continues as
    new once; the second run returns what both runs observed."""

    @workflow.run
    async def run(self, earlier: list) -> list:
        seen = []
        for _ in range(8):  # a bound, should the suggestion never come
            seen.append(observed())
            if earlier:
                break
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(args=[[seen]])
            await workflow.sleep(timedelta(milliseconds=10))
        return earlier + [seen]


@workflow.defn
class Listener:
    """Records what it observes in each task that delivers a signal; `finish` ends it."""

    def __init__(self) -> None:
        self.seen: list = []
        self.done = False

    @workflow.run
    async def run(self) -> list:
        self.seen.append(observed())
        await workflow.wait_condition(lambda: self.done)
        return self.seen

    @workflow.signal
    def note(self, text: str) -> None:
        self.seen.append(observed())

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def observations(self) -> list:
        return self.seen


@activity.defn
async def measure(text: str) -> int:
    return len(text)


@activity.defn
async def make_text(size: int) -> str:
    return "r" * size


@workflow.defn
class Pending:
    """Starts `count` activities with `text` on `queue` (nobody polls it: they stay
    pending); a `more` signal starts one more."""

    def __init__(self) -> None:
        self.more = 0

    @workflow.run
    async def run(self, count: int, queue: str, text: str) -> None:
        def start():
            return workflow.start_activity(
                measure, text, task_queue=queue, start_to_close_timeout=timedelta(minutes=5)
            )

        started = [start() for _ in range(count)]
        while True:
            await workflow.wait_condition(lambda: self.more > 0)
            self.more -= 1
            started.append(start())

    @workflow.signal
    def more_please(self) -> None:
        self.more += 1


@workflow.defn
class NeverEnds:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@workflow.defn
class Reaching:
    """Starts `count` child workflows, signals or cancel requests (to workflows that do
    not exist) in its first task."""

    @workflow.run
    async def run(self, kind: str, count: int, queue: str) -> None:
        me = workflow.info().workflow_id
        if kind == "child":
            starts = [
                workflow.start_child_workflow(NeverEnds.run, id=f"{me}-c{i}", task_queue=queue)
                for i in range(count)
            ]
            await asyncio.gather(*starts)
        else:
            handles = [
                workflow.get_external_workflow_handle(f"{me}-nobody-{i}") for i in range(count)
            ]
            calls = [h.signal("ping") if kind == "signal" else h.cancel() for h in handles]
            await asyncio.gather(*calls, return_exceptions=True)
        await workflow.wait_condition(lambda: False)


@workflow.defn
class ReturnText:
    @workflow.run
    async def run(self, size: int) -> str:
        return "w" * size


@workflow.defn
class TextFromActivity:
    @workflow.run
    async def run(self, size: int) -> int:
        text = await workflow.execute_activity(
            make_text,
            size,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return len(text)


# -- continue-as-new suggested ---------------------------------------------------


async def test_continue_as_new_suggested_at_the_history_count_threshold(tmp_path):
    """Each tick adds 5 events, so the tasks start at events 3, 8, 13: with a threshold of
    13 the third task is told (>=), and the workflow continues as new there."""
    config = {"limit.historyCount.suggestContinueAsNew": "13"}
    async with serving(tmp_path, "count-suggest", config) as client:
        task_queue = unique("tq")
        async with new_worker(client, task_queue, [Ticker]):
            handle = await client.start_workflow(
                Ticker.run, [], id=unique("ticker"), task_queue=task_queue
            )
            runs = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
        assert len(runs) == 2, f"never continued as new; the workflow observed {runs}"
        first, second = runs
        assert [(length, suggested) for length, _, suggested in first] == [
            (3, False),
            (8, False),
            (13, True),
        ], first
        # A new run counts from its own start.
        assert [(length, suggested) for length, _, suggested in second] == [(3, False)]

        first_run = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
        run1 = list((await first_run.fetch_history()).events)
        assert event_names(run1)[-1] == "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
        starts = task_starts(run1)
        assert [e.event_id for e in starts] == [3, 8, 13]
        for e, (length, size, suggested) in zip(starts, first):
            a = e.workflow_task_started_event_attributes
            assert a.suggest_continue_as_new == (e.event_id >= 13), e
            reasons = [BY_COUNT] if e.event_id >= 13 else []
            assert list(a.suggest_continue_as_new_reasons) == reasons
            # What the workflow was told is what the event says.
            assert (length, size, suggested) == (
                e.event_id,
                a.history_size_bytes,
                a.suggest_continue_as_new,
            )

        run2 = list((await client.get_workflow_handle(handle.id).fetch_history()).events)
        a = task_starts(run2)[0].workflow_task_started_event_attributes
        assert not a.suggest_continue_as_new and not a.suggest_continue_as_new_reasons


async def test_continue_as_new_suggested_by_history_size(tmp_path):
    """Signals of ~450 bytes, one task at a time, until the workflow is told. Every
    WorkflowTaskStarted: suggested exactly when its history_size_bytes reached 2000, and
    that size is the encoded size of the history written before it."""
    limit = 2000
    config = {"limit.historySize.suggestContinueAsNew": str(limit)}
    async with serving(tmp_path, "size-suggest", config) as client:
        task_queue = unique("tq")
        async with new_worker(client, task_queue, [Listener]):
            handle = await client.start_workflow(
                Listener.run, id=unique("listener"), task_queue=task_queue
            )
            await wait_for_events(handle, [])
            for i in range(1, 12):
                await handle.signal(Listener.note, "n" * 400)
                # Answered once the signal's task completed: one task a signal.
                seen = await handle.query(Listener.observations)
                assert len(seen) == i + 1, seen
                if seen[-1][2]:
                    break
            await handle.signal(Listener.finish)
            seen = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)

        events = list((await handle.fetch_history()).events)
        starts = task_starts(events)
        flags = [e.workflow_task_started_event_attributes.suggest_continue_as_new for e in starts]
        assert not flags[0] and flags[-1], flags
        previous = 0
        for e in starts:
            a = e.workflow_task_started_event_attributes
            assert a.suggest_continue_as_new == (a.history_size_bytes >= limit), e
            assert list(a.suggest_continue_as_new_reasons) == (
                [BY_SIZE] if a.history_size_bytes >= limit else []
            )
            # All of the history before this task at most; at least what was there when
            # the previous task started.
            assert size_before(events, previous) <= a.history_size_bytes, (e.event_id, previous)
            assert a.history_size_bytes <= size_before(events, e.event_id), e.event_id
            previous = e.event_id
        # The first task: the start's events, exactly.
        assert starts[0].event_id == 3
        assert starts[0].workflow_task_started_event_attributes.history_size_bytes == (
            size_before(events, 3)
        )
        # What the workflow was told, task by task (the finishing task last).
        told = {e.event_id: e.workflow_task_started_event_attributes for e in starts}
        for length, size, suggested in seen:
            assert (size, suggested) == (
                told[length].history_size_bytes,
                told[length].suggest_continue_as_new,
            )


# -- the hard limits on a history ------------------------------------------------------


async def test_history_count_error_limit_terminates_the_run(tmp_path):
    """Limit 12. A first task scheduling 8 activities leaves 12 events: fine. One scheduling
    9 would leave 13: the run is terminated instead. A signal to the run at 12 would add 2:
    refused, and that run is terminated too."""
    limit = 12
    async with serving(tmp_path, "count-error", {"limit.historyCount.error": str(limit)}) as client:
        task_queue = unique("tq")
        nobody = unique("nobody")
        async with new_worker(client, task_queue, [Pending]):
            at_limit = await client.start_workflow(
                Pending.run,
                args=[limit - 4, nobody, "a"],
                id=unique("at-limit"),
                task_queue=task_queue,
            )
            over = await client.start_workflow(
                Pending.run, args=[limit - 3, nobody, "a"], id=unique("over"), task_queue=task_queue
            )
            with pytest.raises(WorkflowFailureError) as err:
                await asyncio.wait_for(over.result(), RESULT_TIMEOUT_S)
            events = await wait_for_events(
                at_limit, ["ACTIVITY_TASK_SCHEDULED"], trailing={"ACTIVITY_TASK_SCHEDULED"}
            )

        assert isinstance(err.value.cause, TerminatedError), repr(err.value.cause)
        assert err.value.cause.message == COUNT_EXCEEDED
        events_over = list((await over.fetch_history()).events)
        assert event_names(events_over) == [
            "WORKFLOW_EXECUTION_STARTED",
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
            "WORKFLOW_TASK_FAILED",
            "WORKFLOW_EXECUTION_TERMINATED",
        ]
        failed = events_over[3].workflow_task_failed_event_attributes
        assert failed.cause == Cause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND
        assert failed.identity == SERVER
        assert (failed.scheduled_event_id, failed.started_event_id) == (2, 3)
        terminated = events_over[4].workflow_execution_terminated_event_attributes
        assert (terminated.reason, terminated.identity) == (COUNT_EXCEEDED, SERVER)
        assert not terminated.HasField("details")

        # Exactly the limit: running, every activity pending.
        assert len(events) == limit
        scheduled = ["ACTIVITY_TASK_SCHEDULED"] * (limit - 4)
        assert event_names(events)[3:] == ["WORKFLOW_TASK_COMPLETED"] + scheduled
        desc = await at_limit.describe()
        assert desc.status == S.WORKFLOW_EXECUTION_STATUS_RUNNING
        assert len(desc.raw_description.pending_activities) == limit - 4

        # Any update past it terminates the run; the signal is not kept.
        with pytest.raises(RPCError) as refused:
            await at_limit.signal("anything", "s")
        assert refused.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert refused.value.message == COUNT_EXCEEDED
        await wait_for_status(client, at_limit.id, S.WORKFLOW_EXECUTION_STATUS_TERMINATED)
        after = list((await at_limit.fetch_history()).events)
        assert event_names(after) == event_names(events) + ["WORKFLOW_EXECUTION_TERMINATED"]
        terminated = after[-1].workflow_execution_terminated_event_attributes
        assert (terminated.reason, terminated.identity) == (COUNT_EXCEEDED, SERVER)
        with pytest.raises(RPCError) as closed:
            await at_limit.signal("anything", "s")
        assert closed.value.status == RPCStatusCode.NOT_FOUND
        assert closed.value.message == "workflow execution already completed"


async def test_history_size_error_limit_terminates_on_the_next_update(tmp_path):
    """Limit 3000 bytes. The first task schedules 3 activities with 1000-character inputs,
    which takes the history past 3000 bytes: kept (the size written before it was under
    the limit). The next update, a signal, terminates the run."""
    limit = 3000
    async with serving(tmp_path, "size-error", {"limit.historySize.error": str(limit)}) as client:
        task_queue = unique("tq")
        async with new_worker(client, task_queue, [Pending]):
            handle = await client.start_workflow(
                Pending.run,
                args=[3, unique("nobody"), "i" * 1000],
                id=unique("big"),
                task_queue=task_queue,
            )
            events = await wait_for_events(
                handle, ["ACTIVITY_TASK_SCHEDULED"], trailing={"ACTIVITY_TASK_SCHEDULED"}
            )
        assert event_names(events).count("ACTIVITY_TASK_SCHEDULED") == 3
        assert size_before(events, len(events) + 1) > limit
        assert (await handle.describe()).status == S.WORKFLOW_EXECUTION_STATUS_RUNNING

        with pytest.raises(RPCError) as refused:
            await handle.signal("anything", "s")
        assert refused.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert refused.value.message == SIZE_EXCEEDED
        await wait_for_status(client, handle.id, S.WORKFLOW_EXECUTION_STATUS_TERMINATED)
        after = list((await handle.fetch_history()).events)
        assert event_names(after) == event_names(events) + ["WORKFLOW_EXECUTION_TERMINATED"]
        terminated = after[-1].workflow_execution_terminated_event_attributes
        assert (terminated.reason, terminated.identity) == (SIZE_EXCEEDED, SERVER)
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
        assert isinstance(err.value.cause, TerminatedError)
        assert err.value.cause.message == SIZE_EXCEEDED


# -- payload sizes ----------------------------------------------------------------------


async def test_lowered_blob_and_memo_limits_refuse_requests(tmp_path):
    """Blob limit 1000, memo limit 1000 (warn limits 500): reported by DescribeNamespace;
    Start and Signal take a 1000-byte payload and refuse a 1001-byte one; Start takes a
    1000-byte memo and refuses a 1001-byte one."""
    config = {
        "limit.blobSize.error": "1000",
        "limit.blobSize.warn": "500",
        "limit.memoSize.error": "1000",
        "limit.memoSize.warn": "500",
    }
    async with serving(tmp_path, "blob-rpc", config) as client:
        ns = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
        limits = ns.namespace_info.limits
        assert (limits.blob_size_limit_error, limits.memo_size_limit_error) == (1000, 1000)

        fits, too_big = text_encoding_to(1000), text_encoding_to(1001)
        queue = unique("nobody")
        handle = await client.start_workflow("Anything", fits, id=unique("fits"), task_queue=queue)
        with pytest.raises(RPCError) as err:
            await client.start_workflow("Anything", too_big, id=unique("too-big"), task_queue=queue)
        assert (err.value.status, err.value.message) == (INVALID, BLOB_EXCEEDED)

        await handle.signal("note", fits)
        with pytest.raises(RPCError) as err:
            await handle.signal("note", too_big)
        assert (err.value.status, err.value.message) == (INVALID, BLOB_EXCEEDED)
        names = event_names((await handle.fetch_history()).events)
        assert names.count("WORKFLOW_EXECUTION_SIGNALED") == 1

        memo_fits = text_encoding_to(1000, memo_size)
        memo_too_big = text_encoding_to(1001, memo_size)
        await client.start_workflow(
            "Anything", id=unique("memo-fits"), task_queue=queue, memo={"m": memo_fits}
        )
        with pytest.raises(RPCError) as err:
            await client.start_workflow(
                "Anything", id=unique("memo-too-big"), task_queue=queue, memo={"m": memo_too_big}
            )
        assert (err.value.status, err.value.message) == (INVALID, "Memo size exceeds limit.")


async def test_blob_error_limit_only_counts_above_the_warn_limit(tmp_path):
    """Only the error limit lowered (1000; the warn limit stays 512 KiB): DescribeNamespace
    reports 1000, but the server refuses only payloads over both limits."""
    async with serving(tmp_path, "blob-warn", {"limit.blobSize.error": "1000"}) as client:
        ns = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
        assert ns.namespace_info.limits.blob_size_limit_error == 1000
        task_queue = unique("nobody")
        await client.start_workflow("Anything", "x" * 5000, id=unique("5k"), task_queue=task_queue)
        with pytest.raises(RPCError) as err:
            await client.start_workflow(
                "Anything", "x" * (512 * 1024), id=unique("512k"), task_queue=task_queue
            )
        assert (err.value.status, err.value.message) == (INVALID, BLOB_EXCEEDED)


async def test_lowered_blob_limit_fails_large_results(tmp_path):
    """Blob limit 1000 (warn 500). With the SDK's own check off: a workflow result over it
    fails the task and terminates the run, an activity result over it fails the activity;
    900 characters fit. With the SDK's check on (the limit DescribeNamespace reports), the
    worker fails the task itself (PAYLOADS_TOO_LARGE) and the run keeps running."""
    config = {"limit.blobSize.error": "1000", "limit.blobSize.warn": "500"}
    async with serving(tmp_path, "blob-results", config) as client:
        task_queue = unique("tq")
        async with new_worker(
            client,
            task_queue,
            [ReturnText, TextFromActivity],
            [make_text],
            disable_payload_error_limit=True,
        ):
            small = client.execute_workflow(
                ReturnText.run, 900, id=unique("result-900"), task_queue=task_queue
            )
            assert await asyncio.wait_for(small, RESULT_TIMEOUT_S) == "w" * 900
            small = client.execute_workflow(
                TextFromActivity.run, 900, id=unique("act-900"), task_queue=task_queue
            )
            assert await asyncio.wait_for(small, RESULT_TIMEOUT_S) == 900

            handle = await client.start_workflow(
                ReturnText.run, 1000, id=unique("result-1000"), task_queue=task_queue
            )
            with pytest.raises(WorkflowFailureError) as err:
                await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
            assert isinstance(err.value.cause, TerminatedError), repr(err.value.cause)
            assert err.value.cause.message == RESULT_TOO_LARGE
            events = list((await handle.fetch_history()).events)
            assert event_names(events)[3:] == [
                "WORKFLOW_TASK_FAILED",
                "WORKFLOW_EXECUTION_TERMINATED",
            ]
            failed = events[3].workflow_task_failed_event_attributes
            assert failed.cause == Cause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES
            assert failed.failure.message == RESULT_TOO_LARGE
            terminated = events[4].workflow_execution_terminated_event_attributes
            assert (terminated.reason, terminated.identity) == (RESULT_TOO_LARGE, SERVER)

            handle = await client.start_workflow(
                TextFromActivity.run, 1000, id=unique("act-1000"), task_queue=task_queue
            )
            with pytest.raises(WorkflowFailureError) as err:
                await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
            act_err = err.value.cause
            assert isinstance(act_err, ActivityError), repr(act_err)
            assert isinstance(act_err.cause, ServerError), repr(act_err.cause)
            assert act_err.cause.message == "Complete result exceeds size limit."
            assert act_err.cause.non_retryable

        checked_queue = unique("tq-checked")
        async with new_worker(client, checked_queue, [ReturnText]):
            handle = await client.start_workflow(
                ReturnText.run, 1000, id=unique("sdk-checked"), task_queue=checked_queue
            )
            events = await wait_for_failed_task(handle)
        assert event_names(events)[:4] == [
            "WORKFLOW_EXECUTION_STARTED",
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
            "WORKFLOW_TASK_FAILED",
        ]
        failed = events[3].workflow_task_failed_event_attributes
        assert failed.cause == Cause.WORKFLOW_TASK_FAILED_CAUSE_PAYLOADS_TOO_LARGE
        assert (await handle.describe()).status == S.WORKFLOW_EXECUTION_STATUS_RUNNING
        await handle.terminate(reason="test done")


# -- pending limits ---------------------------------------------------------------------


async def test_lowered_pending_activities_limit(tmp_path):
    """Limit 3: a first task scheduling 4 activities fails, nothing of it kept; 3 are
    accepted, and a later task scheduling a 4th fails."""
    limit = 3
    message = (
        "PendingActivitiesLimitExceeded: the number of pending activities, 3, "
        "has reached the per-workflow limit of 3"
    )
    config = {"limit.numPendingActivities.error": str(limit)}
    async with serving(tmp_path, "pending-acts", config) as client:
        task_queue = unique("tq")
        nobody = unique("nobody")
        async with new_worker(client, task_queue, [Pending]):
            over = await client.start_workflow(
                Pending.run, args=[limit + 1, nobody, "a"], id=unique("over"), task_queue=task_queue
            )
            at_limit = await client.start_workflow(
                Pending.run, args=[limit, nobody, "a"], id=unique("at-limit"), task_queue=task_queue
            )

            events = await wait_for_failed_task(over)
            names = event_names(events)
            assert names[:4] == [
                "WORKFLOW_EXECUTION_STARTED",
                "WORKFLOW_TASK_SCHEDULED",
                "WORKFLOW_TASK_STARTED",
                "WORKFLOW_TASK_FAILED",
            ]
            assert "ACTIVITY_TASK_SCHEDULED" not in names
            failed = events[3].workflow_task_failed_event_attributes
            assert failed.cause == TOO_MANY_ACTIVITIES
            assert failed.failure.message == message
            desc = await over.describe()
            assert desc.status == S.WORKFLOW_EXECUTION_STATUS_RUNNING
            assert len(desc.raw_description.pending_activities) == 0

            events = await wait_for_events(
                at_limit, ["ACTIVITY_TASK_SCHEDULED"], trailing={"ACTIVITY_TASK_SCHEDULED"}
            )
            assert event_names(events).count("ACTIVITY_TASK_SCHEDULED") == limit
            await at_limit.signal(Pending.more_please)
            events = await wait_for_failed_task(at_limit)
            names = event_names(events)
            assert names.count("ACTIVITY_TASK_SCHEDULED") == limit
            failed = events_of(events, "WORKFLOW_TASK_FAILED")[0]
            failed = failed.workflow_task_failed_event_attributes
            assert failed.cause == TOO_MANY_ACTIVITIES
            assert failed.failure.message == message
            desc = await at_limit.describe()
            assert desc.status == S.WORKFLOW_EXECUTION_STATUS_RUNNING
            assert len(desc.raw_description.pending_activities) == limit
            await over.terminate(reason="test done")
            await at_limit.terminate(reason="test done")


OTHER_PENDING_LIMITS = {
    # kind: (key, cause, message)
    "child": (
        "limit.numPendingChildExecutions.error",
        Cause.WORKFLOW_TASK_FAILED_CAUSE_PENDING_CHILD_WORKFLOWS_LIMIT_EXCEEDED,
        "PendingChildWorkflowsLimitExceeded: the number of pending child workflow "
        "executions, 2, has reached the per-workflow limit of 2",
    ),
    "signal": (
        "limit.numPendingSignals.error",
        Cause.WORKFLOW_TASK_FAILED_CAUSE_PENDING_SIGNALS_LIMIT_EXCEEDED,
        "PendingSignalsLimitExceeded: the number of pending signals to external "
        "workflows, 2, has reached the per-workflow limit of 2",
    ),
    "cancel": (
        "limit.numPendingCancelRequests.error",
        Cause.WORKFLOW_TASK_FAILED_CAUSE_PENDING_REQUEST_CANCEL_LIMIT_EXCEEDED,
        "PendingRequestCancelLimitExceeded: the number of pending requests to cancel "
        "external workflows, 2, has reached the per-workflow limit of 2",
    ),
}


async def test_lowered_pending_limits_of_other_commands(tmp_path):
    """Limits 2 for child workflows, signals and cancel requests to other workflows: two in
    the first task are accepted, three fail the task, none of its commands kept."""
    config = {key: "2" for key, _, _ in OTHER_PENDING_LIMITS.values()}
    async with serving(tmp_path, "pending-others", config) as client:
        task_queue = unique("tq")
        nobody = unique("nobody")
        async with new_worker(client, task_queue, [Reaching]):
            runs = {}
            for kind in OTHER_PENDING_LIMITS:
                for count in (2, 3):
                    runs[kind, count] = await client.start_workflow(
                        Reaching.run,
                        args=[kind, count, nobody],
                        id=unique(f"{kind}-{count}"),
                        task_queue=task_queue,
                    )
            for kind, (_, cause, message) in OTHER_PENDING_LIMITS.items():
                events = await wait_for_failed_task(runs[kind, 3])
                names = event_names(events)
                assert names[:4] == [
                    "WORKFLOW_EXECUTION_STARTED",
                    "WORKFLOW_TASK_SCHEDULED",
                    "WORKFLOW_TASK_STARTED",
                    "WORKFLOW_TASK_FAILED",
                ], (kind, names)
                failed = events[3].workflow_task_failed_event_attributes
                assert failed.cause == cause, kind
                assert failed.failure.message == message
                assert not any(n.endswith("_INITIATED") for n in names), names

                events = await wait_for_events(runs[kind, 2], [], trailing=REACHING_EVENTS)
                names = event_names(events)
                assert names[3] == "WORKFLOW_TASK_COMPLETED", (kind, names)
                assert sum(n.endswith("_INITIATED") for n in names) == 2, names
                assert "WORKFLOW_TASK_FAILED" not in names
            for handle in runs.values():
                await handle.terminate(reason="test done")


# What follows the first task of a Reaching run that is within its limit.
REACHING_EVENTS = {
    "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
    "START_CHILD_WORKFLOW_EXECUTION_FAILED",
    "CHILD_WORKFLOW_EXECUTION_STARTED",
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED",
    "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED",
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED",
}


# --- update limits ------------------------------------------------------------------------


@workflow.defn
class UpdateCounter:
    """Updates `hold` wait until `release`; `bump` returns at once. `suggested` tells whether the
    current workflow task suggested continue-as-new."""

    def __init__(self) -> None:
        self.released = False
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update
    async def hold(self) -> None:
        await workflow.wait_condition(lambda: self.released)

    @workflow.update
    def bump(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.signal
    def finish(self) -> None:
        self.done = True


async def test_in_flight_and_total_update_limits(tmp_path):
    """history.maxInFlightUpdates refuses an update beyond that many unfinished ones
    (RESOURCE_EXHAUSTED, concurrent limit); history.maxTotalUpdates refuses one beyond that many
    in the run (FAILED_PRECONDITION); past the suggest threshold's share of the total the
    workflow is told to continue as new."""
    config = {
        "history.maxInFlightUpdates": "2",
        "history.maxTotalUpdates": "4",
        "history.maxTotalUpdates.suggestContinueAsNewThreshold": "0.75",
    }
    async with serving(tmp_path, "updates", config) as client:
        task_queue = unique("tq")
        async with new_worker(client, task_queue, [UpdateCounter]):
            handle = await client.start_workflow(
                UpdateCounter.run, id=unique("updates"), task_queue=task_queue
            )
            held = [
                await handle.start_update(
                    UpdateCounter.hold, wait_for_stage=WorkflowUpdateStage.ACCEPTED, id=f"hold-{i}"
                )
                for i in range(2)
            ]
            with pytest.raises(RPCError) as err:
                await handle.start_update(
                    UpdateCounter.hold, wait_for_stage=WorkflowUpdateStage.ACCEPTED, id="hold-2"
                )
            assert err.value.status == RPCStatusCode.RESOURCE_EXHAUSTED
            assert err.value.message == (
                "limit on number of concurrent in-flight updates has been reached (2)"
            )
            await handle.signal(UpdateCounter.release)
            for h in held:
                await asyncio.wait_for(h.result(), RESULT_TIMEOUT_S)
            # Two done; the third makes 3 of 4 (>= 0.75 of the total): suggested.
            assert await handle.execute_update(UpdateCounter.bump, id="bump-0") is True
            await handle.execute_update(UpdateCounter.bump, id="bump-1")
            with pytest.raises(RPCError) as err:
                await handle.execute_update(UpdateCounter.bump, id="bump-2")
            assert err.value.status == RPCStatusCode.FAILED_PRECONDITION
            assert err.value.message.startswith(
                "The limit on the total number of distinct updates in this workflow has been "
                "reached (4). Make sure any duplicate updates share an Update ID"
            ), err.value.message
            await handle.signal(UpdateCounter.finish)
            await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)


async def test_lowered_search_attribute_limits(tmp_path):
    """frontend.searchAttributesNumberOfKeysLimit / SizeOfValueLimit: a start setting more, or
    larger, search attributes than the lowered limits is refused. (How the total size is counted
    differs: the real server counts more than names and values; not asserted here.)"""
    from temporalio.common import SearchAttributeKey, TypedSearchAttributes, SearchAttributePair

    config = {
        "frontend.searchAttributesNumberOfKeysLimit": "2",
        "frontend.searchAttributesSizeOfValueLimit": "20",
        "frontend.searchAttributesTotalSizeLimit": "100000",
    }
    declared = {"LimA": "Keyword", "LimB": "Keyword", "LimC": "Keyword"}
    server = await asyncio.to_thread(
        start_server, tmp_path, "sa-limits", search_attributes=declared, dynamic_config=config
    )
    try:
        client = await Client.connect(server.address, namespace="default")
        keys = [SearchAttributeKey.for_keyword(name) for name in declared]

        async def start(values: list[str]) -> None:
            pairs = [SearchAttributePair(k, v) for k, v in zip(keys, values)]
            await client.start_workflow(
                "NoSuchWorkflow",
                id=unique("sa"),
                task_queue=unique("tq"),
                search_attributes=TypedSearchAttributes(pairs),
            )

        await start(["a", "b"])
        for values, expected in [
            (["a", "b", "c"], "number of search attributes 3 exceeds limit 2"),
            (["x" * 30], "search attribute LimA value size"),
        ]:
            with pytest.raises(RPCError) as err:
                await start(values)
            assert err.value.status == RPCStatusCode.INVALID_ARGUMENT, values
            assert expected in err.value.message, (values, err.value.message)
    finally:
        await asyncio.to_thread(server.stop)
