"""Visibility: List/Count workflow executions, the query language, search
attributes (system and custom), memo, pagination, the legacy list APIs and
deletion, through the Python SDK, the raw gRPC stubs and the `temporal` CLI.

Validated against the real Temporal dev server (``ENDURE_TEST_TARGET=temporal``,
Temporal 1.32 / CLI 1.9.1, SQLite visibility store). The oracle's exact
answers (full error texts included) are recorded in ``VISIBILITY_ORACLE.md``
next to this file; the tests assert the status code and a substring that
identifies the problem (the attribute, the operator, the bad literal) rather
than Temporal's incidental Go wording.

Visibility is eventually consistent on the real server (a just-completed
workflow can still be listed as Running for ~50 ms), so every test polls
(``eventually``) until list/count reflect what it wrote before asserting.

Every test isolates its workflows with a unique marker (a task queue, which
doubles as the workflow-id prefix). Custom search attributes are registered
once per module (``Vis*`` names) in the ``default`` namespace; the per-type
limit test uses the extra namespace, which nothing else touches.

The module starts its own server (same as conftest's, plus, on the real
server only: 1 s queue ack intervals so that DeleteWorkflowExecution of a
closed run takes seconds instead of up to a minute, as Temporal's own
functional tests do "for DeleteWorkflowExecution tests"; and the per-namespace
visibility rate limit (10 requests/s by default) lifted, as the CLI's own test
suite does).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Iterator

import pytest
from temporalio import workflow
from temporalio.api.common.v1 import (
    Payload,
    SearchAttributes,
    WorkflowExecution,
    WorkflowType,
)
from temporalio.api.enums.v1 import (
    EventType,
    IndexedValueType,
    WorkflowExecutionStatus,
    WorkflowTaskFailedCause,
)
from temporalio.api.filter.v1 import (
    StartTimeFilter,
    StatusFilter,
    WorkflowExecutionFilter,
    WorkflowTypeFilter,
)
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
    RemoveSearchAttributesRequest,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DeleteWorkflowExecutionRequest,
    GetSearchAttributesRequest,
    ListClosedWorkflowExecutionsRequest,
    ListOpenWorkflowExecutionsRequest,
    ListWorkflowExecutionsRequest,
    ScanWorkflowExecutionsRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus as Status
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from conftest import EXTRA_NAMESPACE, new_worker, start_server, unique
from endure_testing.servers import ServerProcess, temporal_bin
from google.protobuf.timestamp_pb2 import Timestamp

NS = "default"
VISIBLE_TIMEOUT_S = 10.0
RESULT_TIMEOUT_S = 20.0
# Closed-run deletion is asynchronous on the real server (4-20 s observed with
# the 1 s ack intervals below).
DELETE_TIMEOUT_S = 40.0
CLI_TIMEOUT_S = 60
RPC_TIMEOUT = timedelta(seconds=10)


# ---------------------------------------------------------------- server


# For the real dev server only.
ORACLE_FLAGS = [
    "--dynamic-config-value",
    'history.visibilityProcessorUpdateAckInterval="1s"',
    "--dynamic-config-value",
    'history.transferProcessorUpdateAckInterval="1s"',
    # Visibility APIs are rate limited to 10/s per namespace by default
    # (RESOURCE_EXHAUSTED "namespace rate limit exceeded"); the CLI's own test
    # suite lifts it the same way.
    "--dynamic-config-value",
    "frontend.namespaceRPS.visibility=10000",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path_factory.mktemp("visibility-server"), temporal_args=ORACLE_FLAGS)
    try:
        yield srv
    finally:
        srv.stop()


# ---------------------------------------------------------------- workflows


@workflow.defn(name="VisQuick")
class VisQuick:
    @workflow.run
    async def run(self, x: str) -> str:
        return x


@workflow.defn(name="VisWait")
class VisWait:
    """Stays Running until the ``finish`` signal."""

    def __init__(self) -> None:
        self.done = False

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return "finished"


@workflow.defn(name="VisFail")
class VisFail:
    @workflow.run
    async def run(self) -> str:
        raise ApplicationError("boom", non_retryable=True)


@workflow.defn(name="VisParent")
class VisParent:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_child_workflow(
            VisQuick.run, "child", id=workflow.info().workflow_id + "-child"
        )


# Custom search attributes registered by this module (default namespace).
KW = SearchAttributeKey.for_keyword("VisKeyword")
TEXT = SearchAttributeKey.for_text("VisText")
INT = SearchAttributeKey.for_int("VisInt")
DOUBLE = SearchAttributeKey.for_float("VisDouble")
BOOL = SearchAttributeKey.for_bool("VisBool")
DT = SearchAttributeKey.for_datetime("VisDatetime")
KWL = SearchAttributeKey.for_keyword_list("VisKeywordList")
CUSTOM_ATTRS = {
    "VisKeyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "VisText": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "VisInt": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "VisDouble": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "VisBool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "VisDatetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "VisKeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}


@workflow.defn(name="VisUpsertAndFinish")
class VisUpsertAndFinish:
    @workflow.run
    async def run(self, kw: str, n: int) -> str:
        workflow.upsert_search_attributes([KW.value_set(kw), INT.value_set(n)])
        return "upserted"


@workflow.defn(name="VisUpsertSteps")
class VisUpsertSteps:
    """Upserts, waits for ``go``, then unsets one attribute, sets another and
    replaces the memo."""

    def __init__(self) -> None:
        self.go = False

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    @workflow.run
    async def run(self, tag: str) -> str:
        workflow.upsert_search_attributes(
            [KW.value_set(tag), KWL.value_set(["a", "b"]), BOOL.value_set(True)]
        )
        await workflow.wait_condition(lambda: self.go)
        workflow.upsert_search_attributes([KW.value_unset(), INT.value_set(7)])
        workflow.upsert_memo({"stage": "two"})
        return "done"


@workflow.defn(name="VisBadUpsert")
class VisBadUpsert:
    @workflow.run
    async def run(self) -> str:
        workflow.upsert_search_attributes(
            [SearchAttributeKey.for_keyword("VisNoSuchAttribute").value_set("x")]
        )
        return "unreachable"


ALL_WORKFLOWS = [
    VisQuick,
    VisWait,
    VisFail,
    VisParent,
    VisUpsertAndFinish,
    VisUpsertSteps,
    VisBadUpsert,
]


# ---------------------------------------------------------------- helpers


async def eventually(
    check: Callable[[], Awaitable[Any]], what: str, timeout: float = VISIBLE_TIMEOUT_S
) -> Any:
    """Retry an async check until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
        await asyncio.sleep(0.2)


async def list_ids(client: Client, query: str) -> list[str]:
    """Workflow ids in the server's order (may repeat for several runs)."""
    return [w.id async for w in client.list_workflows(query, rpc_timeout=RPC_TIMEOUT)]


async def id_set(client: Client, query: str) -> set[str]:
    return set(await list_ids(client, query))


async def expect_rpc_error(call: Awaitable[Any]) -> RPCError:
    try:
        result = await call
    except RPCError as e:
        return e
    pytest.fail(f"the call should have failed; it answered: {str(result)[:300]!r}")


async def expect_invalid_query(client: Client, query: str, *substrings: str) -> RPCError:
    """ListWorkflowExecutions(query) must answer INVALID_ARGUMENT whose message
    contains every substring (case-insensitive)."""
    err = await expect_rpc_error(
        client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=NS, query=query), timeout=RPC_TIMEOUT
        )
    )
    assert err.status == RPCStatusCode.INVALID_ARGUMENT, (query, err.status, err.message)
    for s in substrings:
        assert s.lower() in err.message.lower(), (query, s, err.message)
    return err


def sa(*pairs: tuple[SearchAttributeKey, Any]) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(k, v) for k, v in pairs])


def by_id(suffixes: list[str], prefix: str) -> set[str]:
    return {f"{prefix}-{s}" for s in suffixes}


async def wait_listed(
    client: Client, query: str, expected: dict[str, Status], timeout: float = VISIBLE_TIMEOUT_S
) -> None:
    """Poll until list(query) shows exactly ``expected`` (id -> status)."""

    async def check():
        got = {w.id: w.status async for w in client.list_workflows(query)}
        return got == expected or None

    await eventually(check, f"list {query!r} == {expected}", timeout)


_custom_registered = False


async def ensure_custom_attributes(client: Client) -> None:
    """Register the module's Vis* custom search attributes (once)."""
    global _custom_registered
    if _custom_registered:
        return
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=NS), timeout=RPC_TIMEOUT
    )
    missing = {k: v for k, v in CUSTOM_ATTRS.items() if k not in listed.custom_attributes}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=NS, search_attributes=missing),
            timeout=RPC_TIMEOUT,
        )

    async def registered():
        r = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=NS), timeout=RPC_TIMEOUT
        )
        return all(r.custom_attributes.get(k) == v for k, v in CUSTOM_ATTRS.items())

    await eventually(registered, "custom search attributes registered")
    _custom_registered = True


# Populations shared by several tests (created on first use; only plain
# strings/timestamps are cached, so they survive the per-test event loops).
_populations: dict[str, dict[str, Any]] = {}


