"""Temporal Schedules: CreateSchedule, DescribeSchedule, UpdateSchedule,
PatchSchedule (trigger, backfill, pause, unpause), DeleteSchedule, ListSchedules
and ListScheduleMatchingTimes, through the Python SDK's schedule client, raw
gRPC (``client.workflow_service``) and the ``temporal schedule`` CLI.

Validated against the real dev server (Temporal 1.32.0, CLI 1.9.1, temporalio
1.35); /tmp/research/schedules.md has the full notes. What these tests pin:

* Describe echoes the schedule as sent, with the server's normalisation: cron
  strings (and the string ``calendar`` form) come back as structured calendars
  appended after the given ones (5 fields: minute..day-of-week, 6: +year,
  7: second first; ``@hourly``; ``@every 45m`` becomes an interval; ``CRON_TZ=``
  sets the time zone; ``# text`` becomes the comment); ranges get ``end = start``
  and ``step = 1``; the task queue gets kind NORMAL; the overlap policy defaults
  to SKIP and the catch-up window to 1 year, at least 10 s (less comes back as
  10 s). ``info`` has ``create_time``; ``update_time`` only after an update (a
  pause does not set it); up to 10 future action times (no more than the
  remaining actions), 10 recent actions. The conflict token is the 8-byte
  big-endian count of changes: 1 at create, +1 per update, pause, unpause and
  scheduled action taken from a limited budget.
* Started workflows: id ``<action workflow id>-<nominal time %Y-%m-%dT%H:%M:%SZ>``
  (a trigger's nominal time is the trigger time; an empty action id gives
  ``-<time>``), memo and search attributes of the action plus
  ``TemporalScheduledById`` (the schedule id) and ``TemporalScheduledStartTime``
  (the nominal time, whole seconds), the action's timeouts and input. The last
  completion result and last failure pass to the next run. The scheduler's own
  workflow never shows in ListWorkflowExecutions.
* Overlap policies (the schedule's, or the trigger's/backfill's own): SKIP
  counts ``overlap_skipped``; BUFFER_ONE keeps one buffered start and skips the
  rest; BUFFER_ALL buffers all (``buffer_size``); CANCEL_OTHER and
  TERMINATE_OTHER close the running one (cause/reason ``cancelled by schedule
  overlap policy`` / ``terminated by schedule overlap policy``, identity
  ``temporal-scheduler-<namespace>-<schedule id>``) and then start; ALLOW_ALL
  starts at once and does not track the run in ``running_workflows``.
  Trigger and backfill run while paused and regardless of remaining actions.
  A backfill covers [start, end]; ListScheduleMatchingTimes covers (start, end].
* ``pause_on_failure``: after a failed (or timed-out) run the schedule pauses
  with notes ``paused due to workflow failure: <workflow id>: <message>``
  (``paused due to workflow timeout: <workflow id>``).
* Errors: a duplicate create is ALREADY_EXISTS ``schedule "<id>" is already
  registered`` (the same request id is accepted again); a schedule that never
  existed is NOT_FOUND ``workflow not found for ID:
  temporal-sys-scheduler:<id>``, a deleted one ``schedule not found``
  (describe) or ``workflow execution already completed`` (delete, patch,
  update RPC); invalid specs are INVALID_ARGUMENT ``Invalid schedule spec:
  ...``. An update with a stale conflict token is accepted and changes nothing;
  a token that is not 8 bytes counts as none.
* ListSchedules filters on ``ScheduleId``, ``TemporalSchedulePaused`` and
  custom search attributes; any other attribute is INVALID_ARGUMENT ``invalid
  query filter for schedules: cannot filter on "<name>"``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Iterator

import pytest
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.errordetails.v1 import (
    NamespaceNotFoundFailure,
    NotFoundFailure,
    WorkflowExecutionAlreadyStartedFailure,
)
from temporalio.api.schedule.v1 import Schedule as ScheduleProto
from temporalio.api.schedule.v1 import SchedulePatch, TriggerImmediatelyRequest
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    CreateScheduleRequest,
    DeleteScheduleRequest,
    DescribeScheduleRequest,
    DescribeScheduleResponse,
    ListScheduleMatchingTimesRequest,
    ListSchedulesRequest,
    ListWorkflowExecutionsRequest,
    PatchScheduleRequest,
    UpdateScheduleRequest,
)
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowFailureError,
)
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from conftest import new_worker, start_server, unique
from endure_testing.cli import Cli, kv_lines
from endure_testing.servers import ServerProcess

NS = "default"
PC = DataConverter.default.payload_converter
WAIT_S = 20.0

STATUS = WorkflowExecutionStatus
RUNNING = STATUS.WORKFLOW_EXECUTION_STATUS_RUNNING
COMPLETED = STATUS.WORKFLOW_EXECUTION_STATUS_COMPLETED
FAILED = STATUS.WORKFLOW_EXECUTION_STATUS_FAILED
CANCELED = STATUS.WORKFLOW_EXECUTION_STATUS_CANCELED
TERMINATED = STATUS.WORKFLOW_EXECUTION_STATUS_TERMINATED

SA_KEYWORD = SearchAttributeKey.for_keyword("SchedKeyword")
SA_INT = SearchAttributeKey.for_int("SchedInt")

# For the real dev server only: visibility is rate limited to 10 requests/s per
# namespace by default, and these tests poll ListSchedules/ListWorkflowExecutions.
ORACLE_FLAGS = ["--dynamic-config-value", "frontend.namespaceRPS.visibility=10000"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(
        tmp_path_factory.mktemp("schedules-server"),
        search_attributes={"SchedKeyword": "Keyword", "SchedInt": "Int"},
        temporal_args=ORACLE_FLAGS,
    )
    try:
        yield srv
    finally:
        srv.stop()


# ---------------------------------------------------------------- workflows


@workflow.defn(name="SchedEcho")
class SchedEcho:
    """Returns its input and what it knows about itself."""

    @workflow.run
    async def run(self, text: str, n: int) -> dict:
        return {"text": text, "n": n, "id": workflow.info().workflow_id}


@workflow.defn(name="SchedQuick")
class SchedQuick:
    @workflow.run
    async def run(self) -> str:
        return workflow.info().workflow_id


@workflow.defn(name="SchedChain")
class SchedChain:
    """Reports the last completion result and last failure; fails when told."""

    @workflow.run
    async def run(self, mode: str) -> dict:
        last_result = (
            workflow.get_last_completion_result(dict) if workflow.has_last_completion_result() else None
        )
        last_failure = workflow.get_last_failure()
        if mode.startswith("fail"):
            raise ApplicationError(mode, non_retryable=True)
        return {
            "mode": mode,
            "last_mode": last_result["mode"] if last_result else None,
            "last_failure": str(last_failure) if last_failure else None,
        }


@workflow.defn(name="SchedFail")
class SchedFail:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("boom", non_retryable=True)


@workflow.defn(name="SchedSlow")
class SchedSlow:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(60)


@workflow.defn(name="SchedHold")
class SchedHold:
    """Runs until signalled ``release`` (or cancelled/terminated)."""

    def __init__(self) -> None:
        self.released = False

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.released)
        return "released"


ALL_WORKFLOWS = [SchedEcho, SchedQuick, SchedChain, SchedFail, SchedSlow, SchedHold]


# ---------------------------------------------------------------- helpers


def token(n: int) -> bytes:
    """A conflict token: the change count as 8 big-endian bytes."""
    return n.to_bytes(8, "big")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def as_dict(message) -> dict:
    return json_format.MessageToDict(message)


def ts(d: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(d)
    return t


def iso(t: Timestamp) -> str:
    return t.ToJsonString()


def nominal_suffix(t: Timestamp) -> str:
    """``%Y-%m-%dT%H:%M:%SZ`` of a time, truncated to whole seconds."""
    return datetime.fromtimestamp(t.seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rng(start: int = 0, end: int | None = None, step: int = 1) -> dict:
    """A schedule Range as proto JSON (zero fields omitted)."""
    end = start if end is None else end
    return {k: v for k, v in (("start", start), ("end", end), ("step", step)) if v}


def calendar(
    second=(rng(0),), minute=(rng(0),), hour=(rng(0),), dom=(rng(1, 31),), month=(rng(1, 12),),
    dow=(rng(0, 6),), year=(), comment: str | None = None,
) -> dict:
    """A StructuredCalendarSpec as proto JSON, defaults as the server fills them from cron."""
    out: dict[str, Any] = {}
    for key, value in (
        ("second", second), ("minute", minute), ("hour", hour), ("dayOfMonth", dom),
        ("month", month), ("year", year), ("dayOfWeek", dow),
    ):
        if value:
            out[key] = list(value)
    if comment:
        out["comment"] = comment
    return out


def start_workflow_action(**fields) -> dict:
    base = {"workflowId": "wf", "workflowType": {"name": "Nothing"}, "taskQueue": {"name": "nowhere"}}
    base.update(fields)
    return {"startWorkflow": base}


def raw_schedule(spec: dict | None = None, paused: bool = True, action: dict | None = None, **rest) -> ScheduleProto:
    doc: dict[str, Any] = {"action": action or start_workflow_action()}
    if spec is not None:
        doc["spec"] = spec
    if paused:
        doc["state"] = {"paused": True}
    doc.update(rest)
    return json_format.ParseDict(doc, ScheduleProto())


async def describe(client: Client, sid: str) -> DescribeScheduleResponse:
    return await client.workflow_service.describe_schedule(
        DescribeScheduleRequest(namespace=NS, schedule_id=sid)
    )


async def create_raw(client: Client, sid: str, schedule: ScheduleProto, request_id: str | None = None, **kw):
    return await client.workflow_service.create_schedule(
        CreateScheduleRequest(
            namespace=NS, schedule_id=sid, request_id=request_id or unique("req"), schedule=schedule, **kw
        )
    )


async def delete_raw(client: Client, sid: str) -> None:
    await client.workflow_service.delete_schedule(DeleteScheduleRequest(namespace=NS, schedule_id=sid))


async def patch(client: Client, sid: str, request_id: str = "", **fields) -> None:
    await client.workflow_service.patch_schedule(
        PatchScheduleRequest(namespace=NS, schedule_id=sid, patch=SchedulePatch(**fields), request_id=request_id)
    )


async def matching_times(client: Client, sid: str, start: datetime, end: datetime) -> list[str]:
    resp = await client.workflow_service.list_schedule_matching_times(
        ListScheduleMatchingTimesRequest(namespace=NS, schedule_id=sid, start_time=ts(start), end_time=ts(end))
    )
    return [iso(t) for t in resp.start_time]


async def rpc_error(aw: Awaitable) -> RPCError:
    try:
        result = await aw
    except RPCError as e:
        return e
    pytest.fail(f"expected an RPCError, got {result!r}")


def assert_error(err: RPCError, status: RPCStatusCode, message: str, details: list | None = None) -> None:
    assert (err.status, err.message) == (status, message), f"{err.status.name}: {err.message!r}"
    if details is not None:
        got = [d.TypeName() for d in (err.grpc_status.details if err.grpc_status else [])]
        assert got == [d.DESCRIPTOR.full_name for d in details], got


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = WAIT_S) -> Any:
    """Polls an async check until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")
        await asyncio.sleep(0.2)


