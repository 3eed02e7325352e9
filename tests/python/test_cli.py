"""The official `temporal` CLI against the server under test.

Each command must exit 0 and print what the real Temporal server makes it
print (validated with ENDURE_TEST_TARGET=temporal). A Python worker in the
test process serves the workflow types the CLI starts, so they really run.

CLI subprocesses run in a thread (asyncio.to_thread) so that the worker in
this event loop keeps polling while the CLI waits for the server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import time
from typing import AsyncIterator, Callable

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from conftest import EXTRA_NAMESPACE, new_worker, unique
from endure_testing.servers import ServerProcess, temporal_bin

CLI_TIMEOUT_S = 60


# ---------------------------------------------------------------- workflows


@workflow.defn(name="CliGreet")
class CliGreet:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"Hello, {name}!"


@workflow.defn(name="CliWaitForSignals")
class CliWaitForSignals:
    """Completes after two `msg` signals and returns them."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    @workflow.signal(name="msg")
    def msg(self, m: str) -> None:
        self.messages.append(m)

    @workflow.query(name="messages")
    def get_messages(self) -> list[str]:
        return self.messages

    @workflow.query(name="count")
    def count(self) -> int:
        return len(self.messages)

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: len(self.messages) >= 2)
        return self.messages


# ---------------------------------------------------------------- helpers


