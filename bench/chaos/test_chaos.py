"""The soak's own checks, on made-up inputs: the verification must pass a clean run and catch
each kind of violation (a workflow left RUNNING, a duplicated run, a double completion, a wrong
result, an invalid history...), and the fault schedule must be a function of its seed.

Run: .venv/bin/python -m pytest bench/chaos -q (scripts/test.sh does).
"""

from __future__ import annotations

import json

import pytest
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution
from temporalio.api.enums.v1 import EventType as ET
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.history.v1 import message_pb2 as h

import faults
import workload
from endure_testing.histories import CONTINUED_AS_NEW, history_problems
from verify import Observed, Run, Sent, verify


def payloads(*values) -> Payloads:
    return Payloads(
        payloads=[Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(v).encode()) for v in values]
    )


class History:
    """Builds one run's events, ids in order."""

    def __init__(self, continued_from: str = "", parent: str = ""):
        self.events: list[HistoryEvent] = []
        attrs = h.WorkflowExecutionStartedEventAttributes(continued_execution_run_id=continued_from)
        if parent:
            attrs.parent_workflow_execution.CopyFrom(WorkflowExecution(workflow_id=parent, run_id="p"))
        self.add(ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, workflow_execution_started_event_attributes=attrs)
        self.task()

    def add(self, event_type, **attrs) -> int:
        e = HistoryEvent(event_id=len(self.events) + 1, event_type=event_type, **attrs)
        self.events.append(e)
        return e.event_id

    def task(self) -> None:
        """A workflow task: scheduled (left outstanding); `done()` starts and completes it."""
        self.scheduled = self.add(
            ET.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
            workflow_task_scheduled_event_attributes=h.WorkflowTaskScheduledEventAttributes(),
        )

    def done(self) -> None:
        s = self.add(
            ET.EVENT_TYPE_WORKFLOW_TASK_STARTED,
            workflow_task_started_event_attributes=h.WorkflowTaskStartedEventAttributes(scheduled_event_id=self.scheduled),
        )
        self.add(
            ET.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            workflow_task_completed_event_attributes=h.WorkflowTaskCompletedEventAttributes(
                scheduled_event_id=self.scheduled, started_event_id=s
            ),
        )

    def activity(self, activity_id: str) -> None:
        self.done()
        sid = self.add(
            ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
            activity_task_scheduled_event_attributes=h.ActivityTaskScheduledEventAttributes(activity_id=activity_id),
        )
        st = self.add(
            ET.EVENT_TYPE_ACTIVITY_TASK_STARTED,
            activity_task_started_event_attributes=h.ActivityTaskStartedEventAttributes(scheduled_event_id=sid),
        )
        self.add(
            ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            activity_task_completed_event_attributes=h.ActivityTaskCompletedEventAttributes(
                scheduled_event_id=sid, started_event_id=st
            ),
        )
        self.task()

    def timer(self, timer_id: str) -> None:
        self.done()
        sid = self.add(
            ET.EVENT_TYPE_TIMER_STARTED, timer_started_event_attributes=h.TimerStartedEventAttributes(timer_id=timer_id)
        )
        self.add(
            ET.EVENT_TYPE_TIMER_FIRED,
            timer_fired_event_attributes=h.TimerFiredEventAttributes(timer_id=timer_id, started_event_id=sid),
        )
        self.task()

    def signal(self, key: str, value: int) -> None:
        self.add(
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
            workflow_execution_signaled_event_attributes=h.WorkflowExecutionSignaledEventAttributes(
                signal_name="add", input=payloads(key, value)
            ),
        )

    def complete(self, result) -> "History":
        self.done()
        self.add(
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
            workflow_execution_completed_event_attributes=h.WorkflowExecutionCompletedEventAttributes(
                result=payloads(result)
            ),
        )
        return self

    def continue_as_new(self) -> "History":
        self.done()
        self.add(
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
            workflow_execution_continued_as_new_event_attributes=h.WorkflowExecutionContinuedAsNewEventAttributes(),
        )
        return self