async def wait_describe(
    client: Client, sid: str, pred: Callable[[DescribeScheduleResponse], bool], what: str, timeout: float = WAIT_S
) -> DescribeScheduleResponse:
    last: list[DescribeScheduleResponse] = []

    async def check():
        r = await describe(client, sid)
        last[:] = [r]
        return r if pred(r) else None

    try:
        return await eventually(check, what, timeout)
    except pytest.fail.Exception:
        pytest.fail(f"schedule {sid}: timed out waiting for {what}; last describe:\n{as_dict(last[0]) if last else None}")


async def next_second_after(t: Timestamp) -> None:
    """Sleeps until the wall clock is past the whole second of `t`: a trigger in the same second
    as the previous one would get the same workflow id."""
    target = t.seconds + 1 + 0.05
    delay = target - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def scheduled_workflows(client: Client, sid: str, extra: str = "") -> list:
    query = f"TemporalScheduledById = '{sid}'" + (f" AND {extra}" if extra else "")
    return [w async for w in client.list_workflows(query)]


async def list_schedule_ids(client: Client, query: str) -> list[str]:
    resp = await client.workflow_service.list_schedules(
        ListSchedulesRequest(namespace=NS, query=query, maximum_page_size=1000)
    )
    return sorted(s.schedule_id for s in resp.schedules)


def decode_sa(payload: Payload):
    return PC.from_payload(payload)


# ---------------------------------------------------------------- create / describe


async def test_create_describe_round_trip(client: Client):
    sid = unique("sched-rt")
    before = datetime.now(timezone.utc)
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow(
                "SchedEcho",
                args=["hello", 7],
                id="rt-wf",
                task_queue="rt-tq",
                execution_timeout=timedelta(hours=1),
                run_timeout=timedelta(minutes=30),
                task_timeout=timedelta(seconds=20),
                memo={"action-memo": {"a": 1}},
                typed_search_attributes=TypedSearchAttributes([SearchAttributePair(SA_KEYWORD, "action-kw")]),
                headers={"hk": Payload(metadata={"encoding": b"json/plain"}, data=b'"hv"')},
                static_summary="the summary",
                static_details="the details",
            ),
            spec=ScheduleSpec(
                intervals=[ScheduleIntervalSpec(every=timedelta(hours=1), offset=timedelta(minutes=5))],
                calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(3)], comment="three")],
                cron_expressions=["0 12 * * MON-FRI"],
                time_zone_name="America/New_York",
            ),
            policy=SchedulePolicy(
                overlap=ScheduleOverlapPolicy.BUFFER_ALL,
                catchup_window=timedelta(seconds=3),
                pause_on_failure=True,
            ),
            state=ScheduleState(note="created paused", paused=True, limited_actions=True, remaining_actions=5),
        ),
        memo={"sched-memo": "m"},
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(SA_KEYWORD, "sched-kw"), SearchAttributePair(SA_INT, 42)]
        ),
    )
    after = datetime.now(timezone.utc)
    r = await describe(client, sid)

    assert as_dict(r.schedule.spec) == {
        "interval": [{"interval": "3600s", "phase": "300s"}],
        # The SDK's calendar first, then the cron string's, as structured calendars.
        "structuredCalendar": [
            calendar(hour=[rng(3)], comment="three"),
            calendar(hour=[rng(12)], dow=[rng(1, 5)]),
        ],
        "timezoneName": "America/New_York",
    }
    action = as_dict(r.schedule.action)
    action["startWorkflow"].pop("priority", None)  # the SDK sends an empty Priority
    assert action == {
        "startWorkflow": {
            "workflowId": "rt-wf",
            "workflowType": {"name": "SchedEcho"},
            "taskQueue": {"name": "rt-tq", "kind": "TASK_QUEUE_KIND_NORMAL"},
            "input": as_dict(_payloads(["hello", 7])),
            "workflowExecutionTimeout": "3600s",
            "workflowRunTimeout": "1800s",
            "workflowTaskTimeout": "20s",
            "memo": {"fields": {"action-memo": as_dict(PC.to_payload({"a": 1}))}},
            "searchAttributes": {
                "indexedFields": {
                    "SchedKeyword": {
                        "metadata": {"encoding": b64(b"json/plain"), "type": b64(b"Keyword")},
                        "data": b64(b'"action-kw"'),
                    }
                }
            },
            "header": {"fields": {"hk": {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(b'"hv"')}}},
            "userMetadata": {
                "summary": as_dict(PC.to_payload("the summary")),
                "details": as_dict(PC.to_payload("the details")),
            },
        }
    }
    # A catch-up window below 10 s comes back as 10 s.
    assert as_dict(r.schedule.policies) == {
        "overlapPolicy": "SCHEDULE_OVERLAP_POLICY_BUFFER_ALL",
        "catchupWindow": "10s",
        "pauseOnFailure": True,
    }
    assert as_dict(r.schedule.state) == {
        "notes": "created paused",
        "paused": True,
        "limitedActions": True,
        "remainingActions": "5",
    }
    assert r.conflict_token == token(1)

    info = r.info
    assert before - timedelta(seconds=1) <= info.create_time.ToDatetime(timezone.utc) <= after + timedelta(seconds=1)
    assert not info.HasField("update_time")
    assert (info.action_count, info.missed_catchup_window, info.overlap_skipped, info.buffer_dropped, info.buffer_size) == (0, 0, 0, 0, 0)
    assert list(info.running_workflows) == [] and list(info.recent_actions) == []
    assert info.invalid_schedule_error == ""
    # Paused schedules still list their future times: no more than the remaining actions,
    # the spec's next matches after the creation (ListScheduleMatchingTimes agrees).
    future = [iso(t) for t in info.future_action_times]
    created = info.create_time.ToDatetime(timezone.utc)
    expected = await matching_times(client, sid, created, created + timedelta(days=3))
    assert future == expected[:5]

    assert dict(r.memo.fields) == {"sched-memo": PC.to_payload("m")}
    assert {k: decode_sa(v) for k, v in r.search_attributes.indexed_fields.items()} == {
        "SchedKeyword": "sched-kw",
        "SchedInt": 42,
    }

    # The SDK's view of the same.
    desc = await handle.describe()
    assert desc.id == sid
    assert desc.schedule.state.note == "created paused" and desc.schedule.state.paused
    assert desc.schedule.state.remaining_actions == 5
    assert desc.schedule.policy.catchup_window == timedelta(seconds=10)
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.BUFFER_ALL
    assert desc.schedule.spec.cron_expressions == []
    assert len(desc.schedule.spec.calendars) == 2
    assert await desc.memo_value("sched-memo") == "m"
    assert desc.typed_search_attributes.get(SA_INT) == 42
    assert desc.info.num_actions == 0 and desc.info.last_updated_at is None

    await handle.delete()


def _payloads(values: list) -> Any:
    from temporalio.api.common.v1 import Payloads

    return Payloads(payloads=PC.to_payloads(values))


async def test_defaults_of_a_minimal_schedule(client: Client):
    """No spec, policies or state: describe fills the defaults; no memo, no search attributes,
    no future times. An action without a workflow id is accepted."""
    sid = unique("sched-min")
    resp = await create_raw(client, sid, raw_schedule(spec=None, paused=False, action=start_workflow_action(workflowId="")))
    assert resp.conflict_token == token(1)
    r = await describe(client, sid)
    assert as_dict(r.schedule) == {
        "spec": {},
        "action": {
            "startWorkflow": {
                "workflowType": {"name": "Nothing"},
                "taskQueue": {"name": "nowhere", "kind": "TASK_QUEUE_KIND_NORMAL"},
            }
        },
        "policies": {"overlapPolicy": "SCHEDULE_OVERLAP_POLICY_SKIP", "catchupWindow": "31536000s"},
        "state": {},
    }
    assert set(as_dict(r.info)) == {"createTime"}
    assert not r.HasField("memo") and not r.HasField("search_attributes")
    assert r.conflict_token == token(1)

    # A trigger starts `-<time>`: the empty action id plus the suffix.
    await patch(client, sid, trigger_immediately=TriggerImmediatelyRequest())
    r = await wait_describe(client, sid, lambda r: r.info.action_count == 1, "the triggered action")
    act = r.info.recent_actions[0]
    assert act.start_workflow_result.workflow_id == "-" + nominal_suffix(act.schedule_time)
    await client.get_workflow_handle(act.start_workflow_result.workflow_id).terminate("test over")
    await delete_raw(client, sid)


