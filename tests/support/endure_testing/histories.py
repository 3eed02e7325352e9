"""What a valid workflow history looks like: the checks the cluster suite and the chaos soak
(bench/chaos) run on every history they read.

:func:`history_problems` takes one run's events (``temporalio.api.history.v1.HistoryEvent``)
and says what is wrong with them, one sentence each; an empty list means nothing is. It knows
nothing of what the workflow was meant to do, only of how events must fit together:

* event ids contiguous from 1; one WorkflowExecutionStarted, first; at most one close event
  (completed, failed, timed out, canceled, terminated, continued as new), last;
* workflow tasks: at most one outstanding; Started refers to the Scheduled before it;
  WorkflowTaskStarted is the last event a worker saw, so the event after it is that task's
  Completed, Failed or TimedOut (events arriving meanwhile are buffered); a workflow closed by
  its own command closes right after a WorkflowTaskCompleted, with no task left outstanding;
* activities: one ActivityTaskScheduled per activity id, at most one Started and one close per
  scheduled activity, each referring to its Scheduled (and the close to its Started); in a
  closed run no Started is left without its close (Started is written with the outcome);
* timers: one TimerStarted per timer id, resolved (fired or canceled) at most once, exactly
  once when the run completed, the TimerFired referring to its TimerStarted;
* child workflows, external signals and cancel requests: at most one start and one outcome per
  initiated event, referring to it.
"""

from __future__ import annotations

from typing import Iterable

#: What a history may be expected to end with.
COMPLETED = "completed"
CONTINUED_AS_NEW = "continued_as_new"
CLOSED = "closed"  # any close event
OPEN = None  # may still be open


def event_name(e) -> str:
    """`<id>:<TYPE>`, e.g. ``23:WORKFLOW_TASK_SCHEDULED``."""
    from temporalio.api.enums.v1 import EventType

    return f"{e.event_id}:{EventType.Name(e.event_type).removeprefix('EVENT_TYPE_')}"


def history_tail(events: list, n: int = 12) -> str:
    """The last `n` events, by name, for a report."""
    return ", ".join(event_name(e) for e in events[-n:]) or "<no events>"


