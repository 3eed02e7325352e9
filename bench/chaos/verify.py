"""The soak's verdict: did every workflow complete exactly once, with its expected result and a
valid history?

:func:`verify` is pure: it takes what the soak expected (:class:`workload.Expectation`, which
starts were acknowledged, which signals were sent and how) and three views of what the server
holds, read after the drain:

* the visibility listing (every run the namespace lists, with its status);
* each workflow id's chain of runs, read through the API: the current run's history, then the
  run it continued from (``continued_execution_run_id`` in its start event), and so on;
* the runs table of the store itself, when it could be read.

and returns a :class:`Report`. A violation is one of:

* **lost**: a workflow whose start was acknowledged (or a child its parent started) that does
  not exist, is still running after the drain, or whose chain ended without completing;
* **duplicated**: more runs than expected (in any of the three views), a run that the chain does
  not account for, more than one close event in a run, or a signal recorded twice though it was
  sent once;
* **wrong result**: completed with another result than expected, or closed another way
  (failed, terminated, ...);
* **invalid history**: anything :func:`endure_testing.histories.history_problems` finds;
* **unexpected**: a workflow id in the listing or the store that nobody started.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from endure_testing.histories import (
    COMPLETED,
    CONTINUED_AS_NEW,
    event_name,
    history_problems,
    history_tail,
)
from workload import SIGNAL_KEYS, Expectation

CATEGORIES = ("lost", "duplicated", "wrong result", "invalid history", "unexpected")


@dataclass
class Run:
    run_id: str
    events: list  # temporalio.api.history.v1.HistoryEvent


@dataclass
class Observed:
    """What the server holds after the drain."""

    listing: list[tuple[str, str, str]]  # (workflow id, run id, status name), from visibility
    chains: dict[str, list[Run]]  # workflow id -> its runs, oldest first, through the API
    store_runs: dict[str, set[str]] | None  # workflow id -> run ids in the store (None: unread)


@dataclass
class Sent:
    """What the soak did to the workflows."""

    acked: set[str]  # top-level workflow ids whose start was acknowledged
    unacked: set[str]  # attempted but never acknowledged (they may or may not exist)
    ambiguous_signals: dict[str, set[str]] = field(default_factory=dict)  # id -> keys maybe sent twice
    undelivered_signals: dict[str, set[str]] = field(default_factory=dict)  # id -> keys never acknowledged


@dataclass
class Violation:
    workflow_id: str
    category: str
    detail: str
    tail: str = ""


@dataclass
class Report:
    expected: int = 0  # workflows (children included) that had to complete
    completed: int = 0  # of those, completed with the expected result
    runs: int = 0  # runs read in all
    not_started: list[str] = field(default_factory=list)  # unacknowledged starts that never happened
    harness: list[str] = field(default_factory=list)  # the soak's own failures (not the server's)
    violations: list[Violation] = field(default_factory=list)

    def of(self, category: str) -> list[Violation]:
        return [v for v in self.violations if v.category == category]

    def workflows(self, category: str) -> set[str]:
        return {v.workflow_id for v in self.of(category)}

    @property
    def ok(self) -> bool:
        return not self.violations


def _result(events: list):
    """The completed run's result, decoded (None if it did not complete)."""
    from temporalio.api.enums.v1 import EventType
    from temporalio.converter import default

    if not events or events[-1].event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        return None
    payloads = events[-1].workflow_execution_completed_event_attributes.result.payloads
    return default().payload_converter.from_payloads(list(payloads))[0] if payloads else None


def _signal_keys(events: list) -> dict[str, int]:
    from temporalio.api.enums.v1 import EventType

    counts: dict[str, int] = {}
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            payloads = e.workflow_execution_signaled_event_attributes.input.payloads
            key = json.loads(payloads[0].data) if payloads else "?"
            counts[key] = counts.get(key, 0) + 1
    return counts


def _closes(events: list) -> list:
    from temporalio.api.enums.v1 import EventType

    kinds = {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    }
    return [e for e in events if e.event_type in kinds]


def _status(events: list) -> str:
    """The run's status as visibility names it, from its history."""
    from temporalio.api.enums.v1 import EventType

    closes = _closes(events)
    if not closes:
        return "RUNNING"
    return EventType.Name(closes[-1].event_type).removeprefix("EVENT_TYPE_WORKFLOW_EXECUTION_")