async def test_cron_strings_become_structured_calendars(client: Client):
    cases = [
        # (spec sent, spec described)
        ({"cronString": ["0 12 * * MON-FRI"]}, {"structuredCalendar": [calendar(hour=[rng(12)], dow=[rng(1, 5)])]}),
        ({"cronString": ["*/5 * * * *"]}, {"structuredCalendar": [calendar(minute=[rng(0, 59, 5)], hour=[rng(0, 23)])]}),
        # 6 fields: minute .. day-of-week, year.
        (
            {"cronString": ["0 0 * * * 2030"]},
            {"structuredCalendar": [calendar(year=[rng(2030)])]},
        ),
        # 7 fields: second, minute .. year.
        (
            {"cronString": ["15 30 0 * * * *"]},
            {"structuredCalendar": [calendar(second=[rng(15)], minute=[rng(30)])]},
        ),
        ({"cronString": ["@hourly"]}, {"structuredCalendar": [calendar(hour=[rng(0, 23)])]}),
        ({"cronString": ["@every 45m"]}, {"interval": [{"interval": "2700s"}]}),
        (
            {"cronString": ["CRON_TZ=Asia/Tokyo 0 9 * * *"]},
            {"structuredCalendar": [calendar(hour=[rng(9)])], "timezoneName": "Asia/Tokyo"},
        ),
        (
            {"cronString": ["0 0 * * *  # nightly"]},
            {"structuredCalendar": [calendar(comment="nightly")]},
        ),
        # The string calendar form: a range per comma-separated value.
        (
            {"calendar": [{"hour": "0,1", "minute": "0,30", "comment": "cal"}]},
            {"structuredCalendar": [calendar(minute=[rng(0), rng(30)], hour=[rng(0), rng(1)], comment="cal")]},
        ),
        # Structured calendars are not filled in, only their ranges normalised.
        (
            {"structuredCalendar": [{"hour": [{"start": 1}], "minute": [{"start": 0, "end": 59, "step": 20}]}]},
            {"structuredCalendar": [{"minute": [rng(0, 59, 20)], "hour": [rng(1)]}]},
        ),
        # Given calendars first, then the cron strings'; intervals kept.
        (
            {
                "cronString": ["0 * * * *"],
                "structuredCalendar": [{"hour": [{"start": 5}]}],
                "interval": [{"interval": "90s", "phase": "15s"}],
            },
            {
                "interval": [{"interval": "90s", "phase": "15s"}],
                "structuredCalendar": [{"hour": [rng(5)]}, calendar(hour=[rng(0, 23)])],
            },
        ),
    ]
    sids = []
    for sent, expected in cases:
        sid = unique("sched-cron")
        sids.append(sid)
        await create_raw(client, sid, raw_schedule(sent))
        r = await describe(client, sid)
        assert as_dict(r.schedule.spec) == expected, f"sent {sent}"
    for sid in sids:
        await delete_raw(client, sid)


async def test_list_matching_times(client: Client):
    async def times(spec: dict, start: datetime, end: datetime) -> list[str]:
        sid = unique("sched-mt")
        await create_raw(client, sid, raw_schedule(spec))
        try:
            return await matching_times(client, sid, start, end)
        finally:
            await delete_raw(client, sid)

    utc = timezone.utc
    s = datetime(2024, 3, 9, 23, 0, tzinfo=utc)
    e = s + timedelta(hours=3)
    # Intervals count from the Unix epoch, plus the phase. The range is (start, end].
    assert await times({"interval": [{"interval": "5400s", "phase": "900s"}]}, s, e) == [
        "2024-03-10T00:15:00Z",
        "2024-03-10T01:45:00Z",
    ]
    hourly = {"interval": [{"interval": "3600s"}]}
    assert await times(hourly, datetime(2024, 1, 1, tzinfo=utc), datetime(2024, 1, 1, 3, tzinfo=utc)) == [
        "2024-01-01T01:00:00Z",
        "2024-01-01T02:00:00Z",
        "2024-01-01T03:00:00Z",
    ]
    assert await times(hourly, datetime(2024, 1, 1, 3, tzinfo=utc), datetime(2024, 1, 1, tzinfo=utc)) == []
    # A calendar in a time zone, across the spring-forward gap (2 am does not exist).
    assert await times(
        {"cronString": ["0 * * * *"], "timezoneName": "America/New_York"},
        datetime(2024, 3, 10, 5, tzinfo=utc),
        datetime(2024, 3, 10, 9, tzinfo=utc),
    ) == ["2024-03-10T06:00:00Z", "2024-03-10T07:00:00Z", "2024-03-10T08:00:00Z", "2024-03-10T09:00:00Z"]
    assert await times(
        {"cronString": ["CRON_TZ=Asia/Tokyo 0 9 * * *"]},
        datetime(2024, 3, 9, tzinfo=utc),
        datetime(2024, 3, 11, tzinfo=utc),
    ) == ["2024-03-10T00:00:00Z", "2024-03-11T00:00:00Z"]
    # The spec's own start and end times are inclusive.
    assert await times(
        {"interval": [{"interval": "1800s"}], "startTime": "2024-03-10T00:00:00Z", "endTime": "2024-03-10T01:00:00Z"},
        s,
        e,
    ) == ["2024-03-10T00:00:00Z", "2024-03-10T00:30:00Z", "2024-03-10T01:00:00Z"]
    # Exclusions remove matches (here: every full hour).
    assert await times(
        {"interval": [{"interval": "1800s"}], "excludeStructuredCalendar": [calendar(hour=[rng(0, 23)])]},
        s,
        e,
    ) == ["2024-03-09T23:30:00Z", "2024-03-10T00:30:00Z", "2024-03-10T01:30:00Z"]
    # A calendar that never matches, and no spec at all.
    assert await times({"cronString": ["0 0 31 2 *"]}, s, e) == []
    assert await times({}, s, e) == []

    # Jitter: each time moves forward by less than the jitter, to the millisecond, the same
    # way on every call for one schedule.
    sid = unique("sched-mt-jitter")
    await create_raw(client, sid, raw_schedule({"interval": [{"interval": "1800s"}], "jitter": "60s"}))
    first = await matching_times(client, sid, s, e)
    assert first == await matching_times(client, sid, s, e)
    nominal = ["2024-03-09T23:30:00", "2024-03-10T00:00:00", "2024-03-10T00:30:00", "2024-03-10T01:00:00", "2024-03-10T01:30:00"]
    assert len(first) == len(nominal)
    for got, nom in zip(first, nominal):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", got), got
        delta = datetime.fromisoformat(got.replace("Z", "+00:00")) - datetime.fromisoformat(nom + "+00:00")
        assert timedelta(0) <= delta < timedelta(seconds=60), (got, nom)
    await delete_raw(client, sid)

    missing = unique("sched-none")
    err = await rpc_error(matching_times(client, missing, s, e))
    assert_error(err, RPCStatusCode.NOT_FOUND, f"workflow not found for ID: temporal-sys-scheduler:{missing}", [NotFoundFailure])


# ---------------------------------------------------------------- errors


async def test_invalid_specs(client: Client):
    bad = {
        "CronString does not have 5-7 fields": {"cronString": ["bad cron"]},
        "Minute is not in range [0-59]": {"cronString": ["61 * * * *"]},
        "DayOfMonth is not in range [1-31]": {"cronString": ["0 12 L * *"]},
        "unknown time zone Mars/Base": {"interval": [{"interval": "3600s"}], "timezoneName": "Mars/Base"},
        "interval is too small": {"interval": [{"interval": "0.500s"}]},
        "phase cannot be greater than Interval": {"interval": [{"interval": "10s", "phase": "10s"}]},
        "phase is negative": {"interval": [{"interval": "10s", "phase": "-1s"}]},
        "invalid calendar spec: Second Start is not in range [0-59]": {"structuredCalendar": [{"second": [{"start": 70}]}]},
    }
    for message, spec in bad.items():
        sid = unique("sched-bad")
        err = await rpc_error(create_raw(client, sid, raw_schedule(spec)))
        assert_error(err, RPCStatusCode.INVALID_ARGUMENT, f"Invalid schedule spec: {message}", [])
        # Nothing was created.
        err = await rpc_error(describe(client, sid))
        assert err.status == RPCStatusCode.NOT_FOUND

    err = await rpc_error(
        create_raw(client, unique("sched-bad"), raw_schedule({}, action={"startWorkflow": {"workflowId": "w", "workflowType": {"name": "W"}}}))
    )
    assert_error(err, RPCStatusCode.INVALID_ARGUMENT, "taskQueue is not set")
    err = await rpc_error(create_raw(client, "", raw_schedule({})))
    assert_error(err, RPCStatusCode.INVALID_ARGUMENT, "Can't load workflow execution.  WorkflowId not set.")

    # Through the SDK, and on update (the schedule is left as it was).
    with pytest.raises(RPCError) as info:
        await client.create_schedule(
            unique("sched-bad"),
            Schedule(
                action=ScheduleActionStartWorkflow("SchedQuick", id="w", task_queue="tq"),
                spec=ScheduleSpec(cron_expressions=["* * *"]),
            ),
        )
    assert info.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert info.value.message == "Invalid schedule spec: CronString does not have 5-7 fields"
    sid = unique("sched-bad-upd")
    await create_raw(client, sid, raw_schedule({"interval": [{"interval": "3600s"}]}))
    r = await describe(client, sid)
    broken = ScheduleProto()
    broken.CopyFrom(r.schedule)
    broken.spec.cron_string.append("nope")
    err = await rpc_error(
        client.workflow_service.update_schedule(
            UpdateScheduleRequest(namespace=NS, schedule_id=sid, schedule=broken, request_id=unique("u"))
        )
    )
    assert_error(err, RPCStatusCode.INVALID_ARGUMENT, "Invalid schedule spec: CronString does not have 5-7 fields")
    after = await describe(client, sid)
    assert after.schedule == r.schedule and after.conflict_token == token(1)
    await delete_raw(client, sid)