def history_problems(workflow_id: str, events: Iterable, expect: str | None = COMPLETED) -> list[str]:
    """What is wrong with one run's history (empty: nothing), each sentence prefixed with
    `workflow_id`. `expect`: ``COMPLETED`` (the default), ``CONTINUED_AS_NEW``, ``CLOSED`` (any
    close event) or ``OPEN`` (the run may still be running)."""
    events = list(events)
    problems: list[str] = []
    problems += _ids_and_close(events, expect)
    problems += _workflow_tasks(events)
    closed = bool(events) and _is_close(events[-1].event_type)
    problems += _activities(events, closed)
    problems += _timers(events, completed=bool(events) and events[-1].event_type == _ET().EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
    problems += _initiated_pairs(events)
    return [f"{workflow_id}: {p}" for p in problems]


def _ET():
    from temporalio.api.enums.v1 import EventType

    return EventType


def _name(t: int) -> str:
    return _ET().Name(t).removeprefix("EVENT_TYPE_")


def _close_types() -> dict[int, str]:
    ET = _ET()
    return {
        ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: COMPLETED,
        ET.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: CONTINUED_AS_NEW,
        ET.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "failed",
        ET.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "timed_out",
        ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "canceled",
        ET.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    }


def _is_close(t: int) -> bool:
    return t in _close_types()


def _ids_and_close(events: list, expect: str | None) -> list[str]:
    ET = _ET()
    problems = []
    ids = [e.event_id for e in events]
    if ids != list(range(1, len(ids) + 1)):
        bad = next((i for i, (a, b) in enumerate(zip(ids, range(1, len(ids) + 1))) if a != b), 0)
        problems.append(f"event ids not contiguous from 1 (at position {bad + 1}: {ids[bad:bad + 5]})")
    types = [e.event_type for e in events]
    n_started = types.count(ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    if n_started != 1:
        problems.append(f"{n_started} WorkflowExecutionStarted events")
    elif types[0] != ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        problems.append(f"first event is {_name(types[0])}, not WorkflowExecutionStarted")
    closes = [e for e in events if _is_close(e.event_type)]
    if len(closes) > 1:
        problems.append(
            f"{len(closes)} close events: " + ", ".join(event_name(e) for e in closes)
        )
    if closes and closes[-1] is not events[-1]:
        problems.append(f"close event {event_name(closes[-1])} is not the last event ({event_name(events[-1])})")
    kinds = _close_types()
    if expect is not None:
        if not closes:
            last = event_name(events[-1]) if events else "none"
            problems.append(f"not closed (expected {expect}); last event {last}")
        elif expect != CLOSED and kinds[closes[-1].event_type] != expect:
            problems.append(f"closed by {event_name(closes[-1])}, expected {expect}")
    return problems


def _workflow_tasks(events: list) -> list[str]:
    ET = _ET()
    problems = []
    scheduled: int | None = None  # the outstanding task's Scheduled event id
    started: int | None = None  # its Started event id, once started
    last_wft_event: int | None = None  # type of the last workflow-task event
    for i, e in enumerate(events):
        t = e.event_type
        if started is not None and t not in (
            ET.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            ET.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            ET.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
            # closed from outside while the worker held the task
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        ):
            problems.append(
                f"{event_name(e)} follows WorkflowTaskStarted {started}: the worker did not see "
                "WorkflowTaskStarted last"
            )
            started = None
            scheduled = None
        if t == ET.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            if scheduled is not None:
                problems.append(f"{event_name(e)} while workflow task {scheduled} is outstanding")
            scheduled, started = e.event_id, None
            last_wft_event = t
        elif t == ET.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            ref = e.workflow_task_started_event_attributes.scheduled_event_id
            if scheduled is None or ref != scheduled:
                problems.append(f"{event_name(e)} refers to scheduled event {ref}; outstanding: {scheduled}")
            scheduled, started = ref, e.event_id
            last_wft_event = t
        elif t in (
            ET.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            ET.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            ET.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        ):
            a = {
                ET.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: e.workflow_task_completed_event_attributes,
                ET.EVENT_TYPE_WORKFLOW_TASK_FAILED: e.workflow_task_failed_event_attributes,
                ET.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: e.workflow_task_timed_out_event_attributes,
            }[t]
            schedule_to_start = t == ET.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT and a.started_event_id == 0
            if scheduled is None:
                problems.append(f"{event_name(e)} with no workflow task outstanding")
            elif a.scheduled_event_id != scheduled:
                problems.append(f"{event_name(e)} refers to scheduled event {a.scheduled_event_id}, outstanding: {scheduled}")
            elif schedule_to_start and started is not None:
                problems.append(f"{event_name(e)} (schedule-to-start) but the task was started at {started}")
            elif not schedule_to_start and (started is None or a.started_event_id != started):
                problems.append(f"{event_name(e)} refers to started event {a.started_event_id}; started: {started}")
            scheduled = started = None
            last_wft_event = t
        elif t in (
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        ):
            # Closed by the workflow's own command.
            if scheduled is not None:
                problems.append(f"{event_name(e)} with workflow task {scheduled} still outstanding")
            if last_wft_event != ET.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                problems.append(f"{event_name(e)} not after a WorkflowTaskCompleted")
    return problems


def _activities(events: list, closed: bool) -> list[str]:
    ET = _ET()
    problems = []
    scheduled: dict[int, str] = {}  # scheduled event id -> activity id
    activity_ids: dict[str, int] = {}
    started: dict[int, int] = {}  # scheduled id -> started event id
    started_count: dict[int, int] = {}
    closed_count: dict[int, int] = {}
    close_attrs = {
        ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
        ET.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
        ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
        ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
    }
    for e in events:
        t = e.event_type
        if t == ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            aid = e.activity_task_scheduled_event_attributes.activity_id
            if aid in activity_ids:
                problems.append(f"activity id {aid!r} scheduled twice (events {activity_ids[aid]}, {e.event_id})")
            activity_ids[aid] = e.event_id
            scheduled[e.event_id] = aid
        elif t == ET.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            sid = e.activity_task_started_event_attributes.scheduled_event_id
            if sid not in scheduled:
                problems.append(f"{event_name(e)} refers to unknown scheduled event {sid}")
            started[sid] = e.event_id
            started_count[sid] = started_count.get(sid, 0) + 1
        elif t in close_attrs:
            a = getattr(e, close_attrs[t])
            sid = a.scheduled_event_id
            if sid not in scheduled:
                problems.append(f"{event_name(e)} refers to unknown scheduled event {sid}")
            if a.started_event_id and started.get(sid) != a.started_event_id:
                problems.append(
                    f"{event_name(e)} refers to started event {a.started_event_id}, "
                    f"but activity {sid}'s ActivityTaskStarted is {started.get(sid)}"
                )
            closed_count[sid] = closed_count.get(sid, 0) + 1
    for sid, n in started_count.items():
        if n > 1:
            problems.append(f"activity scheduled at {sid} has {n} ActivityTaskStarted events")
    for sid, n in closed_count.items():
        if n > 1:
            problems.append(f"activity scheduled at {sid} closed {n} times")
    if closed:
        for sid in started:
            if sid not in closed_count:
                problems.append(f"activity scheduled at {sid} has a dangling ActivityTaskStarted (no outcome)")
    return problems


def _timers(events: list, completed: bool) -> list[str]:
    ET = _ET()
    problems = []
    started: dict[str, int] = {}  # timer id -> count
    started_ids: dict[int, str] = {}
    resolved: dict[str, int] = {}
    for e in events:
        t = e.event_type
        if t == ET.EVENT_TYPE_TIMER_STARTED:
            tid = e.timer_started_event_attributes.timer_id
            started[tid] = started.get(tid, 0) + 1
            started_ids[e.event_id] = tid
        elif t in (ET.EVENT_TYPE_TIMER_FIRED, ET.EVENT_TYPE_TIMER_CANCELED):
            a = e.timer_fired_event_attributes if t == ET.EVENT_TYPE_TIMER_FIRED else e.timer_canceled_event_attributes
            resolved[a.timer_id] = resolved.get(a.timer_id, 0) + 1
            if started_ids.get(a.started_event_id) != a.timer_id:
                problems.append(
                    f"{event_name(e)} (timer {a.timer_id!r}) refers to started event {a.started_event_id}, "
                    "which is not that timer's TimerStarted"
                )
    for tid, n in started.items():
        if n != 1:
            problems.append(f"timer {tid!r} started {n} times")
    for tid in set(started) | set(resolved):
        n = resolved.get(tid, 0)
        if n > 1 or (completed and n != 1):
            problems.append(f"timer {tid!r} fired or canceled {n} times")
    return problems


def _initiated_pairs(events: list) -> list[str]:
    """Child workflows, external signals and cancel requests: per initiated event, at most one
    start (children) and one outcome, each referring to it."""
    ET = _ET()
    initiated = {
        ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: "child",
        ET.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "signal",
        ET.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "cancel",
    }
    # event type -> (attributes field, family, step); a step may happen once per initiated event
    follow = {
        ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: ("child_workflow_execution_started_event_attributes", "child", "started"),
        ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED: ("start_child_workflow_execution_failed_event_attributes", "child", "started"),
        ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: ("child_workflow_execution_completed_event_attributes", "child", "closed"),
        ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: ("child_workflow_execution_failed_event_attributes", "child", "closed"),
        ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: ("child_workflow_execution_canceled_event_attributes", "child", "closed"),
        ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: ("child_workflow_execution_timed_out_event_attributes", "child", "closed"),
        ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: ("child_workflow_execution_terminated_event_attributes", "child", "closed"),
        ET.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED: ("external_workflow_execution_signaled_event_attributes", "signal", "outcome"),
        ET.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED: ("signal_external_workflow_execution_failed_event_attributes", "signal", "outcome"),
        ET.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED: ("external_workflow_execution_cancel_requested_event_attributes", "cancel", "outcome"),
        ET.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED: ("request_cancel_external_workflow_execution_failed_event_attributes", "cancel", "outcome"),
    }
    problems = []
    families: dict[int, str] = {}
    steps: dict[tuple[int, str], int] = {}  # (initiated id, step) -> event id
    for e in events:
        t = e.event_type
        if t in initiated:
            families[e.event_id] = initiated[t]
        elif t in follow:
            field, family, step = follow[t]
            ref = getattr(e, field).initiated_event_id
            if families.get(ref) != family:
                problems.append(f"{event_name(e)} refers to initiated event {ref}, which is not a {family} initiation")
                continue
            if family == "child" and step == "closed" and (ref, "started") not in steps:
                problems.append(f"{event_name(e)}: child of initiated event {ref} closed but never started")
            if (ref, step) in steps:
                problems.append(f"{event_name(e)}: initiated event {ref} already {step} at {steps[(ref, step)]}")
            steps[(ref, step)] = e.event_id
    return problems