def clean_world(ns: list[int]):
    """Expectations, what was sent and a server state in which every workflow of `ns`
    completed exactly once, as the workload says."""
    expectations = [e for n in ns for e in workload.expectation(n)]
    chains: dict[str, list[Run]] = {}
    listing = []
    for e in expectations:
        runs = []
        prev = ""
        for i in range(e.runs):
            hist = History(continued_from=prev, parent=e.parent or "")
            hist.activity("1")
            if e.kind == "signals":
                for k in workload.SIGNAL_KEYS:
                    hist.signal(k, workload.signal_value(e.n, k))
            final = i == e.runs - 1
            (hist.complete(e.result) if final else hist.continue_as_new())
            rid = f"{e.workflow_id}/run{i}"
            runs.append(Run(rid, hist.events))
            listing.append((e.workflow_id, rid, "COMPLETED" if final else "CONTINUED_AS_NEW"))
            prev = rid
        chains[e.workflow_id] = runs
    store = {wid: {r.run_id for r in runs} for wid, runs in chains.items()}
    sent = Sent(acked={workload.workflow_id(n) for n in ns}, unacked=set())
    return expectations, sent, Observed(listing, chains, store)


ALL_KINDS = list(range(len(workload.KINDS)))  # one workflow of each kind


def categories(report) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for v in report.violations:
        out.setdefault(v.category, set()).add(v.workflow_id)
    return out


# ------------------------------------------------------------------------------------------------


def test_a_clean_run_passes():
    report = verify(*clean_world(ALL_KINDS))
    assert report.ok, [v.__dict__ for v in report.violations]
    assert report.expected == report.completed == len(workload.KINDS) + workload.CHILDREN


def test_a_workflow_still_running_is_lost():
    exp, sent, seen = clean_world(ALL_KINDS)
    wid = workload.workflow_id(1)  # retry-1
    hist = History()
    hist.activity("1")
    seen.chains[wid] = [Run(f"{wid}/run0", hist.events)]
    seen.listing = [r if r[0] != wid else (wid, r[1], "RUNNING") for r in seen.listing]
    report = verify(exp, sent, seen)
    assert categories(report) == {"lost": {wid}}
    assert "still RUNNING" in report.of("lost")[0].detail
    assert "ACTIVITY_TASK_COMPLETED" in report.of("lost")[0].tail


def test_an_acknowledged_start_that_vanished_is_lost_an_unacknowledged_one_is_not():
    exp, sent, seen = clean_world(ALL_KINDS)
    gone, never = workload.workflow_id(0), workload.workflow_id(2)
    for wid in (gone, never):
        del seen.chains[wid]
        del seen.store_runs[wid]
        seen.listing = [r for r in seen.listing if r[0] != wid]
    sent.acked.discard(never)
    sent.unacked.add(never)
    report = verify(exp, sent, seen)
    assert categories(report) == {"lost": {gone}}
    assert report.not_started == [never]


def test_a_child_never_started_is_lost():
    exp, sent, seen = clean_world(ALL_KINDS)
    child = f"{workload.workflow_id(4)}.child-1"
    del seen.chains[child]
    del seen.store_runs[child]
    seen.listing = [r for r in seen.listing if r[0] != child]
    assert categories(verify(exp, sent, seen)) == {"lost": {child}}


def test_a_second_run_of_a_completed_workflow_is_duplicated():
    exp, sent, seen = clean_world(ALL_KINDS)
    wid = workload.workflow_id(0)
    seen.listing.append((wid, "second-run", "COMPLETED"))
    report = verify(exp, sent, seen)
    assert categories(report) == {"duplicated": {wid}}
    # The same run seen only in the store's table.
    exp, sent, seen = clean_world(ALL_KINDS)
    seen.store_runs[wid].add("second-run")
    assert categories(verify(exp, sent, seen)) == {"duplicated": {wid}}