async def test_duplicate_create(client: Client):
    sid = unique("sched-dup")
    schedule = raw_schedule({"interval": [{"interval": "3600s"}]})
    first = await create_raw(client, sid, schedule, request_id="req-1")
    assert first.conflict_token == token(1)
    # The same request again is the same create.
    again = await create_raw(client, sid, schedule, request_id="req-1")
    assert again.conflict_token == token(1)
    err = await rpc_error(create_raw(client, sid, schedule, request_id="req-2"))
    assert_error(
        err, RPCStatusCode.ALREADY_EXISTS, f'schedule "{sid}" is already registered',
        [WorkflowExecutionAlreadyStartedFailure],
    )
    with pytest.raises(ScheduleAlreadyRunningError):
        await client.create_schedule(
            sid,
            Schedule(
                action=ScheduleActionStartWorkflow("SchedQuick", id="w", task_queue="tq"),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
            ),
        )
    # The first schedule is untouched.
    assert (await describe(client, sid)).schedule.state.paused
    await delete_raw(client, sid)


async def test_missing_and_deleted_schedules(client: Client):
    ws = client.workflow_service
    missing = unique("sched-missing")
    never = f"workflow not found for ID: temporal-sys-scheduler:{missing}"
    handle = client.get_schedule_handle(missing)
    schedule = raw_schedule({"interval": [{"interval": "3600s"}]})
    calls = {
        "describe": describe(client, missing),
        "delete": ws.delete_schedule(DeleteScheduleRequest(namespace=NS, schedule_id=missing)),
        "patch": patch(client, missing, pause="x"),
        "update": ws.update_schedule(UpdateScheduleRequest(namespace=NS, schedule_id=missing, schedule=schedule, request_id="u")),
        "sdk trigger": handle.trigger(),
        "sdk pause": handle.pause(),
        "sdk backfill": handle.backfill(
            ScheduleBackfill(start_at=datetime(2024, 1, 1, tzinfo=timezone.utc), end_at=datetime(2024, 1, 2, tzinfo=timezone.utc))
        ),
        "sdk update": handle.update(lambda i: ScheduleUpdate(i.description.schedule)),
    }
    for name, call in calls.items():
        err = await rpc_error(call)
        assert (err.status, err.message) == (RPCStatusCode.NOT_FOUND, never), name
        assert_error(err, RPCStatusCode.NOT_FOUND, never, [NotFoundFailure])

    err = await rpc_error(ws.describe_schedule(DescribeScheduleRequest(namespace="no-such-ns", schedule_id=missing)))
    assert_error(err, RPCStatusCode.NOT_FOUND, "Namespace no-such-ns is not found.", [NamespaceNotFoundFailure])

    # Deleted: describe says so in other words; everything else finds a closed scheduler.
    sid = unique("sched-deleted")
    await create_raw(client, sid, schedule)
    await delete_raw(client, sid)
    err = await rpc_error(describe(client, sid))
    assert_error(err, RPCStatusCode.NOT_FOUND, "schedule not found", [NotFoundFailure])
    closed = "workflow execution already completed"
    for name, call in {
        "delete": ws.delete_schedule(DeleteScheduleRequest(namespace=NS, schedule_id=sid)),
        "patch": patch(client, sid, pause="x"),
        "update": ws.update_schedule(UpdateScheduleRequest(namespace=NS, schedule_id=sid, schedule=schedule, request_id="u")),
        "sdk trigger": client.get_schedule_handle(sid).trigger(),
    }.items():
        err = await rpc_error(call)
        assert (err.status, err.message) == (RPCStatusCode.NOT_FOUND, closed), name
    # The SDK's update describes first.
    err = await rpc_error(client.get_schedule_handle(sid).update(lambda i: None))
    assert (err.status, err.message) == (RPCStatusCode.NOT_FOUND, "schedule not found")

    # The id can be used again, from scratch.
    await create_raw(client, sid, raw_schedule({"interval": [{"interval": "60s"}]}))
    r = await describe(client, sid)
    assert r.conflict_token == token(1)
    assert as_dict(r.schedule.spec) == {"interval": [{"interval": "60s"}]}
    await delete_raw(client, sid)


# ---------------------------------------------------------------- pause, patch, update, tokens


async def test_pause_unpause_patch_and_conflict_tokens(client: Client):
    sid = unique("sched-tok")
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow("SchedQuick", id="tok-wf", task_queue="tok-tq"),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
        ),
    )

    async def state_is(state: dict, n: int) -> DescribeScheduleResponse:
        return await wait_describe(
            client, sid, lambda r: (as_dict(r.schedule.state), r.conflict_token) == (state, token(n)),
            f"state {state} with token {n}",
        )

    await state_is({}, 1)
    await handle.pause(note="my pause")
    r = await state_is({"notes": "my pause", "paused": True}, 2)
    assert not r.info.HasField("update_time")  # a pause is not an update
    await handle.pause()  # pausing again still counts
    await state_is({"notes": "Paused via Python SDK", "paused": True}, 3)
    await handle.unpause()
    await state_is({"notes": "Unpaused via Python SDK"}, 4)

    # Raw patches: an empty one changes nothing; pause and unpause in one: unpause wins, +2.
    await patch(client, sid)
    await patch(client, sid, pause="P", unpause="U")
    await state_is({"notes": "U"}, 6)
    # A repeated request id is the same patch.
    await patch(client, sid, request_id="same-patch", pause="first")
    await state_is({"notes": "first", "paused": True}, 7)
    await patch(client, sid, request_id="same-patch", pause="second")
    await patch(client, sid, unpause="after")
    await state_is({"notes": "after"}, 8)

    # Updates: a stale token is accepted and changes nothing; no token or a token that is not
    # 8 bytes applies; the current token applies. Each applied update counts one.
    ws = client.workflow_service
    r = await describe(client, sid)
    assert r.conflict_token == token(8) and not r.info.HasField("update_time")

    async def update(notes: str, conflict_token: bytes) -> None:
        s = ScheduleProto()
        s.CopyFrom(r.schedule)
        s.state.notes = notes
        resp = await ws.update_schedule(
            UpdateScheduleRequest(namespace=NS, schedule_id=sid, schedule=s, conflict_token=conflict_token, request_id=unique("u"))
        )
        assert as_dict(resp) == {}

    await update("stale", token(3))
    await update("current", token(8))
    r2 = await state_is({"notes": "current"}, 9)
    assert r2.info.HasField("update_time")
    assert r2.info.update_time.ToDatetime() >= r2.info.create_time.ToDatetime()
    await update("stale again", token(8))
    await update("no token", b"")
    await state_is({"notes": "no token"}, 10)
    await update("odd token", b"garbage")
    await state_is({"notes": "odd token"}, 11)

    # The SDK's update sends the token it read; the update replaces the whole schedule:
    # omitted policies and state fall back to the defaults.
    def change(inp: ScheduleUpdateInput) -> ScheduleUpdate:
        s = inp.description.schedule
        s.spec = ScheduleSpec(cron_expressions=["*/5 * * * *"])
        s.action.args = ["new-arg"]
        s.state = ScheduleState(note="updated by sdk")
        s.policy = SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL, catchup_window=timedelta(minutes=2))
        return ScheduleUpdate(
            schedule=s, search_attributes=TypedSearchAttributes([SearchAttributePair(SA_KEYWORD, "after-update")])
        )

    await handle.update(change)
    r = await state_is({"notes": "updated by sdk"}, 12)
    assert as_dict(r.schedule.spec) == {"structuredCalendar": [calendar(minute=[rng(0, 59, 5)], hour=[rng(0, 23)])]}
    assert as_dict(r.schedule.policies) == {"overlapPolicy": "SCHEDULE_OVERLAP_POLICY_ALLOW_ALL", "catchupWindow": "120s"}
    assert [PC.from_payload(p) for p in r.schedule.action.start_workflow.input.payloads] == ["new-arg"]
    # Future times start after the update.
    assert all(t.ToDatetime() >= r.info.update_time.ToDatetime() for t in r.info.future_action_times)
    assert len(r.info.future_action_times) == 10
    r = await wait_describe(
        client, sid,
        lambda r: "SchedKeyword" in r.search_attributes.indexed_fields,
        "the schedule's search attribute from the update",
    )
    assert decode_sa(r.search_attributes.indexed_fields["SchedKeyword"]) == "after-update"
    assert await eventually(
        lambda: _contains(list_schedule_ids(client, "SchedKeyword = 'after-update'"), sid),
        "ListSchedules to see the updated search attribute",
    )
    # Returning None from the updater sends nothing.
    await handle.update(lambda i: None)
    assert (await describe(client, sid)).conflict_token == token(12)

    # Updating with no policies or state at all.
    bare = ScheduleProto()
    bare.CopyFrom(r.schedule)
    bare.ClearField("policies")
    bare.ClearField("state")
    await ws.update_schedule(UpdateScheduleRequest(namespace=NS, schedule_id=sid, schedule=bare, request_id=unique("u")))
    r = await state_is({}, 13)
    assert as_dict(r.schedule.policies) == {"overlapPolicy": "SCHEDULE_OVERLAP_POLICY_SKIP", "catchupWindow": "31536000s"}
    await handle.delete()


async def _contains(aw: Awaitable[list], item) -> bool:
    return item in await aw


# ---------------------------------------------------------------- scheduled runs