class Cli:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.binary = temporal_bin()
        # Nothing from the developer's environment may redirect the CLI.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
        self.env["NO_COLOR"] = "1"

    def run_sync(self, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
        cmd = [
            self.binary,
            *args,
            "--address",
            self.server.address,
            "--color",
            "never",
        ]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=self.env,
            stdin=subprocess.DEVNULL,
            timeout=CLI_TIMEOUT_S,
        )
        shown = " ".join(args)
        if expect_ok:
            assert proc.returncode == 0, (
                f"`temporal {shown}` exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        else:
            assert proc.returncode != 0, (
                f"`temporal {shown}` should have failed\nstdout:\n{proc.stdout}"
            )
        return proc

    async def run(self, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
        return await asyncio.to_thread(self.run_sync, *args, expect_ok=expect_ok)

    async def text(self, *args: str) -> str:
        return (await self.run(*args)).stdout

    async def json(self, *args: str):
        out = (await self.run(*args, "-o", "json")).stdout
        try:
            return json.loads(out)
        except json.JSONDecodeError as e:  # pragma: no cover - diagnostic
            raise AssertionError(f"`temporal {' '.join(args)} -o json` printed non-JSON:\n{out}") from e


async def eventually(
    check: Callable[[], "asyncio.Future"], what: str, timeout: float = 15.0
):
    """Retry an async check until it returns a truthy value (visibility may lag)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last value: {last!r}")
        await asyncio.sleep(0.3)


def kv_lines(text: str) -> dict[str, str]:
    """Parse the CLI's aligned `Key  Value` text blocks into a dict."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^\s+(\S+)\s{2,}(.*?)\s*$", line)
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2)
    return out


def event_types_from_show_text(text: str) -> list[str]:
    return re.findall(r"^\s+\d+\s+\S+\s+([A-Za-z]+)\s*$", text, flags=re.M)


EVENT_PREFIX = "EVENT_TYPE_"


def payload_values(payloads: dict) -> list:
    """Decode a JSON-rendered ``Payloads`` message (base64 json/plain data)."""
    out = []
    for p in payloads["payloads"]:
        assert base64.b64decode(p["metadata"]["encoding"]) == b"json/plain", p
        out.append(json.loads(base64.b64decode(p["data"])))
    return out


def event_types_from_show_json(doc) -> list[str]:
    return [e["eventType"] for e in doc["events"]]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cli(server: ServerProcess) -> Cli:
    return Cli(server)


@pytest.fixture(scope="module")
def cli_task_queue() -> str:
    return unique("cli-tq")


@pytest_asyncio.fixture
async def worker(client: Client, cli_task_queue: str) -> AsyncIterator[Worker]:
    async with new_worker(client, cli_task_queue, [CliGreet, CliWaitForSignals]) as w:
        yield w


async def start_via_cli(cli: Cli, tq: str, wf_type: str, wf_id: str, *inputs: str) -> dict:
    args = ["workflow", "start", "--type", wf_type, "--task-queue", tq, "--workflow-id", wf_id]
    for i in inputs:
        args += ["--input", i]
    started = await cli.json(*args)
    assert started["workflowId"] == wf_id
    assert started["type"] == wf_type
    assert started["namespace"] == "default"
    assert started["taskQueue"] == tq
    assert re.fullmatch(r"[0-9a-f-]{36}", started["runId"]), started
    return started


async def wait_closed(client: Client, wf_id: str) -> None:
    handle: WorkflowHandle = client.get_workflow_handle(wf_id)
    try:
        await asyncio.wait_for(handle.result(), timeout=30)
    except asyncio.TimeoutError:
        raise
    except Exception:
        pass  # failed / canceled / terminated are fine here


# ---------------------------------------------------------------- namespaces


async def test_namespace_create_list_describe(cli: Cli):
    ns = unique("cli-ns")
    out = await cli.text(
        "operator", "namespace", "create", "--namespace", ns,
        "--description", "created by the CLI test", "--retention", "48h",
    )
    assert f"Namespace {ns} successfully registered." in out

    # Creating it again is an error (AlreadyExists).
    dup = await cli.run("operator", "namespace", "create", "--namespace", ns, expect_ok=False)
    assert "already exists" in (dup.stderr + dup.stdout).lower()

    # list (JSON): default, the one from --namespace at server start, the new one.
    listed = await cli.json("operator", "namespace", "list")
    names = [n["namespaceInfo"]["name"] for n in listed]
    assert {"default", EXTRA_NAMESPACE, ns} <= set(names), names
    mine = next(n for n in listed if n["namespaceInfo"]["name"] == ns)
    assert mine["namespaceInfo"]["state"] == "NAMESPACE_STATE_REGISTERED"

    # list (text) shows every namespace's name.
    text = await cli.text("operator", "namespace", "list")
    assert re.search(rf"NamespaceInfo\.Name\s+{re.escape(ns)}\s*$", text, re.M), text
    assert re.search(r"NamespaceInfo\.Name\s+default\s*$", text, re.M), text

    # describe (JSON)
    desc = await cli.json("operator", "namespace", "describe", "--namespace", ns)
    info = desc["namespaceInfo"]
    assert info["name"] == ns
    assert info["state"] == "NAMESPACE_STATE_REGISTERED"
    assert info["description"] == "created by the CLI test"
    assert re.fullmatch(r"[0-9a-f-]{36}", info["id"]), info
    assert desc["config"]["workflowExecutionRetentionTtl"] == "172800s"
    # describe by id gives the same namespace
    by_id = await cli.json("operator", "namespace", "describe", "--namespace-id", info["id"])
    assert by_id["namespaceInfo"]["name"] == ns

    # describe (text)
    text = await cli.text("operator", "namespace", "describe", "--namespace", ns)
    kv = kv_lines(text)
    assert kv.get("NamespaceInfo.Name") == ns, text
    assert kv.get("NamespaceInfo.Id") == info["id"], text
    assert kv.get("NamespaceInfo.State") == "Registered", text
    assert kv.get("Config.WorkflowExecutionRetentionTtl") == "48h0m0s", text

    missing = await cli.run(
        "operator", "namespace", "describe", "--namespace", unique("no-such-ns"),
        expect_ok=False,
    )
    assert "not found" in missing.stderr.lower()


# ---------------------------------------------------------------- workflows


async def test_workflow_start_runs_and_completes(cli: Cli, client: Client, worker, cli_task_queue):
    wf_id = unique("cli-greet")
    # Plain-text start output.
    out = await cli.text(
        "workflow", "start", "--type", "CliGreet", "--task-queue", cli_task_queue,
        "--workflow-id", wf_id, "--input", '"CLI"',
    )
    assert "Running execution:" in out
    kv = kv_lines(out)
    assert kv.get("WorkflowId") == wf_id, out
    assert re.fullmatch(r"[0-9a-f-]{36}", kv.get("RunId", "")), out
    assert kv.get("Type") == "CliGreet", out
    assert kv.get("Namespace") == "default", out
    assert kv.get("TaskQueue") == cli_task_queue, out
    run_id = kv["RunId"]

    # The worker in this process runs it.
    result = await asyncio.wait_for(client.get_workflow_handle(wf_id).result(), 30)
    assert result == "Hello, CLI!"

    # describe (JSON)
    desc = await cli.json("workflow", "describe", "--workflow-id", wf_id)
    info = desc["workflowExecutionInfo"]
    assert info["execution"] == {"workflowId": wf_id, "runId": run_id}
    assert info["type"]["name"] == "CliGreet"
    assert info["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"
    assert info["taskQueue"] == cli_task_queue
    assert int(info["historyLength"]) == 5
    assert "startTime" in info and "closeTime" in info
    assert desc["executionConfig"]["taskQueue"]["name"] == cli_task_queue

    # describe (text): the CLI also reads the close event for the result.
    text = await cli.text("workflow", "describe", "--workflow-id", wf_id, "--run-id", run_id)
    kv = kv_lines(text)
    assert kv.get("WorkflowId") == wf_id, text
    assert kv.get("RunId") == run_id, text
    assert kv.get("Type") == "CliGreet", text
    assert kv.get("TaskQueue") == cli_task_queue, text
    assert kv.get("HistoryLength") == "5", text
    assert kv.get("Status") == "COMPLETED", text
    assert kv.get("Result") == '"Hello, CLI!"', text

    # show (text): the event table
    text = await cli.text("workflow", "show", "--workflow-id", wf_id)
    assert event_types_from_show_text(text) == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionCompleted",
    ], text
    assert "COMPLETED" in text and '"Hello, CLI!"' in text

    # show (JSON)
    hist = await cli.json("workflow", "show", "--workflow-id", wf_id)
    assert event_types_from_show_json(hist) == [
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
        "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
        "EVENT_TYPE_WORKFLOW_TASK_STARTED",
        "EVENT_TYPE_WORKFLOW_TASK_COMPLETED",
        "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
    ]
    assert [e["eventId"] for e in hist["events"]] == ["1", "2", "3", "4", "5"]
    started = hist["events"][0]["workflowExecutionStartedEventAttributes"]
    assert started["workflowType"]["name"] == "CliGreet"
    assert started["taskQueue"]["name"] == cli_task_queue
    assert payload_values(started["input"]) == ["CLI"], started
    completed = hist["events"][-1]["workflowExecutionCompletedEventAttributes"]
    assert payload_values(completed["result"]) == ["Hello, CLI!"], completed

    # list: the run shows up with its status (visibility may lag briefly).
    async def listed():
        rows = await cli.json("workflow", "list")
        return next((r for r in rows if r["execution"]["workflowId"] == wf_id), None)

    row = await eventually(listed, f"{wf_id} in `workflow list`")
    assert row["execution"]["runId"] == run_id
    assert row["type"]["name"] == "CliGreet"
    assert row["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"
    assert row["taskQueue"] == cli_task_queue


async def test_workflow_signal_and_query(cli: Cli, client: Client, worker, cli_task_queue):
    wf_id = unique("cli-signal")
    started = await start_via_cli(cli, cli_task_queue, "CliWaitForSignals", wf_id)
    run_id = started["runId"]

    # Running: describe shows it.
    async def running():
        d = await cli.json("workflow", "describe", "--workflow-id", wf_id)
        return d["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING" and d

    desc = await eventually(running, f"{wf_id} running")
    assert desc["workflowExecutionInfo"]["execution"]["runId"] == run_id
    text = await cli.text("workflow", "describe", "--workflow-id", wf_id)
    assert kv_lines(text).get("WorkflowId") == wf_id
    # A running workflow has no "Results:" block but lists pending work.
    assert "Results:" not in text, text
    assert "Pending Activities: 0" in text, text

    # Query before any signal.
    q = await cli.json("workflow", "query", "--workflow-id", wf_id, "--name", "count")
    assert q == {"queryResult": [0]}

    out = await cli.text(
        "workflow", "signal", "--workflow-id", wf_id, "--name", "msg", "--input", '"hello"'
    )
    assert "Signal workflow succeeded" in out

    q = await cli.json("workflow", "query", "--workflow-id", wf_id, "--name", "messages")
    assert q == {"queryResult": [["hello"]]}
    # Plain-text query output; --type is the older spelling of --name.
    text = await cli.text("workflow", "query", "--workflow-id", wf_id, "--type", "count")
    assert "Query result:" in text
    assert kv_lines(text).get("QueryResult") == "1", text

    # Unknown query type is an error reported by the worker.
    bad = await cli.run(
        "workflow", "query", "--workflow-id", wf_id, "--name", "no-such-query",
        expect_ok=False,
    )
    assert "no-such-query" in bad.stderr

    await cli.run(
        "workflow", "signal", "--workflow-id", wf_id, "--run-id", run_id,
        "--name", "msg", "--input", '"world"',
    )
    result = await asyncio.wait_for(client.get_workflow_handle(wf_id).result(), 30)
    assert result == ["hello", "world"]

    hist = await cli.json("workflow", "show", "--workflow-id", wf_id)
    types = event_types_from_show_json(hist)
    assert types.count("EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED") == 2
    assert types[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    signaled = [
        e["workflowExecutionSignaledEventAttributes"]
        for e in hist["events"]
        if e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"
    ]
    assert [s["signalName"] for s in signaled] == ["msg", "msg"]
    assert [payload_values(s["input"]) for s in signaled] == [["hello"], ["world"]]

    text = await cli.text("workflow", "show", "--workflow-id", wf_id)
    assert "WorkflowExecutionSignaled" in text
    assert '["hello","world"]' in text

    # Signalling a closed workflow fails.
    closed = await cli.run(
        "workflow", "signal", "--workflow-id", wf_id, "--name", "msg", "--input", '"late"',
        expect_ok=False,
    )
    assert "completed" in closed.stderr.lower()


async def test_workflow_cancel(cli: Cli, client: Client, worker, cli_task_queue):
    wf_id = unique("cli-cancel")
    started = await start_via_cli(cli, cli_task_queue, "CliWaitForSignals", wf_id)
    # Let the first workflow task complete so the worker handles the cancel.
    await eventually(
        lambda: _history_has(cli, wf_id, "EVENT_TYPE_WORKFLOW_TASK_COMPLETED"),
        "first workflow task completed",
    )

    out = await cli.text("workflow", "cancel", "--workflow-id", wf_id)
    assert "Canceled workflow" in out
    await wait_closed(client, wf_id)

    desc = await cli.json("workflow", "describe", "--workflow-id", wf_id)
    info = desc["workflowExecutionInfo"]
    assert info["execution"]["runId"] == started["runId"]
    assert info["status"] == "WORKFLOW_EXECUTION_STATUS_CANCELED"
    assert desc["workflowExtendedInfo"]["cancelRequested"] is True

    text = await cli.text("workflow", "describe", "--workflow-id", wf_id)
    kv = kv_lines(text)
    assert kv.get("Status") == "CANCELED", text
    assert kv.get("CancelRequested") == "true", text

    hist = await cli.json("workflow", "show", "--workflow-id", wf_id)
    types = event_types_from_show_json(hist)
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED" in types
    assert types[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED"
    text = await cli.text("workflow", "show", "--workflow-id", wf_id)
    assert "WorkflowExecutionCancelRequested" in text
    assert "WorkflowExecutionCanceled" in text


async def test_workflow_terminate(cli: Cli, client: Client, worker, cli_task_queue):
    wf_id = unique("cli-terminate")
    started = await start_via_cli(cli, cli_task_queue, "CliWaitForSignals", wf_id)

    out = await cli.text(
        "workflow", "terminate", "--workflow-id", wf_id, "--reason", "stopped by test"
    )
    assert "Workflow terminated" in out

    desc = await cli.json("workflow", "describe", "--workflow-id", wf_id)
    info = desc["workflowExecutionInfo"]
    assert info["execution"]["runId"] == started["runId"]
    assert info["status"] == "WORKFLOW_EXECUTION_STATUS_TERMINATED"
    assert "closeTime" in info

    hist = await cli.json("workflow", "show", "--workflow-id", wf_id)
    last = hist["events"][-1]
    assert last["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"
    assert last["workflowExecutionTerminatedEventAttributes"]["reason"] == "stopped by test"
    text = await cli.text("workflow", "show", "--workflow-id", wf_id)
    assert event_types_from_show_text(text)[-1] == "WorkflowExecutionTerminated", text

    # Terminating it again fails: it is already closed.
    again = await cli.run("workflow", "terminate", "--workflow-id", wf_id, expect_ok=False)
    assert "completed" in again.stderr.lower()


async def test_workflow_list_shows_each_status(cli: Cli, client: Client, worker, cli_task_queue):
    """One workflow per status; plain-text and JSON `workflow list` agree."""
    ids = {
        "Running": unique("cli-list-running"),
        "Completed": unique("cli-list-completed"),
        "Canceled": unique("cli-list-canceled"),
        "Terminated": unique("cli-list-terminated"),
    }
    await start_via_cli(cli, cli_task_queue, "CliWaitForSignals", ids["Running"])
    await start_via_cli(cli, cli_task_queue, "CliGreet", ids["Completed"], '"list"')
    await start_via_cli(cli, cli_task_queue, "CliWaitForSignals", ids["Canceled"])
    await start_via_cli(cli, cli_task_queue, "CliWaitForSignals", ids["Terminated"])
    await eventually(
        lambda: _history_has(cli, ids["Canceled"], "EVENT_TYPE_WORKFLOW_TASK_COMPLETED"),
        "first workflow task completed",
    )
    await cli.run("workflow", "cancel", "--workflow-id", ids["Canceled"])
    await cli.run("workflow", "terminate", "--workflow-id", ids["Terminated"])
    for key in ("Completed", "Canceled"):
        await wait_closed(client, ids[key])

    expected_json = {
        "Running": "WORKFLOW_EXECUTION_STATUS_RUNNING",
        "Completed": "WORKFLOW_EXECUTION_STATUS_COMPLETED",
        "Canceled": "WORKFLOW_EXECUTION_STATUS_CANCELED",
        "Terminated": "WORKFLOW_EXECUTION_STATUS_TERMINATED",
    }

    async def json_statuses_match():
        rows = await cli.json("workflow", "list")
        by_id = {r["execution"]["workflowId"]: r["status"] for r in rows}
        got = {k: by_id.get(v) for k, v in ids.items()}
        return got == expected_json or None

    await eventually(json_statuses_match, "`workflow list -o json` statuses")

    text = await cli.text("workflow", "list")
    header = text.strip().splitlines()[0].split()
    assert header[:4] == ["Status", "WorkflowId", "Type", "StartTime"], text
    for status, wf_id in ids.items():
        line = next((ln for ln in text.splitlines() if wf_id in ln), None)
        assert line is not None, f"{wf_id} missing from `workflow list`:\n{text}"
        assert line.split()[0] == status, line

    # Clean up the running one so it does not outlive the module's worker.
    await cli.run("workflow", "terminate", "--workflow-id", ids["Running"])


async def test_workflow_commands_on_unknown_id_fail(cli: Cli):
    wf_id = unique("cli-missing")
    for args in (
        ("workflow", "describe", "--workflow-id", wf_id),
        ("workflow", "show", "--workflow-id", wf_id),
        ("workflow", "signal", "--workflow-id", wf_id, "--name", "msg"),
        ("workflow", "terminate", "--workflow-id", wf_id),
    ):
        proc = await cli.run(*args, expect_ok=False)
        assert "not found" in proc.stderr.lower(), (args, proc.stderr)


async def _history_has(cli: Cli, wf_id: str, event_type: str) -> bool:
    hist = await cli.json("workflow", "show", "--workflow-id", wf_id)
    return any(e["eventType"] == event_type for e in hist["events"])


async def test_task_queue_describe_shows_backlog_per_type(cli: Cli, client: Client):
    """`temporal task-queue describe` (DescribeTaskQueue in its enhanced mode): a workflow
    started on a queue no worker polls waits in its workflow backlog; the activity backlog is
    empty; both types are listed."""
    queue = unique("tq-describe")
    await client.start_workflow("NobodyRunsThis", id=unique("wf"), task_queue=queue)

    async def stats():
        out = await cli.json("task-queue", "describe", "--task-queue", queue)
        by_type = {s["taskQueueType"]: s for s in out.get("stats") or []}
        return by_type if by_type.get("workflow", {}).get("approximateBacklogCount") == 1 else None

    by_type = await eventually(stats, "the workflow task in the backlog")
    assert set(by_type) == {"workflow", "activity"}
    assert by_type["activity"]["approximateBacklogCount"] == 0
    assert by_type["workflow"]["buildId"] == "UNVERSIONED"
    assert by_type["workflow"]["approximateBacklogAge"] != "0s", "the waiting task has an age"