def verify(expectations: list[Expectation], sent: Sent, seen: Observed) -> Report:
    report = Report()
    bad = report.violations
    listed: dict[str, list[tuple[str, str]]] = {}
    for wid, rid, status in seen.listing:
        listed.setdefault(wid, []).append((rid, status))
    by_id = {e.workflow_id: e for e in expectations}

    def exists(wid: str) -> bool:
        return bool(seen.chains.get(wid)) or wid in listed or bool((seen.store_runs or {}).get(wid))

    # Which expectations apply: acknowledged starts, unacknowledged ones that happened anyway,
    # and the children of those.
    due: list[Expectation] = []
    for e in expectations:
        if e.parent is not None:
            continue
        if e.workflow_id in sent.acked or (e.workflow_id in sent.unacked and exists(e.workflow_id)):
            due.append(e)
            due += [by_id[c] for c in e.children]
        elif e.workflow_id in sent.unacked:
            report.not_started.append(e.workflow_id)
    report.expected = len(due)

    for e in due:
        wid = e.workflow_id
        chain = seen.chains.get(wid) or []
        report.runs += len(chain)
        tail = history_tail(chain[-1].events) if chain else ""

        def flag(category: str, detail: str) -> None:
            bad.append(Violation(wid, category, detail, tail))

        if not chain:
            what = "child never started" if e.parent else "start acknowledged, but the workflow does not exist"
            flag("lost", what + (f" (visibility lists {listed[wid]})" if wid in listed else ""))
            continue
        last = chain[-1].events
        closes = _closes(last)
        undelivered = sent.undelivered_signals.get(wid)
        if not closes:
            if undelivered:
                report.harness.append(f"{wid}: signals {sorted(undelivered)} never acknowledged; it waits for them")
            else:
                flag("lost", f"still RUNNING after the drain (run {chain[-1].run_id}, {len(chain)} of {e.runs} runs)")
        # Runs: the chain, visibility and the store must all hold exactly the expected runs.
        chain_ids = [r.run_id for r in chain]
        if len(chain) > e.runs:
            flag("duplicated", f"{len(chain)} runs in its chain, expected {e.runs}: {chain_ids}")
        vis = listed.get(wid, [])
        extra_vis = sorted({r for r, _ in vis} - set(chain_ids))
        if extra_vis:
            flag("duplicated", f"visibility lists runs {extra_vis} that its chain {chain_ids} does not hold")
        if len(vis) != len({r for r, _ in vis}):
            flag("duplicated", f"visibility lists a run twice: {vis}")
        vis_status = dict(vis)
        for run in chain:
            want = _status(run.events)
            if run.run_id in vis_status and vis_status[run.run_id] != want:
                flag("invalid history", f"visibility says run {run.run_id} is {vis_status[run.run_id]}, its history {want}")
        missing_vis = sorted(set(chain_ids) - {r for r, _ in vis})
        if missing_vis:
            flag("invalid history", f"runs {missing_vis} are not in the visibility listing")
        if seen.store_runs is not None:
            stored = seen.store_runs.get(wid, set())
            extra = sorted(stored - set(chain_ids))
            if extra:
                flag("duplicated", f"the store holds runs {extra} that its chain {chain_ids} does not hold")
            gone = sorted(set(chain_ids) - stored)
            if gone:
                flag("invalid history", f"runs {gone} of its chain are not in the store's runs table")
        # Every run's history, and how each one closed.
        for i, run in enumerate(chain):
            final = i == len(chain) - 1
            n_closes = len(_closes(run.events))
            if n_closes > 1:
                flag("duplicated", f"run {run.run_id} closed {n_closes} times: "
                     + ", ".join(event_name(c) for c in _closes(run.events)))
            expect = COMPLETED if final else CONTINUED_AS_NEW
            if final and not closes:
                expect = None  # already reported as lost
            problems = history_problems(f"run {run.run_id}", run.events, expect)
            for p in problems:
                flag("invalid history", p)
        if closes:
            result = _result(last)
            if result is None:
                flag("wrong result", f"closed by {event_name(closes[-1])}, not completed")
            elif result != e.result:
                flag("wrong result", f"result {result!r}, expected {e.result!r}")
            elif len(chain) == e.runs:
                report.completed += 1
            elif len(chain) < e.runs:
                flag("wrong result", f"completed after {len(chain)} runs, expected {e.runs}")
        if e.parent is not None:
            start = chain[0].events[0].workflow_execution_started_event_attributes
            if start.parent_workflow_execution.workflow_id != e.parent:
                flag("wrong result", f"parent is {start.parent_workflow_execution.workflow_id!r}, expected {e.parent!r}")
        if e.kind == "signals":
            counts = _signal_keys([ev for r in chain for ev in r.events])
            maybe_twice = sent.ambiguous_signals.get(wid, set())
            for key in SIGNAL_KEYS:
                n = counts.get(key, 0)
                if n > 1 and key not in maybe_twice:
                    flag("duplicated", f"signal {key!r} recorded {n} times, sent once")
                if n == 0 and closes:
                    flag("invalid history", f"completed without signal {key!r} in its history")

    # Workflows nobody started.
    due_ids = {e.workflow_id for e in due}
    started = due_ids | set(sent.acked) | set(sent.unacked)
    others = set(listed) | set(seen.chains) | set(seen.store_runs or {})
    for wid in sorted(others - started):
        chain = seen.chains.get(wid) or []
        tail = history_tail(chain[-1].events) if chain else ""
        bad.append(Violation(wid, "unexpected", f"nobody started it (visibility: {listed.get(wid)})", tail))
    return report