async def test_scheduled_runs_ids_memo_and_search_attributes(client: Client, task_queue: str):
    sid = unique("sched-run")
    action_id = f"run-{sid}"
    async with new_worker(client, task_queue, workflows=ALL_WORKFLOWS):
        handle = await client.create_schedule(
            sid,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    "SchedEcho",
                    args=["hi", 3],
                    id=action_id,
                    task_queue=task_queue,
                    execution_timeout=timedelta(minutes=10),
                    run_timeout=timedelta(minutes=5),
                    task_timeout=timedelta(seconds=7),
                    memo={"m": {"x": 1}},
                    typed_search_attributes=TypedSearchAttributes([SearchAttributePair(SA_KEYWORD, "from-action")]),
                    headers={"hk": PC.to_payload("hv")},
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
            ),
        )
        await wait_describe(client, sid, lambda r: r.info.action_count >= 2, "two scheduled actions")
        await handle.pause(note="enough")
        r = await wait_describe(client, sid, lambda r: r.schedule.state.paused, "the pause")
        count = r.info.action_count
        await asyncio.sleep(1.5)
        r = await describe(client, sid)
        assert r.info.action_count == count, "a paused schedule took an action"
        assert as_dict(r.schedule.state) == {"notes": "enough", "paused": True}

        actions = list(r.info.recent_actions)
        assert len(actions) == min(count, 10)
        for a in actions:
            # Scheduled (not manual) actions: the nominal time, whole seconds, on the interval.
            assert a.schedule_time.nanos == 0
            assert a.actual_time.ToDatetime() >= a.schedule_time.ToDatetime()
            wid = a.start_workflow_result.workflow_id
            assert wid == f"{action_id}-{nominal_suffix(a.schedule_time)}"
            assert a.start_workflow_result.run_id
        seconds = [a.schedule_time.seconds for a in actions]
        assert seconds == sorted(set(seconds))

        # The started runs: input, timeouts, memo, search attributes.
        first = actions[0]
        wh = client.get_workflow_handle(first.start_workflow_result.workflow_id)
        assert await wh.result() == {"text": "hi", "n": 3, "id": first.start_workflow_result.workflow_id}
        desc = await wh.describe()
        assert desc.run_id == first.start_workflow_result.run_id
        assert desc.workflow_type == "SchedEcho" and desc.task_queue == task_queue
        cfg = desc.raw_description.execution_config
        assert cfg.workflow_execution_timeout.ToTimedelta() == timedelta(minutes=10)
        assert cfg.workflow_run_timeout.ToTimedelta() == timedelta(minutes=5)
        assert cfg.default_workflow_task_timeout.ToTimedelta() == timedelta(seconds=7)
        assert await desc.memo() == {"m": {"x": 1}}
        sa = desc.typed_search_attributes
        assert sa.get(SearchAttributeKey.for_keyword("TemporalScheduledById")) == sid
        assert sa.get(SearchAttributeKey.for_datetime("TemporalScheduledStartTime")) == first.schedule_time.ToDatetime(timezone.utc)
        assert sa.get(SA_KEYWORD) == "from-action"
        assert desc.raw_description.workflow_execution_info.status == COMPLETED
        started_event = [e async for e in wh.fetch_history_events()][0]
        attrs = started_event.workflow_execution_started_event_attributes
        assert PC.from_payload(attrs.header.fields["hk"]) == "hv"
        assert attrs.identity == f"temporal-scheduler-{NS}-{sid}"
        assert not attrs.HasField("last_completion_result")  # the first run

        # Visibility: the started runs are found by TemporalScheduledById; the scheduler's
        # own workflow is not listed or counted.
        expected_ids = {a.start_workflow_result.workflow_id for a in actions}

        async def listed():
            got = {w.id for w in await scheduled_workflows(client, sid)}
            return got if len(got) == count and expected_ids <= got else None

        await eventually(listed, f"{count} runs listed by TemporalScheduledById")
        ws = client.workflow_service
        everything = await ws.list_workflow_executions(ListWorkflowExecutionsRequest(namespace=NS, page_size=1000))
        ids = [e.execution.workflow_id for e in everything.executions]
        assert expected_ids <= set(ids)
        assert not [i for i in ids if i.startswith("temporal-sys-scheduler:")]
        sys_id = f"temporal-sys-scheduler:{sid}"
        none = await ws.list_workflow_executions(ListWorkflowExecutionsRequest(namespace=NS, query=f"WorkflowId = '{sys_id}'"))
        assert list(none.executions) == []
        counted = await ws.count_workflow_executions(CountWorkflowExecutionsRequest(namespace=NS, query=f"WorkflowId = '{sys_id}'"))
        assert counted.count == 0
        by_schedule = await ws.count_workflow_executions(
            CountWorkflowExecutionsRequest(namespace=NS, query=f"TemporalScheduledById = '{sid}'")
        )
        assert by_schedule.count == count
        at_first = await ws.count_workflow_executions(
            CountWorkflowExecutionsRequest(
                namespace=NS,
                # (`=` on a Datetime finds nothing on the dev server's SQLite visibility: a range.)
                query=f"TemporalScheduledById = '{sid}' AND TemporalScheduledStartTime >= '{iso(first.schedule_time)}'"
                f" AND TemporalScheduledStartTime < '{nominal_suffix(Timestamp(seconds=first.schedule_time.seconds + 1))}'",
            )
        )
        assert at_first.count == 1

        # The statuses of recent actions catch up with the runs.
        r = await wait_describe(
            client, sid, lambda r: all(a.start_workflow_status == COMPLETED for a in r.info.recent_actions),
            "recent actions to show COMPLETED",
        )
        assert list(r.info.running_workflows) == []

        # Deleting the schedule leaves its workflows alone.
        await handle.delete()
        assert (await wh.describe()).status.name == "COMPLETED"


async def test_trigger_chain_last_completion_and_failure(client: Client, task_queue: str):
    sid = unique("sched-chain")
    async with new_worker(client, task_queue, workflows=ALL_WORKFLOWS):
        # Created paused (and with a far-off spec): only triggers start runs.
        handle = await client.create_schedule(
            sid,
            Schedule(
                action=ScheduleActionStartWorkflow("SchedChain", "ok-1", id=f"chain-{sid}", task_queue=task_queue),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
                state=ScheduleState(paused=True, note="paused"),
            ),
        )
        results: list[Any] = []
        last_time: list[Timestamp] = []

        async def trigger(mode: str) -> None:
            if mode != "ok-1":
                await handle.update(lambda i: _with_args(i, [mode]))
            if last_time:
                await next_second_after(last_time[0])
            n = len(results) + 1
            before = time.time()
            await handle.trigger()
            r = await wait_describe(client, sid, lambda r: r.info.action_count == n, f"trigger {n}")
            a = r.info.recent_actions[-1]
            # A trigger's schedule time is the trigger time itself (not whole seconds); the id
            # carries it truncated to seconds.
            assert before - 1 <= a.schedule_time.ToDatetime(timezone.utc).timestamp() <= time.time() + 1
            assert a.start_workflow_result.workflow_id == f"chain-{sid}-{nominal_suffix(a.schedule_time)}"
            last_time[:] = [a.schedule_time]
            wh = client.get_workflow_handle(a.start_workflow_result.workflow_id, run_id=a.start_workflow_result.run_id)
            try:
                results.append(await wh.result())
            except WorkflowFailureError as e:
                results.append(("failed", str(e.cause)))

        for mode in ["ok-1", "ok-2", "fail-3", "ok-4", "ok-5"]:
            await trigger(mode)
        assert results == [
            {"mode": "ok-1", "last_mode": None, "last_failure": None},
            {"mode": "ok-2", "last_mode": "ok-1", "last_failure": None},
            ("failed", "fail-3"),
            # After a failure: the failure, and still the last successful result.
            {"mode": "ok-4", "last_mode": "ok-2", "last_failure": "fail-3"},
            {"mode": "ok-5", "last_mode": "ok-4", "last_failure": None},
        ]
        r = await wait_describe(
            client, sid,
            lambda r: [a.start_workflow_status for a in r.info.recent_actions] == [COMPLETED, COMPLETED, FAILED, COMPLETED, COMPLETED],
            "the recent actions' final statuses",
        )
        # Triggers ran while paused; four updates and nothing else changed the token.
        assert r.schedule.state.paused and r.schedule.state.notes == "paused"
        assert r.conflict_token == token(5)
        assert r.info.action_count == 5 and r.info.overlap_skipped == 0
        await handle.delete()


def _with_args(inp: ScheduleUpdateInput, args: list) -> ScheduleUpdate:
    s = inp.description.schedule
    assert isinstance(s.action, ScheduleActionStartWorkflow)
    s.action.args = args
    return ScheduleUpdate(schedule=s)


async def test_trigger_immediately_and_backfill_at_create(client: Client):
    """No worker: the started runs stay running."""
    sid = unique("sched-ti")
    day = datetime(2024, 1, 1, tzinfo=timezone.utc)
    await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow("SchedQuick", id=f"ti-{sid}", task_queue=unique("no-worker")),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
        ),
        trigger_immediately=True,
        backfill=[ScheduleBackfill(start_at=day, end_at=day + timedelta(hours=2), overlap=ScheduleOverlapPolicy.ALLOW_ALL)],
    )
    r = await wait_describe(client, sid, lambda r: r.info.action_count == 4, "the trigger and three backfilled actions")
    by_time = {iso(a.schedule_time): a for a in r.info.recent_actions}
    created = iso(r.info.create_time)
    # The immediate trigger's schedule time is the creation time.
    assert set(by_time) == {"2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z", created}
    for t, a in by_time.items():
        assert a.start_workflow_result.workflow_id == f"ti-{sid}-{nominal_suffix(a.schedule_time)}"
        assert a.start_workflow_status == RUNNING
    # Only the trigger's run is tracked (the backfill was ALLOW_ALL); the trigger used the
    # schedule's SKIP and started because nothing tracked was running.
    assert [w.workflow_id for w in r.info.running_workflows] == [by_time[created].start_workflow_result.workflow_id]
    assert r.conflict_token == token(1) and r.info.overlap_skipped == 0
    for a in by_time.values():
        await client.get_workflow_handle(a.start_workflow_result.workflow_id).terminate("test over")
    await delete_raw(client, sid)


