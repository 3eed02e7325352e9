"""Golden-history helpers shared by the run-chain, child and external tests.

Same mechanism as ``test_histories.py`` (which is left unchanged): a history
is reduced to its event types plus a few key attributes and compared with
``golden/<name>.json``, recorded against the real Temporal dev server::

    ENDURE_TEST_TARGET=temporal ENDURE_RECORD_GOLDEN=1 \\
        .venv/bin/python -m pytest tests/python/test_continue_as_new.py \\
        tests/python/test_workflow_retry.py tests/python/test_cron.py \\
        tests/python/test_children.py tests/python/test_external.py -q

The attribute map extends ``test_histories.KEY_ATTRS`` with the events of
continue-as-new, workflow retries, child workflows and external signals and
cancel requests. What legitimately varies (workflow/run ids, timestamps,
identities, task queue names, payloads) is not recorded; the tests check run
ids and links between runs explicitly.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, WorkflowHandle

from conftest import target
from test_histories import KEY_ATTRS as BASE_KEY_ATTRS
from test_histories import render

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
RECORD = os.environ.get("ENDURE_RECORD_GOLDEN", "").strip() not in ("", "0")

_CHILD = ["workflow_type", "initiated_event_id", "started_event_id"]

KEY_ATTRS: dict[str, list[str]] = {
    **BASE_KEY_ATTRS,
    "WORKFLOW_EXECUTION_STARTED": ["workflow_type", "attempt", "initiator"],
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW": [
        "workflow_type",
        "workflow_task_completed_event_id",
        "initiator",
    ],
    "WORKFLOW_EXECUTION_CANCEL_REQUESTED": ["external_initiated_event_id"],
    "START_CHILD_WORKFLOW_EXECUTION_INITIATED": [
        "workflow_type",
        "workflow_task_completed_event_id",
        "parent_close_policy",
    ],
    "START_CHILD_WORKFLOW_EXECUTION_FAILED": [
        "workflow_type",
        "cause",
        "initiated_event_id",
        "workflow_task_completed_event_id",
    ],
    "CHILD_WORKFLOW_EXECUTION_STARTED": ["workflow_type", "initiated_event_id"],
    "CHILD_WORKFLOW_EXECUTION_COMPLETED": _CHILD,
    "CHILD_WORKFLOW_EXECUTION_FAILED": _CHILD + ["retry_state"],
    "CHILD_WORKFLOW_EXECUTION_CANCELED": _CHILD,
    "CHILD_WORKFLOW_EXECUTION_TERMINATED": _CHILD,
    "CHILD_WORKFLOW_EXECUTION_TIMED_OUT": _CHILD + ["retry_state"],
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED": [
        "workflow_task_completed_event_id",
        "signal_name",
        "child_workflow_only",
    ],
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED": [
        "workflow_task_completed_event_id",
        "initiated_event_id",
        "cause",
    ],
    "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED": ["initiated_event_id"],
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED": [
        "workflow_task_completed_event_id",
        "child_workflow_only",
    ],
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED": [
        "workflow_task_completed_event_id",
        "initiated_event_id",
        "cause",
    ],
    "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED": ["initiated_event_id"],
}


def normalize(events: Iterable[HistoryEvent]) -> list[dict[str, Any]]:
    out = []
    for e in events:
        name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        rec: dict[str, Any] = {"event_id": e.event_id, "event_type": name}
        which = e.WhichOneof("attributes")
        attrs = getattr(e, which) if which else None
        for field in KEY_ATTRS.get(name, []):
            value = getattr(attrs, field)
            fd = attrs.DESCRIPTOR.fields_by_name[field]
            if fd.enum_type is not None:
                value = fd.enum_type.values_by_number[value].name
            elif field in ("activity_type", "workflow_type"):
                value = value.name
            rec[field] = value
        out.append(rec)
    return out


def event_names(events: Iterable[HistoryEvent]) -> list[str]:
    return [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events]


async def check_golden(
    client: Client, name: str, description: str, events: Iterable[HistoryEvent]
) -> None:
    """Compare a history with ``golden/<name>.json`` (or record it)."""
    got = normalize(events)
    # Structural invariant, independent of the golden: ids are 1..n.
    assert [e["event_id"] for e in got] == list(range(1, len(got) + 1))

    path = GOLDEN_DIR / f"{name}.json"
    if RECORD:
        if target() != "temporal":
            pytest.fail(
                "ENDURE_RECORD_GOLDEN=1 records the goldens from the real server: "
                "set ENDURE_TEST_TARGET=temporal",
                pytrace=False,
            )
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "scenario": name,
                    "description": description,
                    "recorded_against": f"temporal dev server {info.server_version}",
                    "events": got,
                },
                indent=2,
            )
            + "\n"
        )
        return
    if not path.exists():
        pytest.fail(
            f"missing golden {path}: record it with ENDURE_TEST_TARGET=temporal "
            "ENDURE_RECORD_GOLDEN=1",
            pytrace=False,
        )
    expected = json.loads(path.read_text())["events"]
    assert got == expected, (
        f"history {name!r} ({description}) differs from {path.name}\n"
        f"expected (real server):\n{render(expected)}\ngot:\n{render(got)}"
    )


async def wait_for_wait_point(handle: WorkflowHandle, timeout: float = 30) -> None:
    """Until a workflow task completed and nothing happened after it."""
    await wait_for_events(handle, [], timeout=timeout)


async def wait_for_events(
    handle: WorkflowHandle, required: list[str], timeout: float = 30
) -> list[HistoryEvent]:
    """Until the history holds all ``required`` event types (names without
    the EVENT_TYPE_ prefix) and ends with WorkflowTaskCompleted (so the
    workflow sits at a wait point: nothing more happens until someone acts)."""
    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        history = await handle.fetch_history()
        names = event_names(history.events)
        if (
            len(names) >= 4
            and names[-1] == "WORKFLOW_TASK_COMPLETED"
            and all(r in names for r in required)
        ):
            return list(history.events)
        await asyncio.sleep(0.1)
    pytest.fail(
        f"workflow {handle.id} did not reach its wait point (after {required}): {names}"
    )


async def wait_for_status(
    client: Client, workflow_id: str, status: int, run_id: str | None = None,
    timeout: float = 20,
):
    """Poll DescribeWorkflowExecution until the run has ``status``."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    deadline = time.monotonic() + timeout
    desc = None
    while time.monotonic() < deadline:
        desc = await handle.describe()
        if desc.raw_description.workflow_execution_info.status == status:
            return desc
        await asyncio.sleep(0.1)
    got = desc.raw_description.workflow_execution_info.status if desc else None
    pytest.fail(
        f"workflow {workflow_id} did not reach status {status} within {timeout}s "
        f"(last status {got})"
    )