async def statuses_population(client: Client) -> dict[str, Any]:
    """Workflows in several states under one unique task queue ``p``:

    p-run (Running, started first), p-done (Completed), p-fail (Failed),
    p-term (Terminated), p-parent (Completed) and its child p-parent-child
    (Completed, ParentWorkflowId = p-parent).
    """
    if "statuses" in _populations:
        return _populations["statuses"]
    p = unique("vis-st")
    before = datetime.now(timezone.utc)
    async with new_worker(client, p, ALL_WORKFLOWS):
        run = await client.start_workflow(VisWait.run, id=f"{p}-run", task_queue=p)
        done = await client.start_workflow(VisQuick.run, "x", id=f"{p}-done", task_queue=p)
        await asyncio.wait_for(done.result(), RESULT_TIMEOUT_S)
        fail = await client.start_workflow(VisFail.run, id=f"{p}-fail", task_queue=p)
        with pytest.raises(Exception):
            await asyncio.wait_for(fail.result(), RESULT_TIMEOUT_S)
        term = await client.start_workflow(VisWait.run, id=f"{p}-term", task_queue=p)
        await term.terminate("by test")
        parent = await client.start_workflow(VisParent.run, id=f"{p}-parent", task_queue=p)
        assert await asyncio.wait_for(parent.result(), RESULT_TIMEOUT_S) == "child"
        await wait_listed(
            client,
            f"TaskQueue = '{p}'",
            {
                f"{p}-run": Status.RUNNING,
                f"{p}-done": Status.COMPLETED,
                f"{p}-fail": Status.FAILED,
                f"{p}-term": Status.TERMINATED,
                f"{p}-parent": Status.COMPLETED,
                f"{p}-parent-child": Status.COMPLETED,
            },
        )
    after = datetime.now(timezone.utc)
    _populations["statuses"] = {
        "p": p,
        "before": before,
        "after": after,
        "run_ids": {
            "run": run.first_execution_run_id,
            "done": done.first_execution_run_id,
            "parent": parent.first_execution_run_id,
        },
    }
    return _populations["statuses"]


DT1 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
DT2 = datetime(2024, 3, 2, 12, 0, 0, tzinfo=timezone.utc)


async def typed_population(client: Client) -> str:
    """Four completed workflows with custom attributes, task queue ``p``:

    p-1: all seven types set at start; p-2: all set, other values;
    p-3: none; p-4: VisKeyword='gamma', VisInt=42 upserted by the workflow.
    """
    if "typed" in _populations:
        return _populations["typed"]["p"]
    await ensure_custom_attributes(client)
    p = unique("vis-ty")
    async with new_worker(client, p, ALL_WORKFLOWS):
        await client.execute_workflow(
            VisQuick.run,
            "1",
            id=f"{p}-1",
            task_queue=p,
            search_attributes=sa(
                (KW, "alpha"),
                (TEXT, "Hello big World"),
                (INT, 5),
                (DOUBLE, 1.5),
                (BOOL, True),
                (DT, DT1),
                (KWL, ["red", "green"]),
            ),
        )
        await client.execute_workflow(
            VisQuick.run,
            "2",
            id=f"{p}-2",
            task_queue=p,
            search_attributes=sa(
                (KW, "beta"),
                (TEXT, "small world"),
                (INT, -3),
                (DOUBLE, 2.0),
                (BOOL, False),
                (DT, DT2),
                (KWL, ["blue"]),
            ),
        )
        await client.execute_workflow(VisQuick.run, "3", id=f"{p}-3", task_queue=p)
        await client.execute_workflow(
            VisUpsertAndFinish.run, args=["gamma", 42], id=f"{p}-4", task_queue=p
        )
        await wait_listed(
            client,
            f"TaskQueue = '{p}'",
            {f"{p}-{i}": Status.COMPLETED for i in (1, 2, 3, 4)},
        )
        # The upserted values must be indexed too before anyone queries them.
        await eventually(
            lambda: _eq(id_set(client, f"TaskQueue = '{p}' AND VisInt = 42"), {f"{p}-4"}),
            "upserted VisInt indexed",
        )
    _populations["typed"] = {"p": p}
    return p


async def _eq(coro: Awaitable[Any], expected: Any) -> bool:
    return (await coro) == expected


# ---------------------------------------------------------------- CLI helper