async def test_pause_on_failure(client: Client, task_queue: str):
    async with new_worker(client, task_queue, workflows=ALL_WORKFLOWS):
        failing, slow = unique("sched-pof"), unique("sched-pot")
        every_second = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))])
        await client.create_schedule(
            failing,
            Schedule(
                action=ScheduleActionStartWorkflow("SchedFail", id=f"pof-{failing}", task_queue=task_queue),
                spec=every_second,
                policy=SchedulePolicy(pause_on_failure=True),
            ),
        )
        await client.create_schedule(
            slow,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    "SchedSlow", id=f"pot-{slow}", task_queue=task_queue, run_timeout=timedelta(seconds=1)
                ),
                spec=every_second,
                policy=SchedulePolicy(pause_on_failure=True),
            ),
        )
        for sid, status, notes in [
            (failing, FAILED, "paused due to workflow failure: {}: boom"),
            (slow, STATUS.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, "paused due to workflow timeout: {}"),
        ]:
            r = await wait_describe(client, sid, lambda r: r.schedule.state.paused, "pause on failure")
            # One run: the schedule noticed its failure before starting another.
            assert r.info.action_count == 1
            wid = r.info.recent_actions[0].start_workflow_result.workflow_id
            assert as_dict(r.schedule.state) == {"notes": notes.format(wid), "paused": True}
            assert r.conflict_token == token(2)
            assert not r.info.HasField("update_time")
            r = await wait_describe(
                client, sid, lambda r: r.info.recent_actions[0].start_workflow_status == status, f"status {status}"
            )
            assert list(r.info.running_workflows) == []
        await asyncio.sleep(1.5)
        for sid in (failing, slow):
            r = await describe(client, sid)
            assert r.info.action_count == 1, "a schedule paused on failure took another action"
            await client.get_schedule_handle(sid).delete()


async def test_remaining_actions(client: Client, task_queue: str):
    sid = unique("sched-lim")
    async with new_worker(client, task_queue, workflows=ALL_WORKFLOWS):
        handle = await client.create_schedule(
            sid,
            Schedule(
                action=ScheduleActionStartWorkflow("SchedQuick", id=f"lim-{sid}", task_queue=task_queue),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
                state=ScheduleState(limited_actions=True, remaining_actions=2),
            ),
        )
        r = await describe(client, sid)
        # No more future times than remaining actions.
        assert len(r.info.future_action_times) <= 2
        r = await wait_describe(client, sid, lambda r: r.info.action_count == 2, "two actions")
        r = await wait_describe(client, sid, lambda r: r.schedule.state.remaining_actions == 0, "no remaining actions")
        # The state keeps limited_actions; remaining 0 is omitted; each action counted a change.
        assert as_dict(r.schedule.state) == {"limitedActions": True}
        assert r.conflict_token == token(3)
        assert list(r.info.future_action_times) == []
        await asyncio.sleep(2)
        r = await describe(client, sid)
        assert r.info.action_count == 2, "a schedule with no remaining actions took an action"
        # Triggers do not need (or use) remaining actions.
        await handle.trigger()
        r = await wait_describe(client, sid, lambda r: r.info.action_count == 3, "the triggered action")
        assert as_dict(r.schedule.state) == {"limitedActions": True}
        assert r.conflict_token == token(3)
        desc = await handle.describe()
        assert desc.schedule.state.limited_actions and desc.schedule.state.remaining_actions == 0
        assert desc.info.next_action_times == []
        await handle.delete()


# ---------------------------------------------------------------- overlap policies


async def _running_ids(client: Client, sid: str) -> list[str]:
    return sorted(w.id for w in await scheduled_workflows(client, sid, "ExecutionStatus = 'Running'"))


@pytest.mark.parametrize(
    "policy",
    ["SKIP", "BUFFER_ONE", "BUFFER_ALL", "CANCEL_OTHER", "TERMINATE_OTHER", "ALLOW_ALL"],
)
async def test_overlap_policy_with_triggers(client: Client, task_queue: str, policy: str):
    """Three triggers, a second apart, while the first run waits for a signal; then the runs are
    released one by one. Each started run's id carries its own trigger's time (a buffered start
    keeps the time it was triggered at)."""
    sid = unique(f"sched-ov-{policy.lower().replace('_', '-')}")
    prefix = f"ov-{sid}"
    replaces = policy in ("CANCEL_OTHER", "TERMINATE_OTHER")
    async with new_worker(client, task_queue, workflows=ALL_WORKFLOWS):
        handle = await client.create_schedule(
            sid,
            Schedule(
                action=ScheduleActionStartWorkflow("SchedHold", id=prefix, task_queue=task_queue),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy[policy]),
            ),
        )

        def counts(r):
            i = r.info
            return (i.action_count, i.overlap_skipped, i.buffer_size, len(i.running_workflows))

        # (action_count, overlap_skipped, buffer_size, len(running_workflows)) after triggers 1..3
        expected = {
            "SKIP": [(1, 0, 0, 1), (1, 1, 0, 1), (1, 2, 0, 1)],
            "BUFFER_ONE": [(1, 0, 0, 1), (1, 0, 1, 1), (1, 1, 1, 1)],
            "BUFFER_ALL": [(1, 0, 0, 1), (1, 0, 1, 1), (1, 0, 2, 1)],
            "CANCEL_OTHER": [(1, 0, 0, 1), (2, 0, 0, 1), (3, 0, 0, 1)],
            "TERMINATE_OTHER": [(1, 0, 0, 1), (2, 0, 0, 1), (3, 0, 0, 1)],
            # ALLOW_ALL runs are not tracked in running_workflows.
            "ALLOW_ALL": [(1, 0, 0, 0), (2, 0, 0, 0), (3, 0, 0, 0)],
        }[policy]
        sent: list[float] = []  # when each trigger was sent (wall clock)
        for n, want in enumerate(expected, 1):
            # One trigger per second, early in it: a trigger in the same second as the previous
            # one would get the same workflow id.
            await asyncio.sleep(1.05 - time.time() % 1)
            sent.append(time.time())
            await handle.trigger()
            r = await wait_describe(client, sid, lambda r: counts(r) == want, f"{policy} after trigger {n}: {want}")

        def check_id(wid: str, n: int) -> None:
            """`wid` is the id of trigger `n`'s run (0-based): the prefix and its time."""
            second = int(sent[n])
            allowed = {
                f"{prefix}-{datetime.fromtimestamp(t, timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}"
                for t in (second, second + 1)
            }
            assert wid in allowed, (wid, n, sorted(allowed))

        started = [a.start_workflow_result.workflow_id for a in r.info.recent_actions]
        assert len(started) == {"SKIP": 1, "BUFFER_ONE": 1, "BUFFER_ALL": 1}.get(policy, 3)
        for n, wid in enumerate(started):
            check_id(wid, n)
        running_now = [started[-1]] if replaces else started
        assert await eventually(
            lambda: _equals(_running_ids(client, sid), sorted(running_now)), f"running runs {running_now}"
        )
        tracked = [w.workflow_id for w in r.info.running_workflows]
        assert tracked == ([] if policy == "ALLOW_ALL" else running_now)

        if replaces:
            for wid in started[:2]:
                wh = client.get_workflow_handle(wid)
                status = (await wh.describe()).status.name
                assert status == ("CANCELED" if policy == "CANCEL_OTHER" else "TERMINATED"), wid
                events = [e async for e in wh.fetch_history_events()]
                if policy == "CANCEL_OTHER":
                    req = next(e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED)
                    a = req.workflow_execution_cancel_requested_event_attributes
                    assert (a.cause, a.identity) == ("cancelled by schedule overlap policy", f"temporal-scheduler-{NS}-{sid}")
                else:
                    a = events[-1].workflow_execution_terminated_event_attributes
                    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
                    assert (a.reason, a.identity) == ("terminated by schedule overlap policy", f"temporal-scheduler-{NS}-{sid}")
            closed = CANCELED if policy == "CANCEL_OTHER" else TERMINATED
            await wait_describe(
                client, sid,
                lambda r: [a.start_workflow_status for a in r.info.recent_actions][:2] == [closed, closed],
                "the replaced runs' statuses",
            )

        # Release the running runs; buffered starts follow one at a time.
        buffered = {"BUFFER_ONE": [1], "BUFFER_ALL": [1, 2]}.get(policy, [])
        for wid in running_now:
            await client.get_workflow_handle(wid).signal(SchedHold.release)
        for n in buffered:
            r = await wait_describe(
                client, sid, lambda r: r.info.action_count == len(started) + 1, f"the buffered start of trigger {n + 1}"
            )
            wid = r.info.recent_actions[-1].start_workflow_result.workflow_id
            check_id(wid, n)
            started.append(wid)
            assert [w.workflow_id for w in r.info.running_workflows] == [wid]
            await client.get_workflow_handle(wid).signal(SchedHold.release)
        assert await eventually(lambda: _equals(_running_ids(client, sid), []), "no run left running")

        total = len(started)
        assert len(set(started)) == total
        r = await wait_describe(
            client, sid, lambda r: r.info.action_count == total and r.info.buffer_size == 0, f"{total} actions in all"
        )
        assert r.info.overlap_skipped == {"SKIP": 2, "BUFFER_ONE": 1}.get(policy, 0)
        assert [a.start_workflow_result.workflow_id for a in r.info.recent_actions] == started
        listed = await eventually(lambda: _len_is(scheduled_workflows(client, sid), total), f"{total} runs listed")
        assert sorted(w.id for w in listed) == sorted(started)
        assert list(r.info.running_workflows) == []
        await handle.delete()


