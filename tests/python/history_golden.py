"""Golden histories: the one way tests/python compares a history with the real server's.

A history is reduced (:func:`normalize`) to its event ids and types plus the key attributes
:data:`KEY_ATTRS` lists for each event type (enums by name, activity and workflow types by
name, the ids events refer to, attempts, causes, retry states). What legitimately varies
between servers and runs (workflow and run ids, timestamps, identities, task queue names,
payloads) is not recorded; tests check such values explicitly where they matter.

:func:`check_golden` compares the reduced history with ``golden/<name>.json``, recorded
against the real Temporal dev server and never against Endure::

    ENDURE_TEST_TARGET=temporal ENDURE_RECORD_GOLDEN=1 \\
        .venv/bin/python -m pytest tests/python/<test file> -q

Goldens are deterministic because tests act (signal, cancel, terminate, update) only at a
wait point (:func:`wait_for_events`): the last workflow task completed and nothing else is
in flight, so buffering timing cannot change the order of events.

This is a support module, not a test file: every test file imports its golden helpers from
here, and no test file imports from another.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any, Collection, Iterable

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, WorkflowHandle

from conftest import target

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
RECORD = os.environ.get("ENDURE_RECORD_GOLDEN", "").strip() not in ("", "0")

_CHILD = ["workflow_type", "initiated_event_id", "started_event_id"]

# Attributes recorded per event type (event types without an entry: id and type only).
KEY_ATTRS: dict[str, list[str]] = {
    # workflow
    "WORKFLOW_EXECUTION_STARTED": ["workflow_type", "attempt", "initiator"],
    "WORKFLOW_EXECUTION_SIGNALED": ["signal_name"],
    "WORKFLOW_EXECUTION_CANCEL_REQUESTED": ["external_initiated_event_id"],
    "WORKFLOW_EXECUTION_COMPLETED": ["workflow_task_completed_event_id"],
    "WORKFLOW_EXECUTION_FAILED": ["retry_state", "workflow_task_completed_event_id"],
    "WORKFLOW_EXECUTION_CANCELED": ["workflow_task_completed_event_id"],
    "WORKFLOW_EXECUTION_TIMED_OUT": ["retry_state"],
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW": [
        "workflow_type",
        "workflow_task_completed_event_id",
        "initiator",
    ],
    "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES": ["workflow_task_completed_event_id"],
    "MARKER_RECORDED": ["marker_name", "workflow_task_completed_event_id"],
    # workflow tasks
    "WORKFLOW_TASK_SCHEDULED": ["attempt"],
    "WORKFLOW_TASK_STARTED": ["scheduled_event_id"],
    "WORKFLOW_TASK_COMPLETED": ["scheduled_event_id", "started_event_id"],
    "WORKFLOW_TASK_FAILED": ["scheduled_event_id", "started_event_id", "cause"],
    "WORKFLOW_TASK_TIMED_OUT": ["scheduled_event_id", "started_event_id"],
    # activities
    "ACTIVITY_TASK_SCHEDULED": ["activity_type", "workflow_task_completed_event_id"],
    "ACTIVITY_TASK_STARTED": ["scheduled_event_id", "attempt"],
    "ACTIVITY_TASK_COMPLETED": ["scheduled_event_id", "started_event_id"],
    "ACTIVITY_TASK_FAILED": ["scheduled_event_id", "started_event_id", "retry_state"],
    "ACTIVITY_TASK_TIMED_OUT": ["scheduled_event_id", "started_event_id", "retry_state"],
    "ACTIVITY_TASK_CANCEL_REQUESTED": [
        "scheduled_event_id",
        "workflow_task_completed_event_id",
    ],
    "ACTIVITY_TASK_CANCELED": [
        "scheduled_event_id",
        "started_event_id",
        "latest_cancel_requested_event_id",
    ],
    # timers
    "TIMER_STARTED": ["workflow_task_completed_event_id"],
    "TIMER_FIRED": ["started_event_id"],
    # child workflows
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
    # signals and cancel requests to other workflows
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

# Events a workflow task's commands append right after its WorkflowTaskCompleted.
COMMAND_EVENTS = frozenset(
    {
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_CANCEL_REQUESTED",
        "TIMER_STARTED",
        "MARKER_RECORDED",
        "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
    }
)


def event_name(event: HistoryEvent) -> str:
    """The event's type without the ``EVENT_TYPE_`` prefix, e.g. ``TIMER_FIRED``."""
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


def event_names(events: Iterable[HistoryEvent]) -> list[str]:
    return [event_name(e) for e in events]


def events_of(events: Iterable[HistoryEvent], name: str) -> list[HistoryEvent]:
    """The events of type ``name`` (without the ``EVENT_TYPE_`` prefix)."""
    return [e for e in events if event_name(e) == name]


def normalize(events: Iterable[HistoryEvent]) -> list[dict[str, Any]]:
    """A history reduced to what goldens record (see the module's documentation)."""
    out = []
    for e in events:
        name = event_name(e)
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
        if name == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            rec["keys"] = sorted(attrs.search_attributes.indexed_fields)
        out.append(rec)
    return out


def render(events: list[dict[str, Any]]) -> str:
    """A normalized history, one event a line (for assertion messages)."""
    lines = []
    for e in events:
        extra = ", ".join(
            f"{k}={v}" for k, v in e.items() if k not in ("event_id", "event_type")
        )
        lines.append(f"  {e['event_id']:>3} {e['event_type']}" + (f" ({extra})" if extra else ""))
    return "\n".join(lines)


async def check_golden(
    client: Client, name: str, description: str, events: Iterable[HistoryEvent]
) -> None:
    """Compare a history with ``golden/<name>.json``, or record it there
    (``ENDURE_RECORD_GOLDEN=1``, against the real server only)."""
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


def at_wait_point(names: list[str], trailing: Collection[str] = ()) -> bool:
    """No workflow task pending: the last workflow task completed and only events of types
    in ``trailing`` follow it."""
    tasks = [i for i, n in enumerate(names) if n.startswith("WORKFLOW_TASK_")]
    if not tasks or names[tasks[-1]] != "WORKFLOW_TASK_COMPLETED":
        return False
    return all(n in trailing for n in names[tasks[-1] + 1 :])


async def wait_for_events(
    handle: WorkflowHandle,
    required: list[str],
    timeout: float = 30,
    trailing: Collection[str] = (),
) -> list[HistoryEvent]:
    """Until the history holds all ``required`` event types and the workflow sits at a wait
    point (:func:`at_wait_point`: nothing more happens until someone acts). ``trailing``:
    event types that may follow the last WorkflowTaskCompleted, e.g. :data:`COMMAND_EVENTS`
    when what those commands start is held by the test (a gated activity)."""
    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        history = await handle.fetch_history()
        names = event_names(history.events)
        if at_wait_point(names, trailing) and all(r in names for r in required):
            return list(history.events)
        await asyncio.sleep(0.05)
    pytest.fail(
        f"workflow {handle.id} did not reach its wait point (after {required}): {names}"
    )


async def wait_for_wait_point(handle: WorkflowHandle, timeout: float = 30) -> None:
    """Until a workflow task completed and nothing happened after it."""
    await wait_for_events(handle, [], timeout=timeout)


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