def test_a_run_completed_twice_is_duplicated():
    exp, sent, seen = clean_world(ALL_KINDS)
    wid = workload.workflow_id(2)
    events = seen.chains[wid][0].events
    extra = HistoryEvent()
    extra.CopyFrom(events[-1])
    extra.event_id = len(events) + 1
    events.append(extra)
    cats = categories(verify(exp, sent, seen))
    assert wid in cats["duplicated"]
    assert set(cats) <= {"duplicated", "invalid history"}


def test_too_many_continued_runs_are_duplicated_too_few_a_wrong_result():
    n = 5  # continue-5: four runs
    assert workload.kind_of(n) == "continue" and workload.runs_of_continue(n) == 4
    exp, sent, seen = clean_world([n])
    wid = workload.workflow_id(n)
    first = seen.chains[wid][0]
    seen.chains[wid].insert(0, Run("older", History().continue_as_new().events))
    seen.listing.append((wid, "older", "CONTINUED_AS_NEW"))
    seen.store_runs[wid].add("older")
    assert categories(verify(exp, sent, seen)) == {"duplicated": {wid}}
    exp, sent, seen = clean_world([n])
    seen.chains[wid] = seen.chains[wid][1:]
    seen.listing = [r for r in seen.listing if r[1] != first.run_id]
    seen.store_runs[wid].discard(first.run_id)
    assert categories(verify(exp, sent, seen)) == {"wrong result": {wid}}


def test_a_wrong_result_or_another_close_is_reported():
    exp, sent, seen = clean_world(ALL_KINDS)
    wid = workload.workflow_id(3)
    events = seen.chains[wid][0].events
    events[-1].workflow_execution_completed_event_attributes.result.CopyFrom(payloads("signals:0:echo-3"))
    assert categories(verify(exp, sent, seen)) == {"wrong result": {wid}}
    exp, sent, seen = clean_world(ALL_KINDS)
    events = seen.chains[wid][0].events
    events[-1].event_type = ET.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
    cats = categories(verify(exp, sent, seen))
    assert wid in cats["wrong result"] and wid in cats["invalid history"]


def test_a_signal_recorded_twice_is_duplicated_unless_it_was_sent_twice():
    exp, sent, seen = clean_world(ALL_KINDS)
    wid = workload.workflow_id(3)
    hist = History()
    hist.activity("1")
    for k in workload.SIGNAL_KEYS + ("s1",):
        hist.signal(k, workload.signal_value(3, k))
    hist.complete(workload.expectation(3)[0].result)
    seen.chains[wid] = [Run(seen.chains[wid][0].run_id, hist.events)]
    assert categories(verify(exp, sent, seen)) == {"duplicated": {wid}}
    sent.ambiguous_signals[wid] = {"s1"}
    assert verify(exp, sent, seen).ok


def test_a_workflow_nobody_started_is_unexpected():
    exp, sent, seen = clean_world(ALL_KINDS)
    seen.listing.append(("stray", "r", "COMPLETED"))
    seen.chains["stray"] = [Run("r", History().complete("x").events)]
    assert categories(verify(exp, sent, seen)) == {"unexpected": {"stray"}}


def test_visibility_must_agree_with_the_history():
    exp, sent, seen = clean_world(ALL_KINDS)
    wid = workload.workflow_id(1)
    seen.listing = [r if r[0] != wid else (wid, r[1], "RUNNING") for r in seen.listing]
    assert categories(verify(exp, sent, seen)) == {"invalid history": {wid}}