async def _equals(aw: Awaitable, value) -> bool:
    return (await aw) == value


async def _len_is(aw: Awaitable[list], n: int):
    got = await aw
    return got if len(got) == n else None


# ---------------------------------------------------------------- backfill


async def test_backfill_overlap_policies(client: Client, task_queue: str):
    """Five nominal times, [start, end] inclusive, of a paused schedule; quick runs. All of a
    backfill's starts are buffered at once, so SKIP starts one and BUFFER_ONE two."""
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    nominal = [start + timedelta(minutes=i) for i in range(5)]
    expected = {
        # policy: (actions, overlap skipped)
        "SKIP": (1, 4),
        "BUFFER_ONE": (2, 3),
        "BUFFER_ALL": (5, 0),
        "ALLOW_ALL": (5, 0),
    }
    async with new_worker(client, task_queue, workflows=ALL_WORKFLOWS):
        sids = {}
        for policy in expected:
            sid = unique(f"sched-bf-{policy.lower().replace('_', '-')}")
            sids[policy] = sid
            handle = await client.create_schedule(
                sid,
                Schedule(
                    action=ScheduleActionStartWorkflow("SchedQuick", id=f"bf-{sid}", task_queue=task_queue),
                    spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]),
                    # Backfills run while paused and do not use remaining actions.
                    state=ScheduleState(paused=True, limited_actions=True, remaining_actions=1),
                ),
            )
            await handle.backfill(
                ScheduleBackfill(start_at=start, end_at=nominal[-1], overlap=ScheduleOverlapPolicy[policy])
            )
        for policy, (actions, skipped) in expected.items():
            sid = sids[policy]
            r = await wait_describe(
                client, sid,
                lambda r: (r.info.action_count, r.info.overlap_skipped) == (actions, skipped)
                and r.info.buffer_size == 0,
                f"{policy} backfill: {actions} actions, {skipped} skipped",
            )
            times = [iso(a.schedule_time) for a in r.info.recent_actions]
            assert times == [n.strftime("%Y-%m-%dT%H:%M:%SZ") for n in nominal[:actions]], policy
            for a in r.info.recent_actions:
                assert a.start_workflow_result.workflow_id == f"bf-{sid}-{iso(a.schedule_time)}"
            assert as_dict(r.schedule.state) == {"paused": True, "limitedActions": True, "remainingActions": "1"}
            assert r.conflict_token == token(1)
            listed = await eventually(lambda: _len_is(scheduled_workflows(client, sid), actions), f"{policy}: {actions} runs listed")
            assert {w.status.name for w in listed} <= {"COMPLETED", "RUNNING"}
            await client.get_schedule_handle(sid).delete()

    # Jitter moves a backfilled action's schedule time, not its workflow id.
    sid = unique("sched-bf-jitter")
    no_worker = unique("no-worker")
    await create_raw(
        client, sid,
        raw_schedule(
            {"interval": [{"interval": "3600s"}], "jitter": "600s"},
            action=start_workflow_action(workflowId=f"jit-{sid}", taskQueue={"name": no_worker}),
        ),
    )
    await client.get_schedule_handle(sid).backfill(
        # The end is compared with the jittered times: leave room for the jitter.
        ScheduleBackfill(start_at=start, end_at=start + timedelta(hours=1, minutes=10), overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    )
    r = await wait_describe(client, sid, lambda r: r.info.action_count == 2, "two jittered backfilled actions")
    jittered = await matching_times(client, sid, start - timedelta(seconds=1), start + timedelta(hours=1, minutes=10))
    assert [iso(a.schedule_time) for a in r.info.recent_actions] == jittered
    assert [a.start_workflow_result.workflow_id for a in r.info.recent_actions] == [
        f"jit-{sid}-2024-01-01T00:00:00Z",
        f"jit-{sid}-2024-01-01T01:00:00Z",
    ]
    for a in r.info.recent_actions:
        await client.get_workflow_handle(a.start_workflow_result.workflow_id).terminate("test over")
    await delete_raw(client, sid)


# ---------------------------------------------------------------- list


async def test_list_schedules_entries_and_queries(client: Client):
    tag = unique("sched-ls")
    paused_id, active_id, plain_id = f"{tag}-paused", f"{tag}-active", f"{tag}-plain"
    action = ScheduleActionStartWorkflow("SchedQuick", id=f"ls-{tag}", task_queue="ls-tq")
    await client.create_schedule(
        paused_id,
        Schedule(
            action=action,
            spec=ScheduleSpec(cron_expressions=["0 3 * * *"], time_zone_name="Europe/Paris"),
            state=ScheduleState(paused=True, note="resting"),
        ),
        memo={"owner": "team-a"},
        search_attributes=TypedSearchAttributes([SearchAttributePair(SA_KEYWORD, f"{tag}-kw")]),
    )
    await client.create_schedule(
        active_id,
        Schedule(action=action, spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))])),
        search_attributes=TypedSearchAttributes([SearchAttributePair(SA_INT, 7)]),
    )
    await create_raw(client, plain_id, raw_schedule(None, paused=False))
    mine = sorted([paused_id, active_id, plain_id])

    await eventually(
        lambda: _equals(list_schedule_ids(client, f"ScheduleId STARTS_WITH '{tag}'"), mine), "the three schedules listed"
    )
    resp = await client.workflow_service.list_schedules(
        ListSchedulesRequest(namespace=NS, query=f"ScheduleId STARTS_WITH '{tag}'", maximum_page_size=100)
    )
    entries = {e.schedule_id: e for e in resp.schedules}

    # An entry: the user's memo and search attributes only, and the list info.
    paused = entries[paused_id]
    d = await describe(client, paused_id)
    assert dict(paused.memo.fields) == {"owner": PC.to_payload("team-a")}
    assert {k: decode_sa(v) for k, v in paused.search_attributes.indexed_fields.items()} == {"SchedKeyword": f"{tag}-kw"}
    info = as_dict(paused.info)
    assert set(info) == {"spec", "workflowType", "notes", "paused", "futureActionTimes"}
    assert paused.info.spec == d.schedule.spec
    assert info["workflowType"] == {"name": "SchedQuick"}
    assert (info["notes"], info["paused"]) == ("resting", True)
    # Five future times in a list entry (ten in Describe).
    assert len(d.info.future_action_times) == 10
    assert list(paused.info.future_action_times) == list(d.info.future_action_times)[:5]

    active = entries[active_id]
    assert dict(active.memo.fields) == {}
    assert {k: decode_sa(v) for k, v in active.search_attributes.indexed_fields.items()} == {"SchedInt": 7}
    assert not active.info.paused and active.info.notes == ""
    assert len(active.info.future_action_times) == 5
    plain = entries[plain_id]
    assert dict(plain.memo.fields) == {} and not plain.HasField("search_attributes")
    assert as_dict(plain.info) == {"spec": {}, "workflowType": {"name": "Nothing"}}

    # Queries on ScheduleId, TemporalSchedulePaused and custom search attributes.
    prefix = f"ScheduleId STARTS_WITH '{tag}'"
    for query, want in {
        f"ScheduleId = '{paused_id}'": [paused_id],
        f"ScheduleId IN ('{paused_id}', '{plain_id}')": sorted([paused_id, plain_id]),
        f"{prefix} AND ScheduleId != '{paused_id}'": sorted([active_id, plain_id]),
        f"{prefix} AND TemporalSchedulePaused = true": [paused_id],
        f"{prefix} AND TemporalSchedulePaused = false": sorted([active_id, plain_id]),
        f"SchedKeyword = '{tag}-kw'": [paused_id],
        f"{prefix} AND SchedInt = 7": [active_id],
        f"{prefix} AND SchedInt > 100": [],
    }.items():
        assert await list_schedule_ids(client, query) == want, query

    # Paging.
    seen, page_token, pages = [], b"", 0
    while True:
        page = await client.workflow_service.list_schedules(
            ListSchedulesRequest(namespace=NS, query=prefix, maximum_page_size=2, next_page_token=page_token)
        )
        pages += 1
        seen += [s.schedule_id for s in page.schedules]
        page_token = page.next_page_token
        if not page_token:
            break
        assert pages < 5
    assert sorted(seen) == mine and pages >= 2
    # Through the SDK.
    assert sorted([s.id async for s in await client.list_schedules(prefix)]) == mine

    # Everything else is refused.
    for attr, query in {
        "WorkflowId": f"WorkflowId = 'temporal-sys-scheduler:{paused_id}'",
        "WorkflowType": "WorkflowType = 'temporal-sys-scheduler-workflow'",
        "ExecutionStatus": "ExecutionStatus = 'Running'",
        "TemporalScheduledById": f"TemporalScheduledById = '{paused_id}'",
        "TemporalScheduleId": f"TemporalScheduleId = '{paused_id}'",
        "StartTime": f"ScheduleId = '{paused_id}' ORDER BY StartTime",
        "CloseTime": "CloseTime IS NULL",
    }.items():
        err = await rpc_error(list_schedule_ids(client, query))
        assert_error(err, RPCStatusCode.INVALID_ARGUMENT, f'invalid query filter for schedules: cannot filter on "{attr}"')
    err = await rpc_error(list_schedule_ids(client, "NoSuchAttr = 'x'"))
    assert_error(err, RPCStatusCode.INVALID_ARGUMENT, "invalid query: invalid search attribute: NoSuchAttr")
    err = await rpc_error(list_schedule_ids(client, "bad query (("))
    assert err.status == RPCStatusCode.INVALID_ARGUMENT
    assert err.message.startswith("invalid query: malformed SQL query: syntax error"), err.message

    # Pausing and unpausing show in the list; deleted schedules leave it.
    await client.get_schedule_handle(paused_id).unpause(note="awake")
    await client.get_schedule_handle(active_id).pause(note="asleep")
    await eventually(
        lambda: _equals(list_schedule_ids(client, f"{prefix} AND TemporalSchedulePaused = true"), [active_id]),
        "the paused flag to move",
    )

    async def entry_of(sid):
        resp = await client.workflow_service.list_schedules(ListSchedulesRequest(namespace=NS, query=f"ScheduleId = '{sid}'"))
        return resp.schedules[0] if resp.schedules and resp.schedules[0].info.notes == "asleep" else None

    e = await eventually(lambda: entry_of(active_id), "the list entry's notes")
    assert e.info.paused
    for sid in mine:
        await client.get_schedule_handle(sid).delete()
    await eventually(lambda: _equals(list_schedule_ids(client, prefix), []), "deleted schedules to leave the list")