class Cli:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.binary = temporal_bin()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        self.env["NO_COLOR"] = "1"

    def _run(self, args: tuple[str, ...]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.binary, *args, "--address", self.server.address, "--color", "never"],
            capture_output=True,
            text=True,
            env=self.env,
            stdin=subprocess.DEVNULL,
            timeout=CLI_TIMEOUT_S,
        )

    async def run(self, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
        proc = await asyncio.to_thread(self._run, args)
        shown = " ".join(args)
        if expect_ok:
            assert proc.returncode == 0, (
                f"`temporal {shown}` exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        else:
            assert proc.returncode != 0, f"`temporal {shown}` should have failed:\n{proc.stdout}"
        return proc

    async def json(self, *args: str) -> Any:
        out = (await self.run(*args, "-o", "json")).stdout
        try:
            return json.loads(out)
        except json.JSONDecodeError as e:  # pragma: no cover - diagnostic
            raise AssertionError(f"`temporal {' '.join(args)} -o json` printed:\n{out}") from e


@pytest.fixture(scope="module")
def cli(server: ServerProcess) -> Cli:
    return Cli(server)


# ================================================================ system attributes


async def test_equality_on_keyword_system_attributes(client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    tq = f"TaskQueue = '{p}'"
    assert await id_set(client, f"{tq} AND WorkflowType = 'VisFail'") == {f"{p}-fail"}
    assert await id_set(client, f"{tq} AND WorkflowType = 'VisQuick'") == {f"{p}-done", f"{p}-parent-child"}
    assert await id_set(client, f"{tq} AND WorkflowType != 'VisQuick'") == by_id(
        ["run", "fail", "term", "parent"], p
    )
    assert await id_set(client, f"{tq} AND WorkflowType <> 'VisQuick'") == by_id(
        ["run", "fail", "term", "parent"], p
    )
    assert await id_set(client, f"WorkflowId = '{p}-done'") == {f"{p}-done"}
    assert await id_set(client, f"RunId = '{pop['run_ids']['done']}'") == {f"{p}-done"}
    assert await id_set(client, f"{tq} AND RunId != '{pop['run_ids']['done']}'") == by_id(
        ["run", "fail", "term", "parent", "parent-child"], p
    )
    # Values are case-sensitive for `=`; attribute names are case-sensitive.
    assert await id_set(client, f"WorkflowId = '{p.upper()}-DONE'") == set()
    assert await id_set(client, "TaskQueue = 'no-such-task-queue-vis'") == set()
    # Double-quoted string literals are accepted like single-quoted ones.
    assert await id_set(client, f'WorkflowId = "{p}-done"') == {f"{p}-done"}


async def test_execution_status_values(client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    tq = f"TaskQueue = '{p}'"
    expected = {
        "Running": {f"{p}-run"},
        "Completed": by_id(["done", "parent", "parent-child"], p),
        "Failed": {f"{p}-fail"},
        "Terminated": {f"{p}-term"},
        "Canceled": set(),
        "TimedOut": set(),
        "ContinuedAsNew": set(),
    }
    for name, ids in expected.items():
        assert await id_set(client, f"{tq} AND ExecutionStatus = '{name}'") == ids, name
    assert await id_set(client, f"{tq} AND ExecutionStatus != 'Running'") == by_id(
        ["done", "fail", "term", "parent", "parent-child"], p
    )
    # Names are exact (case-sensitive, the enum's CamelCase spelling).
    for bad in ("running", "RUNNING", "Cancelled", "Bogus"):
        await expect_invalid_query(client, f"{tq} AND ExecutionStatus = '{bad}'", "ExecutionStatus", bad)


async def test_in_and_not_in(client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    tq = f"TaskQueue = '{p}'"
    assert await id_set(client, f"{tq} AND ExecutionStatus IN ('Failed', 'Terminated')") == by_id(
        ["fail", "term"], p
    )
    assert await id_set(
        client, f"{tq} AND ExecutionStatus NOT IN ('Completed', 'Failed', 'Terminated')"
    ) == {f"{p}-run"}
    assert await id_set(client, f"{tq} AND WorkflowType IN ('VisWait')") == by_id(["run", "term"], p)
    assert await id_set(client, f"WorkflowId IN ('{p}-done', '{p}-fail', 'nope')") == by_id(
        ["done", "fail"], p
    )
    assert await id_set(client, f"{tq} AND WorkflowType NOT IN ('VisQuick', 'VisWait')") == by_id(
        ["fail", "parent"], p
    )


async def test_range_comparisons_on_keywords(client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    tq = f"TaskQueue = '{p}'"
    # Lexicographic: p-done < p-fail < p-parent < p-parent-child < p-run < p-term
    assert await id_set(client, f"{tq} AND WorkflowId > '{p}-parent'") == by_id(
        ["parent-child", "run", "term"], p
    )
    assert await id_set(client, f"{tq} AND WorkflowId >= '{p}-parent'") == by_id(
        ["parent", "parent-child", "run", "term"], p
    )
    assert await id_set(client, f"{tq} AND WorkflowId < '{p}-fail'") == {f"{p}-done"}
    assert await id_set(client, f"{tq} AND WorkflowId <= '{p}-fail'") == by_id(["done", "fail"], p)
    assert await id_set(client, f"{tq} AND WorkflowId BETWEEN '{p}-fail' AND '{p}-run'") == by_id(
        ["fail", "parent", "parent-child", "run"], p
    )
    assert await id_set(
        client, f"{tq} AND WorkflowId NOT BETWEEN '{p}-fail' AND '{p}-run'"
    ) == by_id(["done", "term"], p)


async def test_starts_with(client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    assert await id_set(client, f"WorkflowId STARTS_WITH '{p}-parent'") == by_id(
        ["parent", "parent-child"], p
    )
    assert await id_set(client, f"TaskQueue STARTS_WITH '{p}' AND WorkflowId STARTS_WITH '{p}-d'") == {
        f"{p}-done"
    }
    assert await id_set(
        client, f"TaskQueue = '{p}' AND WorkflowId NOT STARTS_WITH '{p}-parent'"
    ) == by_id(["run", "done", "fail", "term"], p)
    # LIKE wildcards are literal characters for STARTS_WITH.
    assert await id_set(client, f"WorkflowId STARTS_WITH '{p}-%'") == set()
    assert await id_set(client, f"WorkflowId STARTS_WITH '{p}-_one'") == set()
    # The empty prefix matches everything.
    assert len(await id_set(client, f"TaskQueue = '{p}' AND WorkflowId STARTS_WITH ''")) == 6


async def test_is_null_and_parent_root_attributes(client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    tq = f"TaskQueue = '{p}'"
    closed = by_id(["done", "fail", "term", "parent", "parent-child"], p)
    assert await id_set(client, f"{tq} AND CloseTime IS NULL") == {f"{p}-run"}
    assert await id_set(client, f"{tq} AND CloseTime IS NOT NULL") == closed
    assert await id_set(client, f"{tq} AND ParentWorkflowId IS NOT NULL") == {f"{p}-parent-child"}
    assert await id_set(client, f"{tq} AND ParentWorkflowId IS NULL") == by_id(
        ["run", "done", "fail", "term", "parent"], p
    )
    assert await id_set(client, f"ParentWorkflowId = '{p}-parent'") == {f"{p}-parent-child"}
    assert await id_set(client, f"ParentRunId = '{pop['run_ids']['parent']}'") == {f"{p}-parent-child"}
    # Root of a top-level workflow is itself; the child's root is the parent.
    assert await id_set(client, f"RootWorkflowId = '{p}-parent'") == by_id(["parent", "parent-child"], p)
    assert await id_set(client, f"RootWorkflowId = '{p}-done'") == {f"{p}-done"}
    assert await id_set(client, f"RootRunId = '{pop['run_ids']['parent']}'") == by_id(
        ["parent", "parent-child"], p
    )
    # SQL NULL semantics: `!=` (and NOT IN, NOT) never match a missing value.
    assert await id_set(client, f"{tq} AND ParentWorkflowId != 'someone-else'") == {f"{p}-parent-child"}
    assert await id_set(client, f"{tq} AND ParentWorkflowId NOT IN ('x')") == {f"{p}-parent-child"}
    assert await id_set(client, f"{tq} AND NOT (ParentWorkflowId = 'x')") == {f"{p}-parent-child"}


async def test_and_or_not_precedence_and_parentheses(client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    tq = f"TaskQueue = '{p}'"
    # AND binds tighter than OR: done OR (fail AND Running) -> only done.
    q1 = f"WorkflowId = '{p}-done' OR WorkflowId = '{p}-fail' AND ExecutionStatus = 'Running'"
    assert await id_set(client, q1) == {f"{p}-done"}
    # (nothing AND VisWait) OR done -> only done (left-to-right would give none).
    q2 = f"TaskQueue = 'vis-none' AND WorkflowType = 'VisWait' OR WorkflowId = '{p}-done'"
    assert await id_set(client, q2) == {f"{p}-done"}
    q2p = f"TaskQueue = 'vis-none' AND (WorkflowType = 'VisWait' OR WorkflowId = '{p}-done')"
    assert await id_set(client, q2p) == set()
    q3 = f"{tq} AND (WorkflowType = 'VisQuick' OR ExecutionStatus = 'Terminated')"
    assert await id_set(client, q3) == by_id(["done", "parent-child", "term"], p)
    q4 = f"({tq}) AND ((ExecutionStatus = 'Running'))"
    assert await id_set(client, q4) == {f"{p}-run"}
    assert await id_set(client, f"{tq} AND NOT (WorkflowType = 'VisQuick')") == by_id(
        ["run", "fail", "term", "parent"], p
    )
    assert await id_set(
        client, f"{tq} AND NOT WorkflowType = 'VisQuick' AND NOT WorkflowType = 'VisWait'"
    ) == by_id(["fail", "parent"], p)
    # Keywords are case-insensitive.
    assert await id_set(client, f"{tq} and ExecutionStatus = 'Running' or WorkflowId = '{p}-fail'") == by_id(
        ["run", "fail"], p
    )


async def test_backquoted_attribute_names(client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    assert await id_set(
        client, f"`TaskQueue` = '{p}' AND `ExecutionStatus` = 'Failed'"
    ) == {f"{p}-fail"}
    await expect_invalid_query(client, "`Task Queue` = 'x'", "Task Queue")


async def test_datetime_attributes_and_literal_formats(client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    tq = f"TaskQueue = '{p}'"
    everyone = by_id(["run", "done", "fail", "term", "parent", "parent-child"], p)
    before = (pop["before"] - timedelta(seconds=2)).astimezone(timezone.utc)
    after = (pop["after"] + timedelta(seconds=2)).astimezone(timezone.utc)
    b_z = before.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    a_z = after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await id_set(client, f"{tq} AND StartTime > '{b_z}'") == everyone
    assert await id_set(client, f"{tq} AND StartTime < '{b_z}'") == set()
    assert await id_set(client, f"{tq} AND StartTime BETWEEN '{b_z}' AND '{a_z}'") == everyone
    assert await id_set(client, f"{tq} AND CloseTime < '{a_z}'") == everyone - {f"{p}-run"}
    assert await id_set(client, f"{tq} AND ExecutionTime >= '{b_z}'") == everyone
    # Same instant written with a +01:00 offset.
    b_off = before.astimezone(timezone(timedelta(hours=1))).isoformat()
    assert await id_set(client, f"{tq} AND StartTime > '{b_off}'") == everyone
    assert await id_set(client, f"{tq} AND StartTime < '{b_off}'") == set()
    # An integer literal is Unix epoch nanoseconds.
    b_ns = int(before.timestamp()) * 1_000_000_000
    a_ns = int(after.timestamp()) * 1_000_000_000
    assert await id_set(client, f"{tq} AND StartTime > {b_ns}") == everyone
    assert await id_set(client, f"{tq} AND StartTime > {a_ns}") == set()
    # Not RFC 3339 -> INVALID_ARGUMENT naming the literal.
    for bad in ("2020-01-01", "2020-01-01 00:00:00", "2020-01-01T00:00:00", "yesterday"):
        await expect_invalid_query(client, f"{tq} AND StartTime > '{bad}'", bad)


async def test_execution_duration_and_history_length(client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    tq = f"TaskQueue = '{p}'"
    closed = by_id(["done", "fail", "term", "parent", "parent-child"], p)
    # Only closed runs have ExecutionDuration / HistoryLength indexed.
    assert await id_set(client, f"{tq} AND ExecutionDuration IS NULL") == {f"{p}-run"}
    assert await id_set(client, f"{tq} AND HistoryLength IS NULL") == {f"{p}-run"}
    for lit in ("'1h'", "'10m'", "'1h30m'", "'1d'", "'00:10:00'", "600000000000"):
        assert await id_set(client, f"{tq} AND ExecutionDuration < {lit}") == closed, lit
    for lit in ("'1h'", "'1d'", "3600000000000"):
        assert await id_set(client, f"{tq} AND ExecutionDuration > {lit}") == set(), lit
    assert await id_set(client, f"{tq} AND ExecutionDuration >= '0s'") == closed
    assert await id_set(client, f"{tq} AND ExecutionDuration BETWEEN 0 AND '1h'") == closed
    for bad in ("abc", "1x", "PT1H"):
        await expect_invalid_query(client, f"{tq} AND ExecutionDuration > '{bad}'", "ExecutionDuration", bad)
    await expect_invalid_query(client, f"{tq} AND ExecutionDuration > 1.5", "ExecutionDuration")
    # HistoryLength: the parent has the most events (child started/completed).
    assert await id_set(client, f"{tq} AND HistoryLength > 0") == closed
    assert await id_set(client, f"{tq} AND HistoryLength > 5") == {f"{p}-parent"}
    assert await id_set(client, f"{tq} AND HistoryLength BETWEEN 3 AND 5") == closed - {f"{p}-parent"}
    await expect_invalid_query(client, f"{tq} AND HistoryLength = '5'", "HistoryLength", "5")


async def test_default_order_running_first_then_by_close_time_desc(client: Client, task_queue: str):
    """ORDER BY is not accepted; results come Running first, then closed runs
    by CloseTime descending (not by StartTime: p-late starts early, closes last)."""
    p = task_queue
    async with new_worker(client, p, ALL_WORKFLOWS):
        running = await client.start_workflow(VisWait.run, id=f"{p}-running", task_queue=p)
        late = await client.start_workflow(VisWait.run, id=f"{p}-late", task_queue=p)
        for name in ("a", "b", "c"):
            await client.execute_workflow(VisQuick.run, name, id=f"{p}-{name}", task_queue=p)
        await late.signal(VisWait.finish)
        await asyncio.wait_for(late.result(), RESULT_TIMEOUT_S)
        await wait_listed(
            client,
            f"TaskQueue = '{p}'",
            {
                f"{p}-running": Status.RUNNING,
                f"{p}-late": Status.COMPLETED,
                f"{p}-a": Status.COMPLETED,
                f"{p}-b": Status.COMPLETED,
                f"{p}-c": Status.COMPLETED,
            },
        )
        expected = [f"{p}-running", f"{p}-late", f"{p}-c", f"{p}-b", f"{p}-a"]
        assert await list_ids(client, f"TaskQueue = '{p}'") == expected
        # Same order through the SDK iterator with tiny pages.
        assert [w.id async for w in client.list_workflows(f"TaskQueue = '{p}'", page_size=2)] == expected
        await running.terminate("done")


async def test_order_by_and_limit_are_rejected(client: Client):
    for q in (
        "TaskQueue = 'x' ORDER BY StartTime",
        "TaskQueue = 'x' ORDER BY StartTime DESC",
        "TaskQueue = 'x' ORDER BY WorkflowId ASC",
        "ORDER BY StartTime",
    ):
        await expect_invalid_query(client, q, "ORDER BY")
    await expect_invalid_query(client, "TaskQueue = 'x' LIMIT 2", "LIMIT")
    err = await expect_rpc_error(
        client.workflow_service.count_workflow_executions(
            CountWorkflowExecutionsRequest(namespace=NS, query="ORDER BY StartTime"),
            timeout=RPC_TIMEOUT,
        )
    )
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and "order by" in err.message.lower()


async def test_count_and_group_by_execution_status(client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    tq = f"TaskQueue = '{p}'"
    assert (await client.count_workflows(tq)).count == 6
    plain = await client.count_workflows(f"{tq} AND ExecutionStatus = 'Completed'")
    assert plain.count == 3 and plain.groups == []
    grouped = await client.count_workflows(f"{tq} GROUP BY ExecutionStatus")
    assert grouped.count == 6
    got = [(g.group_values, g.count) for g in grouped.groups]
    # One group per status present, ordered by the status enum value.
    assert got == [(["Running"], 1), (["Completed"], 3), (["Failed"], 1), (["Terminated"], 1)]
    # The raw group value is a json/plain payload typed "Keyword".
    raw = await client.workflow_service.count_workflow_executions(
        CountWorkflowExecutionsRequest(namespace=NS, query=f"{tq} GROUP BY `ExecutionStatus`"),
        timeout=RPC_TIMEOUT,
    )
    assert raw.count == 6
    first = raw.groups[0].group_values[0]
    assert first.data == b'"Running"'
    assert first.metadata["encoding"] == b"json/plain"
    assert first.metadata["type"] == b"Keyword"
    # No match: count 0, no groups.
    none = await client.count_workflows(f"{tq} AND ExecutionStatus = 'Canceled' GROUP BY ExecutionStatus")
    assert none.count == 0 and none.groups == []
    # The empty query counts everything in the namespace.
    assert (await client.count_workflows("")).count >= 6


async def test_group_by_restrictions(client: Client):
    async def count_err(query: str) -> RPCError:
        err = await expect_rpc_error(
            client.workflow_service.count_workflow_executions(
                CountWorkflowExecutionsRequest(namespace=NS, query=query), timeout=RPC_TIMEOUT
            )
        )
        assert err.status == RPCStatusCode.INVALID_ARGUMENT, (query, err.message)
        return err

    err = await count_err("GROUP BY WorkflowType")
    assert "group by" in err.message.lower() and "WorkflowType" in err.message
    err = await count_err("GROUP BY ExecutionStatus, WorkflowType")
    assert "group by" in err.message.lower()
    err = await count_err("GROUP BY NoSuchAttr")
    assert "NoSuchAttr" in err.message
    err = await count_err("GROUP BY ExecutionStatus LIMIT 1")
    assert "limit" in err.message.lower()
    await count_err("GROUP BY")


# ================================================================ malformed queries


MALFORMED = [
    # (id, query, substrings that must appear in the message, case-insensitive)
    ("missing-value", "TaskQueue =", ["syntax error"]),
    ("unterminated-string", "TaskQueue = 'abc", ["syntax error"]),
    ("missing-operator", "TaskQueue 'abc'", ["syntax error"]),
    ("double-equals", "TaskQueue == 'a'", ["syntax error"]),
    ("dangling-and", "TaskQueue = 'a' AND", ["syntax error"]),
    ("dangling-or", "TaskQueue = 'a' OR", ["syntax error"]),
    ("leading-and", "AND TaskQueue = 'a'", ["syntax error"]),
    ("double-and", "TaskQueue = 'a' AND AND WorkflowId = 'b'", ["syntax error"]),
    ("unclosed-paren", "(TaskQueue = 'a'", ["syntax error"]),
    ("extra-close-paren", "TaskQueue = 'a')", ["syntax error"]),
    ("empty-or-in-parens", "TaskQueue = 'a' AND (WorkflowId = 'b' OR)", ["syntax error"]),
    ("not-alone", "NOT", ["syntax error"]),
    ("empty-in-list", "TaskQueue IN ()", ["syntax error"]),
    ("in-without-parens", "TaskQueue IN 'a'", ["syntax error"]),
    ("between-without-and", "TaskQueue BETWEEN 'a'", ["syntax error"]),
    ("is-value", "TaskQueue IS 'a'", ["syntax error"]),
    ("select-statement", "SELECT * FROM executions", ["syntax error"]),
    ("second-statement", "TaskQueue = 'a'; DROP TABLE x", ["syntax error"]),
    ("unterminated-backquote", "`TaskQueue = 'a'", ["syntax error"]),
    ("like-operator", "TaskQueue LIKE 'a%'", ["LIKE", "TaskQueue"]),
    ("starts-with-on-int", "HistoryLength STARTS_WITH 1", ["STARTS_WITH", "HistoryLength"]),
    ("unknown-attribute", "NoSuchAttr = 'a'", ["NoSuchAttr"]),
    ("attribute-name-case", "taskqueue = 'a'", ["taskqueue"]),
    ("int-vs-string", "HistoryLength = 'abc'", ["HistoryLength", "abc"]),
    ("keyword-vs-int", "WorkflowId = 5", ["WorkflowId", "5"]),
    ("keyword-vs-bool", "TaskQueue = TRUE", ["TaskQueue", "true"]),
    ("in-list-mixed-types", "TaskQueue IN ('a', 5)", ["TaskQueue", "5"]),
    ("bad-hex-literal", "HistoryLength = 0x10", ["0x10"]),
    ("value-on-left", "'a' = TaskQueue", ["column name"]),
    ("attribute-on-right", "ExecutionTime = StartTime", ["StartTime"]),
    ("compare-with-null", "TaskQueue = NULL", ["null"]),
    ("bare-attribute", "TaskQueue", ["incomplete"]),
    ("bare-boolean", "TRUE", ["not supported"]),
    ("bad-execution-status", "ExecutionStatus = 'Bogus'", ["ExecutionStatus", "Bogus"]),
    ("bad-datetime", "StartTime > 'not-a-date'", ["not-a-date"]),
    ("order-by", "TaskQueue = 'a' ORDER BY StartTime DESC", ["ORDER BY"]),
    ("limit", "TaskQueue = 'a' LIMIT 10", ["LIMIT"]),
]


@pytest.mark.parametrize(
    "query,substrings", [pytest.param(q, s, id=i) for i, q, s in MALFORMED]
)
async def test_malformed_query_is_invalid_argument(client: Client, query: str, substrings: list[str]):
    err = await expect_invalid_query(client, query, *substrings)
    # Every query error carries the "invalid query" prefix on the real server.
    assert "invalid query" in err.message.lower(), err.message


async def test_count_rejects_what_list_rejects(client: Client):
    for query, subs in (
        ("NoSuchAttr = 'a'", ["NoSuchAttr"]),
        ("TaskQueue = 'a' AND", ["syntax error"]),
        ("HistoryLength = 'x'", ["HistoryLength"]),
    ):
        err = await expect_rpc_error(
            client.workflow_service.count_workflow_executions(
                CountWorkflowExecutionsRequest(namespace=NS, query=query), timeout=RPC_TIMEOUT
            )
        )
        assert err.status == RPCStatusCode.INVALID_ARGUMENT, (query, err.message)
        for s in subs:
            assert s.lower() in err.message.lower(), (query, err.message)


async def test_unknown_namespace_is_not_found(client: Client):
    for call in (
        client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace="vis-no-such-ns", query=""), timeout=RPC_TIMEOUT
        ),
        client.workflow_service.count_workflow_executions(
            CountWorkflowExecutionsRequest(namespace="vis-no-such-ns", query=""), timeout=RPC_TIMEOUT
        ),
    ):
        err = await expect_rpc_error(call)
        assert err.status == RPCStatusCode.NOT_FOUND
        assert "vis-no-such-ns" in err.message


# ================================================================ search attribute admin


async def test_list_search_attributes_shows_system_and_custom(client: Client):
    await ensure_custom_attributes(client)
    r = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=NS), timeout=RPC_TIMEOUT
    )
    system = dict(r.system_attributes)
    T = IndexedValueType
    for name, typ in {
        "WorkflowId": T.INDEXED_VALUE_TYPE_KEYWORD,
        "RunId": T.INDEXED_VALUE_TYPE_KEYWORD,
        "WorkflowType": T.INDEXED_VALUE_TYPE_KEYWORD,
        "ExecutionStatus": T.INDEXED_VALUE_TYPE_KEYWORD,
        "TaskQueue": T.INDEXED_VALUE_TYPE_KEYWORD,
        "ParentWorkflowId": T.INDEXED_VALUE_TYPE_KEYWORD,
        "RootWorkflowId": T.INDEXED_VALUE_TYPE_KEYWORD,
        "StartTime": T.INDEXED_VALUE_TYPE_DATETIME,
        "CloseTime": T.INDEXED_VALUE_TYPE_DATETIME,
        "ExecutionTime": T.INDEXED_VALUE_TYPE_DATETIME,
        "ExecutionDuration": T.INDEXED_VALUE_TYPE_INT,
        "HistoryLength": T.INDEXED_VALUE_TYPE_INT,
        "BuildIds": T.INDEXED_VALUE_TYPE_KEYWORD_LIST,
        "TemporalChangeVersion": T.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    }.items():
        assert system.get(name) == typ, (name, system.get(name))
    custom = dict(r.custom_attributes)
    for name, typ in CUSTOM_ATTRS.items():
        assert custom.get(name) == typ, (name, custom.get(name))
    # Custom names never appear among the system ones and vice versa.
    assert not set(custom) & set(system)
    # GetSearchAttributes (WorkflowService) also knows the system attributes.
    g = await client.workflow_service.get_search_attributes(
        GetSearchAttributesRequest(), timeout=RPC_TIMEOUT
    )
    assert g.keys["WorkflowId"] == T.INDEXED_VALUE_TYPE_KEYWORD
    assert g.keys["StartTime"] == T.INDEXED_VALUE_TYPE_DATETIME


def test_start_dev_search_attribute_flag_registers_in_every_namespace(tmp_path):
    async def listed() -> None:
        c = await Client.connect(srv.address, namespace=NS)
        for ns in (NS, EXTRA_NAMESPACE):
            r = await c.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=ns), timeout=RPC_TIMEOUT
            )
            custom = dict(r.custom_attributes)
            assert custom.get("VisFlagKeyword") == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, (ns, custom)
            assert custom.get("VisFlagTime") == IndexedValueType.INDEXED_VALUE_TYPE_DATETIME, (ns, custom)

    # Both dev servers take `--search-attribute`; Endure's production server,
    # ENDURE_SERVER_SEARCH_ATTRIBUTES.
    srv = start_server(
        tmp_path, "flags", search_attributes={"VisFlagKeyword": "Keyword", "VisFlagTime": "Datetime"}
    )
    try:
        asyncio.run(listed())
        # A restart with the same flags finds them registered already.
        srv.stop()
        srv.start()
        asyncio.run(listed())
    finally:
        srv.stop()


async def test_add_search_attribute_errors(client: Client):
    op = client.operator_service
    T = IndexedValueType

    async def add_err(ns: str, attrs: dict) -> RPCError:
        return await expect_rpc_error(
            op.add_search_attributes(
                AddSearchAttributesRequest(namespace=ns, search_attributes=attrs), timeout=RPC_TIMEOUT
            )
        )

    for name in ("WorkflowId", "ExecutionStatus", "TemporalVisCustom"):
        err = await add_err(NS, {name: T.INDEXED_VALUE_TYPE_KEYWORD})
        assert err.status == RPCStatusCode.INVALID_ARGUMENT, (name, err.message)
        assert name in err.message and "reserved" in err.message.lower(), err.message
    err = await add_err(NS, {"VisBadType": 99})
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and "99" in err.message, err.message
    err = await add_err(NS, {"VisUnspecified": T.INDEXED_VALUE_TYPE_UNSPECIFIED})
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and "unspecified" in err.message.lower(), err.message
    err = await add_err(NS, {})
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and "searchattributes" in err.message.lower(), err.message
    err = await add_err("vis-no-such-ns", {"VisX": T.INDEXED_VALUE_TYPE_KEYWORD})
    assert err.status == RPCStatusCode.NOT_FOUND and "vis-no-such-ns" in err.message, err.message
    err = await add_err("", {"VisX": T.INDEXED_VALUE_TYPE_KEYWORD})
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and "namespace" in err.message.lower(), err.message
    # None of the failed calls registered anything.
    r = await op.list_search_attributes(ListSearchAttributesRequest(namespace=NS), timeout=RPC_TIMEOUT)
    assert not {"VisBadType", "VisUnspecified", "TemporalVisCustom", "VisX"} & set(r.custom_attributes)


async def test_add_existing_search_attribute_is_a_no_op(client: Client):
    await ensure_custom_attributes(client)
    op = client.operator_service
    T = IndexedValueType
    # Same name, same type: OK.
    await op.add_search_attributes(
        AddSearchAttributesRequest(namespace=NS, search_attributes={"VisKeyword": T.INDEXED_VALUE_TYPE_KEYWORD}),
        timeout=RPC_TIMEOUT,
    )
    # Same name, other type: also OK on the real server, and the type is unchanged.
    await op.add_search_attributes(
        AddSearchAttributesRequest(namespace=NS, search_attributes={"VisInt": T.INDEXED_VALUE_TYPE_KEYWORD}),
        timeout=RPC_TIMEOUT,
    )
    r = await op.list_search_attributes(ListSearchAttributesRequest(namespace=NS), timeout=RPC_TIMEOUT)
    assert r.custom_attributes["VisKeyword"] == T.INDEXED_VALUE_TYPE_KEYWORD
    assert r.custom_attributes["VisInt"] == T.INDEXED_VALUE_TYPE_INT


async def test_search_attribute_limits_per_type(client: Client):
    """The dev server's SQL store has 3 columns per type (10 for Keyword)."""
    op = client.operator_service
    T = IndexedValueType
    ns = EXTRA_NAMESPACE

    async def add(attrs: dict):
        return await op.add_search_attributes(
            AddSearchAttributesRequest(namespace=ns, search_attributes=attrs), timeout=RPC_TIMEOUT
        )

    err = await expect_rpc_error(add({f"LimInt{i}": T.INDEXED_VALUE_TYPE_INT for i in range(4)}))
    assert err.status == RPCStatusCode.INVALID_ARGUMENT
    assert "Int" in err.message and "3" in err.message, err.message
    await add({f"LimInt{i}": T.INDEXED_VALUE_TYPE_INT for i in range(3)})
    err = await expect_rpc_error(add({"LimInt3": T.INDEXED_VALUE_TYPE_INT}))
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and "Int" in err.message and "3" in err.message
    err = await expect_rpc_error(add({f"LimText{i}": T.INDEXED_VALUE_TYPE_TEXT for i in range(4)}))
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and "Text" in err.message and "3" in err.message
    err = await expect_rpc_error(add({f"LimKw{i}": T.INDEXED_VALUE_TYPE_KEYWORD for i in range(11)}))
    assert err.status == RPCStatusCode.INVALID_ARGUMENT
    assert "Keyword" in err.message and "10" in err.message, err.message
    await add({f"LimKw{i}": T.INDEXED_VALUE_TYPE_KEYWORD for i in range(10)})
    r = await op.list_search_attributes(ListSearchAttributesRequest(namespace=ns), timeout=RPC_TIMEOUT)
    assert dict(r.custom_attributes) == {
        **{f"LimInt{i}": T.INDEXED_VALUE_TYPE_INT for i in range(3)},
        **{f"LimKw{i}": T.INDEXED_VALUE_TYPE_KEYWORD for i in range(10)},
    }
    # Custom attributes are per namespace: the default namespace has none of these.
    d = await op.list_search_attributes(ListSearchAttributesRequest(namespace=NS), timeout=RPC_TIMEOUT)
    assert "LimInt0" not in d.custom_attributes


async def test_remove_search_attribute(client: Client):
    op = client.operator_service
    T = IndexedValueType
    name = "VisRemovable"
    await op.add_search_attributes(
        AddSearchAttributesRequest(namespace=NS, search_attributes={name: T.INDEXED_VALUE_TYPE_KEYWORD}),
        timeout=RPC_TIMEOUT,
    )

    async def listed():
        r = await op.list_search_attributes(ListSearchAttributesRequest(namespace=NS), timeout=RPC_TIMEOUT)
        return name in r.custom_attributes

    await eventually(listed, f"{name} listed")
    # Usable in a query while it exists.
    assert await id_set(client, f"{name} = 'x'") == set()
    await op.remove_search_attributes(
        RemoveSearchAttributesRequest(namespace=NS, search_attributes=[name]), timeout=RPC_TIMEOUT
    )

    async def gone():
        r = await op.list_search_attributes(ListSearchAttributesRequest(namespace=NS), timeout=RPC_TIMEOUT)
        return name not in r.custom_attributes

    await eventually(gone, f"{name} removed")
    await expect_invalid_query(client, f"{name} = 'x'", name)
    # Starting a workflow with it is rejected now.
    err = await expect_rpc_error(
        client.start_workflow(
            "VisQuick",
            "x",
            id=unique("vis-removed-sa"),
            task_queue=unique("vis-nowhere"),
            search_attributes=sa((SearchAttributeKey.for_keyword(name), "x")),
        )
    )
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and name in err.message, err.message
    # Removing a system attribute: INVALID_ARGUMENT; an unknown one: OK (no-op).
    err = await expect_rpc_error(
        op.remove_search_attributes(
            RemoveSearchAttributesRequest(namespace=NS, search_attributes=["WorkflowId"]),
            timeout=RPC_TIMEOUT,
        )
    )
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and "WorkflowId" in err.message, err.message
    await op.remove_search_attributes(
        RemoveSearchAttributesRequest(namespace=NS, search_attributes=["VisNeverExisted"]),
        timeout=RPC_TIMEOUT,
    )
    err = await expect_rpc_error(
        op.remove_search_attributes(
            RemoveSearchAttributesRequest(namespace=NS, search_attributes=[]), timeout=RPC_TIMEOUT
        )
    )
    assert err.status == RPCStatusCode.INVALID_ARGUMENT


# ================================================================ custom attributes: values and queries


async def test_custom_attributes_round_trip_in_list_results(client: Client):
    p = await typed_population(client)
    rows = {w.id: w async for w in client.list_workflows(f"TaskQueue = '{p}'")}
    t1 = rows[f"{p}-1"].typed_search_attributes
    assert t1.get(KW) == "alpha"
    assert t1.get(TEXT) == "Hello big World"
    assert t1.get(INT) == 5
    assert t1.get(DOUBLE) == 1.5
    assert t1.get(BOOL) is True
    assert t1.get(DT) == DT1
    assert list(t1.get(KWL)) == ["red", "green"]
    t3 = rows[f"{p}-3"].typed_search_attributes
    assert all(t3.get(k) is None for k in (KW, TEXT, INT, DOUBLE, BOOL, DT, KWL))
    t4 = rows[f"{p}-4"].typed_search_attributes
    assert (t4.get(KW), t4.get(INT), t4.get(TEXT)) == ("gamma", 42, None)
    # Raw payloads carry the attribute's type in metadata["type"].
    raw = await client.workflow_service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace=NS, query=f"WorkflowId = '{p}-1'"), timeout=RPC_TIMEOUT
    )
    fields = raw.executions[0].search_attributes.indexed_fields
    expected_types = {
        "VisKeyword": b"Keyword",
        "VisText": b"Text",
        "VisInt": b"Int",
        "VisDouble": b"Double",
        "VisBool": b"Bool",
        "VisDatetime": b"Datetime",
        "VisKeywordList": b"KeywordList",
    }
    for name, typ in expected_types.items():
        assert fields[name].metadata["type"] == typ, name
        assert fields[name].metadata["encoding"] == b"json/plain", name
    assert json.loads(fields["VisInt"].data) == 5
    assert json.loads(fields["VisKeywordList"].data) == ["red", "green"]
    assert json.loads(fields["VisDatetime"].data) == "2024-03-01T12:00:00Z"


async def test_keyword_custom_attribute_operators(client: Client):
    p = await typed_population(client)
    tq = f"TaskQueue = '{p}'"
    cases = {
        "VisKeyword = 'alpha'": ["1"],
        "VisKeyword != 'alpha'": ["2", "4"],  # p-3 (no value) never matches !=
        "VisKeyword IS NULL": ["3"],
        "VisKeyword IS NOT NULL": ["1", "2", "4"],
        "VisKeyword IN ('alpha', 'gamma')": ["1", "4"],
        "VisKeyword NOT IN ('alpha')": ["2", "4"],
        "VisKeyword STARTS_WITH 'al'": ["1"],
        "VisKeyword > 'alpha'": ["2", "4"],
        "VisKeyword BETWEEN 'a' AND 'c'": ["1", "2"],
        "NOT (VisKeyword = 'alpha')": ["2", "4"],
        "VisKeyword = 'alpha' AND VisInt = 5": ["1"],
    }
    for cond, ids in cases.items():
        assert await id_set(client, f"{tq} AND {cond}") == by_id(ids, p), cond
    await expect_invalid_query(client, f"{tq} AND VisKeyword = 5", "VisKeyword")
    await expect_invalid_query(client, f"{tq} AND VisKeyword LIKE 'al%'", "LIKE", "VisKeyword")


async def test_text_custom_attribute_is_full_text(client: Client):
    p = await typed_population(client)
    tq = f"TaskQueue = '{p}'"
    # `=` on Text: matches when ANY whitespace-separated token of the literal is
    # a whole word of the value, case-insensitively. p-1 'Hello big World',
    # p-2 'small world'.
    cases = {
        "VisText = 'big'": ["1"],
        "VisText = 'BIG'": ["1"],
        "VisText = 'hello'": ["1"],
        "VisText = 'world'": ["1", "2"],
        "VisText = 'small'": ["2"],
        "VisText = 'big world'": ["1", "2"],
        "VisText = 'small big'": ["1", "2"],
        "VisText = 'bi'": [],
        "VisText = 'absent'": [],
        "VisText IS NULL": ["3", "4"],
        "VisText IS NOT NULL": ["1", "2"],
    }
    for cond, ids in cases.items():
        assert await id_set(client, f"{tq} AND {cond}") == by_id(ids, p), cond
    # `!=` is the complement among workflows that have the value.
    assert f"{p}-1" not in await id_set(client, f"{tq} AND VisText != 'big'")
    assert f"{p}-2" in await id_set(client, f"{tq} AND VisText != 'big'")
    for op_ in ("STARTS_WITH 'Hel'", "> 'a'", "IN ('big')", "NOT IN ('big')", "LIKE 'big'"):
        op_name = op_.rsplit(" ", 1)[0] if not op_.startswith(">") else ">"
        await expect_invalid_query(client, f"{tq} AND VisText {op_}", op_name, "VisText")
    await expect_invalid_query(client, f"{tq} AND VisText BETWEEN 'a' AND 'z'", "VisText")
    await expect_invalid_query(client, f"{tq} AND VisText = ''", "VisText")


async def test_int_custom_attribute_operators(client: Client):
    p = await typed_population(client)
    tq = f"TaskQueue = '{p}'"
    cases = {
        "VisInt = 5": ["1"],
        "VisInt = -3": ["2"],
        "VisInt != 5": ["2", "4"],
        "VisInt > 0": ["1", "4"],
        "VisInt >= 5": ["1", "4"],
        "VisInt < 0": ["2"],
        "VisInt <= 5": ["1", "2"],
        "VisInt BETWEEN -5 AND 5": ["1", "2"],
        "VisInt IN (5, 42)": ["1", "4"],
        "VisInt NOT IN (5, 42)": ["2"],
        "VisInt IS NULL": ["3"],
    }
    for cond, ids in cases.items():
        assert await id_set(client, f"{tq} AND {cond}") == by_id(ids, p), cond
    await expect_invalid_query(client, f"{tq} AND VisInt = '5'", "VisInt", "5")
    await expect_invalid_query(client, f"{tq} AND VisInt = true", "VisInt")
    await expect_invalid_query(client, f"{tq} AND VisInt STARTS_WITH 5", "STARTS_WITH", "VisInt")


async def test_double_custom_attribute_operators(client: Client):
    p = await typed_population(client)
    tq = f"TaskQueue = '{p}'"
    cases = {
        "VisDouble = 1.5": ["1"],
        "VisDouble = 2": ["2"],  # an integer literal compares numerically
        "VisDouble > 1": ["1", "2"],
        "VisDouble < 1.6": ["1"],
        "VisDouble BETWEEN 1 AND 1.9": ["1"],
        "VisDouble IN (1.5, 2)": ["1", "2"],
        "VisDouble != 1.5": ["2"],
        "VisDouble IS NULL": ["3", "4"],
    }
    for cond, ids in cases.items():
        assert await id_set(client, f"{tq} AND {cond}") == by_id(ids, p), cond
    await expect_invalid_query(client, f"{tq} AND VisDouble = '1.5'", "VisDouble", "1.5")


async def test_bool_custom_attribute_operators(client: Client):
    p = await typed_population(client)
    tq = f"TaskQueue = '{p}'"
    cases = {
        "VisBool = true": ["1"],
        "VisBool = TRUE": ["1"],
        "VisBool = false": ["2"],
        "VisBool != true": ["2"],
        "VisBool IN (true)": ["1"],
        "VisBool IS NULL": ["3", "4"],
    }
    for cond, ids in cases.items():
        assert await id_set(client, f"{tq} AND {cond}") == by_id(ids, p), cond
    await expect_invalid_query(client, f"{tq} AND VisBool = 'true'", "VisBool")
    await expect_invalid_query(client, f"{tq} AND VisBool = 1", "VisBool")


async def test_datetime_custom_attribute_ranges(client: Client):
    # p-1 = 2024-03-01T12:00:00Z, p-2 = 2024-03-02T12:00:00Z. (Exact-instant
    # equality is not asserted: see VISIBILITY_ORACLE.md.)
    p = await typed_population(client)
    tq = f"TaskQueue = '{p}'"
    cases = {
        "VisDatetime > '2024-03-01T00:00:00Z'": ["1", "2"],
        "VisDatetime > '2024-03-02T00:00:00Z'": ["2"],
        "VisDatetime < '2024-03-02T00:00:00Z'": ["1"],
        "VisDatetime <= '2024-03-05T00:00:00+02:00'": ["1", "2"],
        "VisDatetime BETWEEN '2024-03-01T06:00:00Z' AND '2024-03-01T18:00:00Z'": ["1"],
        "VisDatetime > '2024-03-02T06:00:00.123456789+01:00'": ["2"],
        "VisDatetime > 1709337600000000000": ["2"],  # 2024-03-02T00:00:00Z in ns
        "VisDatetime IS NULL": ["3", "4"],
    }
    for cond, ids in cases.items():
        assert await id_set(client, f"{tq} AND {cond}") == by_id(ids, p), cond
    for bad in ("2024-03-01", "2024-03-01T12:00:00", "March 1"):
        await expect_invalid_query(client, f"{tq} AND VisDatetime > '{bad}'", bad)


async def test_keyword_list_custom_attribute_operators(client: Client):
    p = await typed_population(client)
    tq = f"TaskQueue = '{p}'"
    # `=` means "the list contains this element"; IN means "contains any".
    cases = {
        "VisKeywordList = 'red'": ["1"],
        "VisKeywordList = 'green'": ["1"],
        "VisKeywordList = 'blue'": ["2"],
        "VisKeywordList = 're'": [],
        "VisKeywordList IN ('red', 'nope')": ["1"],
        "VisKeywordList IN ('green', 'blue')": ["1", "2"],
        "VisKeywordList IS NULL": ["3", "4"],
        "VisKeywordList IS NOT NULL": ["1", "2"],
    }
    for cond, ids in cases.items():
        assert await id_set(client, f"{tq} AND {cond}") == by_id(ids, p), cond
    assert f"{p}-1" not in await id_set(client, f"{tq} AND VisKeywordList != 'red'")
    assert f"{p}-2" in await id_set(client, f"{tq} AND VisKeywordList != 'red'")
    assert f"{p}-2" in await id_set(client, f"{tq} AND VisKeywordList NOT IN ('red', 'green')")
    await expect_invalid_query(client, f"{tq} AND VisKeywordList STARTS_WITH 're'", "STARTS_WITH", "VisKeywordList")
    await expect_invalid_query(client, f"{tq} AND VisKeywordList > 'a'", ">", "VisKeywordList")
    await expect_invalid_query(client, f"{tq} AND VisKeywordList BETWEEN 'a' AND 'z'", "VisKeywordList")


async def test_upsert_from_running_workflow_is_visible(client: Client, task_queue: str):
    await ensure_custom_attributes(client)
    p = task_queue
    tag = unique("tag")
    async with new_worker(client, p, ALL_WORKFLOWS):
        h = await client.start_workflow(
            VisUpsertSteps.run, tag, id=f"{p}-steps", task_queue=p, memo={"stage": "one"}
        )
        await eventually(
            lambda: _eq(id_set(client, f"VisKeyword = '{tag}' AND ExecutionStatus = 'Running'"), {h.id}),
            "first upsert visible while running",
        )
        assert await id_set(client, f"TaskQueue = '{p}' AND VisKeywordList = 'b' AND VisBool = true") == {h.id}
        await h.signal(VisUpsertSteps.proceed)
        assert await asyncio.wait_for(h.result(), RESULT_TIMEOUT_S) == "done"
        await eventually(
            lambda: _eq(id_set(client, f"TaskQueue = '{p}' AND VisInt = 7 AND ExecutionStatus = 'Completed'"), {h.id}),
            "second upsert visible after completion",
        )
        # The unset attribute is gone from the index and from the result.
        assert await id_set(client, f"VisKeyword = '{tag}'") == set()
        assert await id_set(client, f"TaskQueue = '{p}' AND VisKeyword IS NULL") == {h.id}
        (row,) = [w async for w in client.list_workflows(f"WorkflowId = '{h.id}'")]
        t = row.typed_search_attributes
        assert t.get(KW) is None
        assert (t.get(INT), list(t.get(KWL)), t.get(BOOL)) == (7, ["a", "b"], True)
        assert await row.memo() == {"stage": "two"}


async def test_start_with_invalid_search_attributes_is_rejected(client: Client):
    await ensure_custom_attributes(client)
    tq = unique("vis-nowhere")

    def pl(value: Any) -> Payload:
        return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())

    async def start(fields: dict[str, Payload]) -> RPCError:
        return await expect_rpc_error(
            client.workflow_service.start_workflow_execution(
                StartWorkflowExecutionRequest(
                    namespace=NS,
                    workflow_id=unique("vis-bad-sa"),
                    workflow_type=WorkflowType(name="VisQuick"),
                    task_queue=TaskQueue(name=tq),
                    request_id=str(uuid.uuid4()),
                    search_attributes=SearchAttributes(indexed_fields=fields),
                ),
                timeout=RPC_TIMEOUT,
            )
        )

    cases = [
        ({"VisNoSuchAttr": pl("x")}, ["VisNoSuchAttr"]),
        ({"VisInt": pl("abc")}, ["VisInt", "abc"]),
        ({"VisInt": pl("5")}, ["VisInt"]),
        ({"VisInt": pl(3.5)}, ["VisInt", "3.5"]),
        ({"VisBool": pl("yes")}, ["VisBool", "yes"]),
        ({"VisDatetime": pl("not-a-date")}, ["VisDatetime", "not-a-date"]),
        ({"VisKeyword": pl(["a", "b"])}, ["VisKeyword"]),
        ({"VisKeywordList": pl([1, 2])}, ["VisKeywordList"]),
        ({"VisKeyword": pl("x" * 3000)}, ["VisKeyword"]),
        ({"WorkflowId": pl("x")}, ["WorkflowId"]),
        ({"ExecutionStatus": pl("Running")}, ["ExecutionStatus"]),
    ]
    for fields, subs in cases:
        err = await start(fields)
        assert err.status == RPCStatusCode.INVALID_ARGUMENT, (list(fields), err.status, err.message)
        for s in subs:
            assert s in err.message, (list(fields), s, err.message)
    # Nothing was started.
    assert await id_set(client, f"TaskQueue = '{tq}'") == set()


async def test_upsert_of_unknown_attribute_fails_the_workflow_task(client: Client, task_queue: str):
    async with new_worker(client, task_queue, ALL_WORKFLOWS):
        h = await client.start_workflow(
            VisBadUpsert.run, id=unique("vis-bad-upsert"), task_queue=task_queue
        )

        async def failed_task():
            async for e in h.fetch_history_events():
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    return e.workflow_task_failed_event_attributes
            return None

        attrs = await eventually(failed_task, "WorkflowTaskFailed")
        assert attrs.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES
        assert "VisNoSuchAttribute" in attrs.failure.message
        desc = await h.describe()
        assert desc.status == Status.RUNNING
        await h.terminate("test done")


# ================================================================ memo, consistency, pagination


async def test_memo_is_returned_in_list_results(client: Client, task_queue: str):
    p = task_queue
    async with new_worker(client, p, ALL_WORKFLOWS):
        await client.execute_workflow(
            VisQuick.run, "m", id=f"{p}-memo", task_queue=p, memo={"n": 1, "s": "x", "l": [1, "two"]}
        )
        await client.execute_workflow(VisQuick.run, "m", id=f"{p}-nomemo", task_queue=p)
        await wait_listed(
            client, f"TaskQueue = '{p}'", {f"{p}-memo": Status.COMPLETED, f"{p}-nomemo": Status.COMPLETED}
        )
    rows = {w.id: w async for w in client.list_workflows(f"TaskQueue = '{p}'")}
    assert await rows[f"{p}-memo"].memo() == {"n": 1, "s": "x", "l": [1, "two"]}
    assert await rows[f"{p}-nomemo"].memo() == {}
    # Memo is not searchable.
    await expect_invalid_query(client, f"TaskQueue = '{p}' AND n = 1", "n")


async def test_completed_workflow_is_never_listed_as_running_again(client: Client, task_queue: str):
    p = task_queue
    async with new_worker(client, p, ALL_WORKFLOWS):
        waiting = await client.start_workflow(VisWait.run, id=f"{p}-wait", task_queue=p)
        await wait_listed(client, f"WorkflowId = '{p}-wait'", {f"{p}-wait": Status.RUNNING})
        await waiting.signal(VisWait.finish)
        await asyncio.wait_for(waiting.result(), RESULT_TIMEOUT_S)
        quick = [f"{p}-q{i}" for i in range(4)]
        for wid in quick:
            await client.execute_workflow(VisQuick.run, "x", id=wid, task_queue=p)
        all_ids = [f"{p}-wait", *quick]
        await wait_listed(client, f"TaskQueue = '{p}'", {i: Status.COMPLETED for i in all_ids})
        # From now on, every observation agrees: Completed, none Running.
        for _ in range(8):
            rows = {w.id: w.status async for w in client.list_workflows(f"TaskQueue = '{p}'")}
            assert rows == {i: Status.COMPLETED for i in all_ids}
            assert (await client.count_workflows(f"TaskQueue = '{p}' AND ExecutionStatus = 'Running'")).count == 0
            assert (await client.count_workflows(f"TaskQueue = '{p}' AND CloseTime IS NULL")).count == 0
            await asyncio.sleep(0.1)


async def test_pagination_has_no_duplicates_and_misses_nothing(client: Client, task_queue: str):
    p = task_queue
    n = 12
    async with new_worker(client, p, ALL_WORKFLOWS):
        initial = [f"{p}-init-{i:02d}" for i in range(n)]
        await asyncio.gather(
            *(client.execute_workflow(VisQuick.run, "x", id=wid, task_queue=p) for wid in initial)
        )
        query = f"TaskQueue = '{p}'"
        await wait_listed(client, query, {i: Status.COMPLETED for i in initial})

        extra_started: list[str] = []
        seen: list[str] = []
        pages = 0
        token = b""
        while True:
            # More workflows appear while the pages are being read.
            wid = f"{p}-extra-{pages:02d}"
            await client.execute_workflow(VisQuick.run, "x", id=wid, task_queue=p)
            extra_started.append(wid)
            resp = await client.workflow_service.list_workflow_executions(
                ListWorkflowExecutionsRequest(namespace=NS, query=query, page_size=5, next_page_token=token),
                timeout=RPC_TIMEOUT,
            )
            pages += 1
            assert len(resp.executions) <= 5
            seen += [e.execution.workflow_id for e in resp.executions]
            token = resp.next_page_token
            if not token:
                break
            assert pages < 20, "pagination does not terminate"
        assert len(seen) == len(set(seen)), f"duplicates: {sorted(seen)}"
        assert set(initial) <= set(seen), f"missing: {set(initial) - set(seen)}"
        assert set(seen) <= set(initial) | set(extra_started)
        assert pages >= 3

        # The SDK iterator with a small page size sees everything exactly once.
        everything = [w.id async for w in client.list_workflows(query, page_size=4)]
        assert sorted(everything) == sorted(set(initial) | set(extra_started))


async def test_full_last_page_then_empty_page(client: Client, task_queue: str):
    p = task_queue
    async with new_worker(client, p, ALL_WORKFLOWS):
        ids = [f"{p}-{i}" for i in range(4)]
        for wid in ids:
            await client.execute_workflow(VisQuick.run, "x", id=wid, task_queue=p)
        query = f"TaskQueue = '{p}'"
        await wait_listed(client, query, {i: Status.COMPLETED for i in ids})
    r1 = await client.workflow_service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace=NS, query=query, page_size=2), timeout=RPC_TIMEOUT
    )
    assert len(r1.executions) == 2 and r1.next_page_token
    r2 = await client.workflow_service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace=NS, query=query, page_size=2, next_page_token=r1.next_page_token),
        timeout=RPC_TIMEOUT,
    )
    assert len(r2.executions) == 2
    got = [e.execution.workflow_id for e in [*r1.executions, *r2.executions]]
    assert sorted(got) == sorted(ids)
    if r2.next_page_token:  # a full page may carry a token; the next page is empty
        r3 = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=NS, query=query, page_size=2, next_page_token=r2.next_page_token),
            timeout=RPC_TIMEOUT,
        )
        assert len(r3.executions) == 0 and not r3.next_page_token
    # page_size 0 means the server default (everything here fits).
    r0 = await client.workflow_service.list_workflow_executions(
        ListWorkflowExecutionsRequest(namespace=NS, query=query, page_size=0), timeout=RPC_TIMEOUT
    )
    assert sorted(e.execution.workflow_id for e in r0.executions) == sorted(ids)