@pytest.mark.parametrize(
    "breakage, phrase",
    [
        ("activity twice", "scheduled twice"),
        ("event id gap", "not contiguous"),
        ("event after task started", "did not see WorkflowTaskStarted last"),
        ("timer fired twice", "fired or canceled 2 times"),
        ("dangling activity", "dangling ActivityTaskStarted"),
        ("child started twice", "already started"),
        ("complete with task outstanding", "still outstanding"),
    ],
)
def test_history_checks_catch(breakage, phrase):
    hist = History()
    hist.activity("1")
    hist.timer("t1")
    hist.done()
    ev = hist.events
    if breakage == "activity twice":
        hist.add(ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
                 activity_task_scheduled_event_attributes=h.ActivityTaskScheduledEventAttributes(activity_id="1"))
    elif breakage == "timer fired twice":
        fired = next(e for e in ev if e.event_type == ET.EVENT_TYPE_TIMER_FIRED)
        hist.add(ET.EVENT_TYPE_TIMER_FIRED, timer_fired_event_attributes=fired.timer_fired_event_attributes)
    elif breakage == "dangling activity":
        sid = hist.add(ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
                       activity_task_scheduled_event_attributes=h.ActivityTaskScheduledEventAttributes(activity_id="2"))
        hist.add(ET.EVENT_TYPE_ACTIVITY_TASK_STARTED,
                 activity_task_started_event_attributes=h.ActivityTaskStartedEventAttributes(scheduled_event_id=sid))
    elif breakage == "child started twice":
        init = hist.add(ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
                        start_child_workflow_execution_initiated_event_attributes=h.StartChildWorkflowExecutionInitiatedEventAttributes())
        for _ in range(2):
            hist.add(ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED,
                     child_workflow_execution_started_event_attributes=h.ChildWorkflowExecutionStartedEventAttributes(initiated_event_id=init))
    hist.task()
    if breakage == "event after task started":
        hist.add(ET.EVENT_TYPE_WORKFLOW_TASK_STARTED,
                 workflow_task_started_event_attributes=h.WorkflowTaskStartedEventAttributes(scheduled_event_id=hist.scheduled))
        hist.signal("s0", 1)
        hist.task()
    if breakage == "complete with task outstanding":
        hist.done()
        hist.task()
        hist.add(ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
                 workflow_execution_completed_event_attributes=h.WorkflowExecutionCompletedEventAttributes())
    else:
        hist.complete("ok")
    if breakage == "event id gap":
        for e in ev[5:]:
            e.event_id += 1
    problems = history_problems("wf", hist.events)
    assert any(phrase in p for p in problems), problems


def test_history_checks_pass_valid_histories():
    hist = History()
    hist.activity("1")
    hist.timer("t1")
    hist.signal("s0", 1)  # between tasks: not buffered, written at once
    assert history_problems("wf", hist.complete("ok").events) == []
    assert history_problems("wf", History().continue_as_new().events, CONTINUED_AS_NEW) == []
    assert history_problems("wf", History().complete("x").events, CONTINUED_AS_NEW) != []


def test_the_schedule_is_a_function_of_the_seed():
    names = ["replica1", "replica2", "replica3"]
    a = faults.schedule(11, "cluster", names, 600, 5, 10)
    assert a == faults.schedule(11, "cluster", names, 600, 5, 10)
    assert a != faults.schedule(12, "cluster", names, 600, 5, 10)
    assert {f.kind for f in a} == {"kill", "stop", "cut", "pg-restart"}
    assert 80 <= len(a) <= 140, len(a)  # about one every 5 s over 590 s
    # Never two faults on one target at once, never every replica at once.
    for f in a:
        busy = [
            g for g in a
            if g is not f and g.at <= f.at < g.at + g.hold + faults.RESTART_ALLOWANCE["cluster"][g.kind]
        ]
        assert f.target not in {g.target for g in busy}, f
        assert len({g.target for g in busy if g.target != faults.POSTGRES} | {f.target} - {faults.POSTGRES}) < 3
    s = faults.schedule(11, "sqlite", ["endure"], 600, 5, 10)
    assert {f.kind for f in s} == {"kill", "stop"} and len(s) >= 60