# ---------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def cli(server: ServerProcess) -> Cli:
    return Cli(server, prefix=("schedule",))


async def test_cli_schedule_commands(client: Client, cli: Cli):
    sid = unique("sched-cli")
    tq = unique("cli-tq")
    created = await cli.run(
        "create", "--schedule-id", sid,
        "--interval", "1h/5m", "--cron", "0 12 * * MON-FRI",
        "--calendar", '{"dayOfWeek":"Fri","hour":"3","minute":"30"}',
        "--time-zone", "UTC",
        "--workflow-id", f"cliwf-{sid}", "--task-queue", tq, "--type", "CliWf",
        "--input", '"a"', "--input", '{"b":2}',
        "--memo", 'k="v"', "--search-attribute", 'SchedKeyword="action-kw"',
        "--schedule-memo", 'sm="smv"', "--schedule-search-attribute", 'SchedKeyword="sched-kw"',
        "--overlap-policy", "BufferOne", "--catchup-window", "1m", "--pause-on-failure",
        "--paused", "--notes", "cli notes", "--remaining-actions", "3",
        "--execution-timeout", "1h", "--run-timeout", "30m", "--task-timeout", "10s",
    )
    assert (created.stdout, created.stderr) == ("", "")

    # describe -o json is the DescribeSchedule response as proto JSON.
    doc = await cli.json("describe", "--schedule-id", sid)
    raw = await describe(client, sid)
    assert doc == as_dict(raw)
    assert doc["schedule"]["spec"] == {
        "structuredCalendar": [
            calendar(hour=[rng(12)], dow=[rng(1, 5)]),
            calendar(minute=[rng(30)], hour=[rng(3)], dow=[rng(5)]),
        ],
        "interval": [{"interval": "3600s", "phase": "300s"}],
        "jitter": "0s",  # the CLI sends a zero jitter
        "timezoneName": "UTC",
    }
    start = doc["schedule"]["action"]["startWorkflow"]
    assert start["workflowId"] == f"cliwf-{sid}" and start["workflowType"] == {"name": "CliWf"}
    assert [PC.from_payload(p) for p in raw.schedule.action.start_workflow.input.payloads] == ["a", {"b": 2}]
    assert start["header"] == {}
    assert doc["schedule"]["policies"] == {
        "overlapPolicy": "SCHEDULE_OVERLAP_POLICY_BUFFER_ONE",
        "catchupWindow": "60s",
        "pauseOnFailure": True,
    }
    assert doc["schedule"]["state"] == {
        "notes": "cli notes", "paused": True, "limitedActions": True, "remainingActions": "3",
    }
    assert len(doc["info"]["futureActionTimes"]) == 3
    assert doc["conflictToken"] == base64.b64encode(token(1)).decode()

    text = kv_lines(await cli.out("describe", "--schedule-id", sid))
    assert text["ScheduleId"] == sid
    assert text["OverlapPolicy"] == "BufferOne"
    assert text["CatchupWindow"] == "1m 0s"
    assert text["PauseOnFailure"] == "true"
    assert text["Notes"] == "cli notes"
    assert text["Paused"] == "true"
    assert text["LimitedActions"] == "true"
    assert text["RemainingActions"] == "3"
    assert text["TimeZoneName"] == "UTC"
    assert text["RunningWorkflows"] == "[]"
    assert text["ActionCounts"] == '{"Total":0,"MissedCatchupWindow":0,"SkippedOverlap":0}'
    assert text["Memo"] == '{"fields":{"sm":"smv"}}'

    listed = await eventually(
        lambda: _cli_list(cli, f"ScheduleId = '{sid}'"), "the CLI to list the schedule"
    )
    assert [e["scheduleId"] for e in listed] == [sid]
    entry = listed[0]
    assert entry["info"]["spec"] == doc["schedule"]["spec"]
    assert entry["info"]["workflowType"] == {"name": "CliWf"}
    assert (entry["info"]["notes"], entry["info"]["paused"]) == ("cli notes", True)
    assert entry["info"]["futureActionTimes"] == doc["info"]["futureActionTimes"]
    assert entry["memo"] == doc["memo"] and entry["searchAttributes"] == doc["searchAttributes"]

    # toggle: notes are the reason, or "(no reason provided)".
    toggled = await cli.run("toggle", "--schedule-id", sid, "--unpause", "--reason", "cli unpause")
    assert (toggled.stdout, toggled.stderr) == ("", "")
    r = await wait_describe(client, sid, lambda r: r.conflict_token == token(2), "the CLI's unpause")
    assert as_dict(r.schedule.state) == {"notes": "cli unpause", "limitedActions": True, "remainingActions": "3"}
    await cli.run("toggle", "--schedule-id", sid, "--pause")
    r = await wait_describe(client, sid, lambda r: r.conflict_token == token(3), "the CLI's pause")
    assert (r.schedule.state.notes, r.schedule.state.paused) == ("(no reason provided)", True)
    assert await cli.error("toggle", "--schedule-id", sid) == "Error: exactly one of --pause or --unpause is required"

    # trigger and backfill (no worker: the runs stay running).
    trig = await cli.run("trigger", "--schedule-id", sid)
    assert trig.stdout.strip() == "Trigger request sent"
    r = await wait_describe(client, sid, lambda r: r.info.action_count == 1, "the CLI's trigger")
    triggered = r.info.recent_actions[0].start_workflow_result.workflow_id
    assert triggered == f"cliwf-{sid}-{nominal_suffix(r.info.recent_actions[0].schedule_time)}"
    bf = await cli.run(
        "backfill", "--schedule-id", sid, "--start-time", "2024-01-01T00:00:00Z",
        "--end-time", "2024-01-01T03:00:00Z", "--overlap-policy", "AllowAll",
    )
    assert bf.stdout.strip() == "Backfill request sent"
    r = await wait_describe(client, sid, lambda r: r.info.action_count == 4, "the CLI's backfill")
    assert sorted(a.start_workflow_result.workflow_id for a in r.info.recent_actions) == sorted(
        [triggered] + [f"cliwf-{sid}-2024-01-01T0{h}:05:00Z" for h in range(3)]
    )
    assert r.schedule.state.remaining_actions == 3
    text = kv_lines(await cli.out("describe", "--schedule-id", sid))
    assert text["RunningWorkflows"] == f"[{triggered}]"
    assert text["ActionCounts"] == '{"Total":4,"MissedCatchupWindow":0,"SkippedOverlap":0}'

    matching = await cli.json(
        "list-matching-times", "--schedule-id", sid, "--start-time", "2024-01-01T00:00:00Z",
        "--end-time", "2024-01-01T02:00:00Z",
    )
    assert matching == {"startTime": ["2024-01-01T00:05:00Z", "2024-01-01T01:05:00Z"]}

    # update replaces the whole schedule with what the flags say.
    upd = await cli.run("update", "--schedule-id", sid, "--interval", "30m", "--workflow-id", "other", "--task-queue", tq, "--type", "CliWf2")
    assert (upd.stdout, upd.stderr) == ("", "")
    r = await wait_describe(client, sid, lambda r: r.conflict_token == token(4), "the CLI's update")
    assert as_dict(r.schedule.spec) == {"interval": [{"interval": "1800s", "phase": "0s"}], "jitter": "0s"}
    assert as_dict(r.schedule.policies) == {"overlapPolicy": "SCHEDULE_OVERLAP_POLICY_SKIP", "catchupWindow": "31536000s"}
    assert as_dict(r.schedule.state) == {}
    assert r.schedule.action.start_workflow.workflow_type.name == "CliWf2"
    assert r.info.HasField("update_time") and r.info.action_count == 4
    # The schedule's memo and search attributes stay.
    assert dict(r.memo.fields) == {"sm": PC.to_payload("smv")}

    # Errors.
    assert await cli.error(
        "create", "--schedule-id", sid, "--interval", "1h", "--workflow-id", "x", "--task-queue", tq, "--type", "Z"
    ) == "Error: schedule with this ID is already registered"
    assert await cli.error(
        "create", "--schedule-id", unique("sched-cli-bad"), "--cron", "bad", "--workflow-id", "x", "--task-queue", tq, "--type", "Z"
    ) == "Error: Invalid schedule spec: CronString does not have 5-7 fields"
    missing = unique("sched-cli-missing")
    never = f"Error: workflow not found for ID: temporal-sys-scheduler:{missing}"
    assert await cli.error("describe", "--schedule-id", missing) == never
    assert await cli.error("delete", "--schedule-id", missing) == never
    assert await cli.error("trigger", "--schedule-id", missing) == never
    assert await cli.error("toggle", "--schedule-id", missing, "--pause") == never

    deleted = await cli.run("delete", "--schedule-id", sid)
    assert deleted.stdout.strip() == "Schedule deleted"
    assert await cli.error("describe", "--schedule-id", sid) == "Error: schedule not found"
    for a in r.info.recent_actions:
        await client.get_workflow_handle(a.start_workflow_result.workflow_id).terminate("test over")


async def _cli_list(cli: Cli, query: str):
    got = await cli.json("list", "--query", query)
    return got or None