# ================================================================ legacy list APIs


async def test_scan_takes_the_list_query_and_pages(client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    seen: list[str] = []
    token = b""
    while True:
        r = await client.workflow_service.scan_workflow_executions(
            ScanWorkflowExecutionsRequest(
                namespace=NS, query=f"TaskQueue = '{p}'", page_size=2, next_page_token=token
            ),
            timeout=RPC_TIMEOUT,
        )
        seen.extend(e.execution.workflow_id for e in r.executions)
        token = r.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(await id_set(client, f"TaskQueue = '{p}'"))
    assert len(seen) == len(set(seen)) == 6
    err = await expect_rpc_error(
        client.workflow_service.scan_workflow_executions(
            ScanWorkflowExecutionsRequest(namespace=NS, query="NoSuchAttr = 'x'"), timeout=RPC_TIMEOUT
        )
    )
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and "NoSuchAttr" in err.message


async def test_legacy_list_open_and_closed(client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    ws = client.workflow_service
    earliest = Timestamp()
    earliest.FromDatetime(pop["before"] - timedelta(seconds=2))
    latest = Timestamp()
    latest.FromDatetime(pop["after"] + timedelta(seconds=2))

    # Open, by workflow id: only the running one is "open".
    r = await ws.list_open_workflow_executions(
        ListOpenWorkflowExecutionsRequest(
            namespace=NS, execution_filter=WorkflowExecutionFilter(workflow_id=f"{p}-run")
        ),
        timeout=RPC_TIMEOUT,
    )
    assert [e.execution.workflow_id for e in r.executions] == [f"{p}-run"]
    assert r.executions[0].status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    assert r.executions[0].task_queue == p
    r = await ws.list_open_workflow_executions(
        ListOpenWorkflowExecutionsRequest(
            namespace=NS, execution_filter=WorkflowExecutionFilter(workflow_id=f"{p}-done")
        ),
        timeout=RPC_TIMEOUT,
    )
    assert list(r.executions) == []
    # Open, by type: every result is a running VisWait, ours included.
    r = await ws.list_open_workflow_executions(
        ListOpenWorkflowExecutionsRequest(
            namespace=NS, type_filter=WorkflowTypeFilter(name="VisWait"),
            start_time_filter=StartTimeFilter(earliest_time=earliest, latest_time=latest),
        ),
        timeout=RPC_TIMEOUT,
    )
    assert f"{p}-run" in {e.execution.workflow_id for e in r.executions}
    assert {e.type.name for e in r.executions} == {"VisWait"}
    assert {e.status for e in r.executions} == {WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING}

    # Closed, by workflow id / by status / by time window.
    r = await ws.list_closed_workflow_executions(
        ListClosedWorkflowExecutionsRequest(
            namespace=NS, execution_filter=WorkflowExecutionFilter(workflow_id=f"{p}-done")
        ),
        timeout=RPC_TIMEOUT,
    )
    assert [e.execution.workflow_id for e in r.executions] == [f"{p}-done"]
    assert r.executions[0].close_time.seconds > 0
    r = await ws.list_closed_workflow_executions(
        ListClosedWorkflowExecutionsRequest(
            namespace=NS, execution_filter=WorkflowExecutionFilter(workflow_id=f"{p}-run")
        ),
        timeout=RPC_TIMEOUT,
    )
    assert list(r.executions) == []
    r = await ws.list_closed_workflow_executions(
        ListClosedWorkflowExecutionsRequest(
            namespace=NS,
            status_filter=StatusFilter(status=WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED),
            start_time_filter=StartTimeFilter(earliest_time=earliest, latest_time=latest),
        ),
        timeout=RPC_TIMEOUT,
    )
    ours = {e.execution.workflow_id for e in r.executions if e.task_queue == p}
    assert ours == {f"{p}-term"}
    assert {e.status for e in r.executions} == {WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED}
    r = await ws.list_closed_workflow_executions(
        ListClosedWorkflowExecutionsRequest(
            namespace=NS, start_time_filter=StartTimeFilter(earliest_time=earliest, latest_time=latest),
            maximum_page_size=1000,
        ),
        timeout=RPC_TIMEOUT,
    )
    ours = {e.execution.workflow_id for e in r.executions if e.task_queue == p}
    assert ours == by_id(["done", "fail", "term", "parent", "parent-child"], p)
    # A window entirely after the population excludes it.
    later = Timestamp()
    later.FromDatetime(pop["after"] + timedelta(hours=1))
    r = await ws.list_closed_workflow_executions(
        ListClosedWorkflowExecutionsRequest(namespace=NS, start_time_filter=StartTimeFilter(earliest_time=later)),
        timeout=RPC_TIMEOUT,
    )
    assert list(r.executions) == []

    # Paging with maximum_page_size.
    r = await ws.list_open_workflow_executions(
        ListOpenWorkflowExecutionsRequest(namespace=NS, maximum_page_size=1), timeout=RPC_TIMEOUT
    )
    assert len(r.executions) == 1 and r.next_page_token

    # Errors.
    err = await expect_rpc_error(
        ws.list_closed_workflow_executions(
            ListClosedWorkflowExecutionsRequest(
                namespace=NS, start_time_filter=StartTimeFilter(earliest_time=latest, latest_time=earliest)
            ),
            timeout=RPC_TIMEOUT,
        )
    )
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and "EarliestTime" in err.message, err.message
    err = await expect_rpc_error(
        ws.list_closed_workflow_executions(
            ListClosedWorkflowExecutionsRequest(
                namespace=NS,
                status_filter=StatusFilter(status=WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING),
            ),
            timeout=RPC_TIMEOUT,
        )
    )
    assert err.status == RPCStatusCode.INVALID_ARGUMENT and "StatusFilter" in err.message, err.message


# ================================================================ deletion


async def test_delete_removes_run_from_list_results(client: Client, task_queue: str):
    p = task_queue
    async with new_worker(client, p, ALL_WORKFLOWS):
        await client.execute_workflow(VisQuick.run, "x", id=f"{p}-closed", task_queue=p)
        await client.start_workflow(VisWait.run, id=f"{p}-open", task_queue=p)
        await client.execute_workflow(VisQuick.run, "x", id=f"{p}-kept", task_queue=p)
        query = f"TaskQueue = '{p}'"
        await wait_listed(
            client,
            query,
            {f"{p}-closed": Status.COMPLETED, f"{p}-open": Status.RUNNING, f"{p}-kept": Status.COMPLETED},
        )
        for wid in (f"{p}-closed", f"{p}-open"):
            await client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(namespace=NS, workflow_execution=WorkflowExecution(workflow_id=wid)),
                timeout=RPC_TIMEOUT,
            )
        await eventually(
            lambda: _eq(id_set(client, query), {f"{p}-kept"}),
            "deleted runs gone from ListWorkflowExecutions",
            timeout=DELETE_TIMEOUT_S,
        )
        assert (await client.count_workflows(query)).count == 1
        assert await id_set(client, f"WorkflowId = '{p}-closed'") == set()


# ================================================================ CLI


async def test_cli_workflow_list_and_count_with_query(cli: Cli, client: Client):
    pop = await statuses_population(client)
    p = pop["p"]
    q = f"TaskQueue = '{p}' AND ExecutionStatus != 'Running'"
    rows = await cli.json("workflow", "list", "--query", q)
    assert {r["execution"]["workflowId"] for r in rows} == by_id(["done", "fail", "term", "parent", "parent-child"], p)
    statuses = {r["execution"]["workflowId"]: r["status"] for r in rows}
    assert statuses[f"{p}-fail"] == "WORKFLOW_EXECUTION_STATUS_FAILED"
    assert all(r["taskQueue"] == p for r in rows)

    text = (await cli.run("workflow", "list", "--query", f"TaskQueue = '{p}' AND WorkflowType = 'VisFail'")).stdout
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines[0].split()[:4] == ["Status", "WorkflowId", "Type", "StartTime"], text
    assert len(lines) == 2 and lines[1].split()[:3] == ["Failed", f"{p}-fail", "VisFail"], text

    out = (await cli.run("workflow", "count", "--query", f"TaskQueue = '{p}'")).stdout
    assert out.strip() == "Total: 6", out
    doc = await cli.json("workflow", "count", "--query", f"TaskQueue = '{p}'")
    assert doc == {"count": "6"}
    doc = await cli.json("workflow", "count", "--query", f"TaskQueue = '{p}' GROUP BY ExecutionStatus")
    assert doc["count"] == "6"
    assert [(g["groupValues"], g["count"]) for g in doc["groups"]] == [
        (["Running"], "1"),
        (["Completed"], "3"),
        (["Failed"], "1"),
        (["Terminated"], "1"),
    ]
    out = (await cli.run("workflow", "count", "--query", f"TaskQueue = '{p}' GROUP BY ExecutionStatus")).stdout
    assert out.splitlines()[0] == "Total: 6", out
    assert "Group total: 3, values: Completed" in out, out

    bad = await cli.run("workflow", "list", "--query", "NoSuchAttr = 1", expect_ok=False)
    assert "NoSuchAttr" in bad.stderr, bad.stderr
    bad = await cli.run("workflow", "count", "--query", "NoSuchAttr = 1", expect_ok=False)
    assert "NoSuchAttr" in bad.stderr, bad.stderr


async def test_cli_search_attribute_create_list_remove(cli: Cli, client: Client):
    # One name per command (CLI 1.9.1 pairs the i-th --name with the i-th
    # --type and silently drops names without a type).
    for name in ("VisCliKeyword", "VisCliKeyword2"):
        await cli.run("operator", "search-attribute", "create", "--name", name, "--type", "Keyword")
    await cli.run("operator", "search-attribute", "create", "--name", "VisCliDatetime", "--type", "Datetime")
    # Creating again with the same type succeeds.
    await cli.run("operator", "search-attribute", "create", "--name", "VisCliKeyword", "--type", "Keyword")

    doc = await cli.json("operator", "search-attribute", "list")
    assert doc["customAttributes"]["VisCliKeyword"] == "INDEXED_VALUE_TYPE_KEYWORD"
    assert doc["customAttributes"]["VisCliKeyword2"] == "INDEXED_VALUE_TYPE_KEYWORD"
    assert doc["customAttributes"]["VisCliDatetime"] == "INDEXED_VALUE_TYPE_DATETIME"
    assert doc["systemAttributes"]["WorkflowId"] == "INDEXED_VALUE_TYPE_KEYWORD"
    assert doc["systemAttributes"]["CloseTime"] == "INDEXED_VALUE_TYPE_DATETIME"
    text = (await cli.run("operator", "search-attribute", "list")).stdout
    line = next(ln for ln in text.splitlines() if "VisCliDatetime" in ln)
    assert line.split() == ["VisCliDatetime", "Datetime"], text

    # The new attribute is immediately usable in a query.
    assert await id_set(client, "VisCliKeyword = 'nothing'") == set()

    # Errors: reserved name (server), different type for an existing name (CLI check).
    bad = await cli.run(
        "operator", "search-attribute", "create", "--name", "WorkflowId", "--type", "Keyword", expect_ok=False
    )
    assert "WorkflowId" in bad.stderr and "reserved" in bad.stderr, bad.stderr
    bad = await cli.run(
        "operator", "search-attribute", "create", "--name", "VisCliKeyword", "--type", "Int", expect_ok=False
    )
    assert "VisCliKeyword" in bad.stderr and "already exists" in bad.stderr, bad.stderr

    await cli.run("operator", "search-attribute", "remove", "--name", "VisCliKeyword2", "--yes")
    doc = await cli.json("operator", "search-attribute", "list")
    assert "VisCliKeyword2" not in doc["customAttributes"]
    assert "VisCliKeyword" in doc["customAttributes"]
    bad = await cli.run(
        "operator", "search-attribute", "remove", "--name", "WorkflowId", "--yes", expect_ok=False
    )
    assert "WorkflowId" in bad.stderr, bad.stderr
