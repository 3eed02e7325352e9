"""OpenTelemetry traces end to end: the official SDK's ``TracingInterceptor`` on client and
worker, Endure exporting its own spans over OTLP, all collected by one in-test receiver
(:mod:`endure_testing.otlp`).

One workflow (``TracedParent``) runs one activity, one child workflow (``TracedChild``) and
waits for a signal sent by the client right after the start. The SDK's spans go to the
receiver over OTLP/HTTP (service ``endure-test-sdk``); Endure's, when tracing is on, over
OTLP/gRPC or OTLP/HTTP (parametrized, service ``endure``).

The SDK's span shape, learnt on the real dev server (which exports nothing to us) — H is the
span the run's WorkflowExecutionStarted header ``_tracer-data`` names:

* ``StartWorkflow:TracedParent`` (CLIENT, a root) is H on the real server;
* ``RunWorkflow:TracedParent`` (SERVER), ``StartActivity:traced_greet``,
  ``StartChildWorkflow:TracedChild``, ``HandleSignal:poke`` and
  ``CompleteWorkflow:TracedParent`` are children of H;
* ``RunActivity:traced_greet`` (SERVER) is a child of ``StartActivity:traced_greet``;
* ``RunWorkflow:TracedChild`` (and ``CompleteWorkflow:TracedChild``) are children of
  ``StartChildWorkflow:TracedChild``;
* ``SignalWorkflow:poke`` (CLIENT) is a root of its own trace; ``HandleSignal:poke`` links
  to it.

With Endure's tracing on, server spans sit between them, in the same trace:
``StartWorkflow`` → ``…WorkflowService/StartWorkflowExecution`` (= H) → ``RunWorkflow``;
``StartActivity`` → ``dispatch activity task`` → ``RunActivity``; ``StartChildWorkflow`` →
``start child workflow`` → child's ``RunWorkflow``; a ``commit`` under
``StartWorkflowExecution``; ``SignalWorkflow`` → ``…/SignalWorkflowExecution``.
Server spans carry ``rpc.*`` and ``temporal.*`` attributes (namespace, workflow id, run id,
task queue, ``temporal.event_id``) and the resource ``service.name=endure``; the run's
started header names Endure's ``StartWorkflowExecution`` span, the child's its
``start child workflow`` span.

With tracing off (no OTEL_* variable; or our endpoint with ``OTEL_TRACES_EXPORTER=none``;
or with ``OTEL_SDK_DISABLED=true``) Endure exports nothing and leaves every ``_tracer-data``
header as the client and the workflow wrote it, like the real server: the shape is the real
server's.

With ``--log-format json --log-level debug`` too, every line Endure writes on stderr is a JSON
object, and the debug ``request`` line of an RPC names, in its spans, the trace and span ids of
the span exported for that RPC and the ``temporal.*`` fields (Endure only: the real server's
logs are not ours).

The real server (``ENDURE_TEST_TARGET=temporal``) runs every other test too: with these variables
it exports nothing (it needs ``OTEL_TRACES_EXPORTER=otlp``, and even then its spans start
traces of their own: it ignores ``_tracer-data``), so there the SDK's shape is checked alone.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta
from typing import Any, Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, Interceptor, OutboundInterceptor, StartWorkflowInput
from temporalio.contrib.opentelemetry import TracingInterceptor

from conftest import new_worker, start_server, store, target, unique
from endure_testing.otlp import OtlpReceiver, Span

RESULT_TIMEOUT_S = 20
SPAN_WAIT_S = 10
SDK_SERVICE = "endure-test-sdk"
SERVER_SERVICE = "endure"
HEADER = "_tracer-data"
RPC_SERVICE = "temporal.api.workflowservice.v1.WorkflowService"
START_RPC = f"{RPC_SERVICE}/StartWorkflowExecution"
SIGNAL_RPC = f"{RPC_SERVICE}/SignalWorkflowExecution"
DISPATCH_ACTIVITY = "dispatch activity task"
DISPATCH_WORKFLOW = "dispatch workflow task"
START_CHILD = "start child workflow"
COMMIT = "commit"
#: The server spans the scenario must produce with tracing on.
SERVER_NAMES = {START_RPC, SIGNAL_RPC, DISPATCH_ACTIVITY, DISPATCH_WORKFLOW, START_CHILD, COMMIT}


# -- the workflows ------------------------------------------------------------------------


@activity.defn
async def traced_greet(name: str) -> str:
    return f"hello {name}"


@workflow.defn
class TracedChild:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"child {name}"


@workflow.defn
class TracedParent:
    def __init__(self) -> None:
        self.poked = False

    @workflow.signal
    def poke(self) -> None:
        self.poked = True

    @workflow.run
    async def run(self, child_id: str) -> list[str]:
        greeting = await workflow.execute_activity(
            traced_greet, "tracer", start_to_close_timeout=timedelta(seconds=10)
        )
        child = await workflow.execute_child_workflow(TracedChild.run, "kid", id=child_id)
        await workflow.wait_condition(lambda: self.poked)
        return [greeting, child]


# -- the client side ----------------------------------------------------------------------


class HeaderRecorder(Interceptor):
    """Records the headers the client sends with each start (after the tracing interceptor,
    so ``_tracer-data`` included), by workflow id."""

    def __init__(self) -> None:
        self.start_headers: dict[str, dict[str, Payload]] = {}

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _RecordingOutbound(next, self)


class _RecordingOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, root: HeaderRecorder) -> None:
        super().__init__(next)
        self.root = root

    async def start_workflow(self, input: StartWorkflowInput):
        self.root.start_headers[input.id] = dict(input.headers)
        return await super().start_workflow(input)


def sdk_tracer_provider(rx: OtlpReceiver) -> TracerProvider:
    """The SDK side's own provider (not the global one), exporting to the receiver."""
    provider = TracerProvider(resource=Resource.create({"service.name": SDK_SERVICE}))
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=rx.http_traces_endpoint, timeout=5),
            schedule_delay_millis=100,
        )
    )
    return provider


def header_span(payload: Payload) -> tuple[str, str]:
    """(trace id, span id) of the ``traceparent`` a ``_tracer-data`` header carries."""
    carrier = json.loads(payload.data)
    version, trace_id, span_id, _flags = carrier["traceparent"].split("-")
    assert version == "00", carrier
    return trace_id, span_id


# -- running the scenario -------------------------------------------------------------------


class Run:
    """What one run of the scenario left: ids, histories, the client's headers."""

    def __init__(self) -> None:
        self.workflow_id = unique("traced")
        self.child_id = unique("traced-child")
        self.task_queue = unique("tq-traced")
        self.run_id = ""
        self.child_run_id = ""
        self.events: list[Any] = []
        self.child_events: list[Any] = []
        self.client_start_header: Payload | None = None


async def run_scenario(address: str, rx: OtlpReceiver) -> Run:
    run = Run()
    provider = sdk_tracer_provider(rx)
    recorder = HeaderRecorder()
    try:
        client = await Client.connect(
            address,
            namespace="default",
            interceptors=[TracingInterceptor(provider.get_tracer("endure-tests")), recorder],
        )
        async with new_worker(
            client,
            run.task_queue,
            workflows=[TracedParent, TracedChild],
            activities=[traced_greet],
        ):
            handle = await client.start_workflow(
                TracedParent.run, run.child_id, id=run.workflow_id, task_queue=run.task_queue
            )
            await handle.signal(TracedParent.poke)
            result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT_S)
            assert result == ["hello tracer", "child kid"]
        run.run_id = handle.result_run_id or ""
        run.events = list((await handle.fetch_history()).events)
        child = client.get_workflow_handle(run.child_id)
        run.child_run_id = (await child.describe()).run_id
        run.child_events = list((await child.fetch_history()).events)
        run.client_start_header = recorder.start_headers[run.workflow_id].get(HEADER)
        assert run.client_start_header is not None, "the tracing interceptor sent no header"
    finally:
        flushed = provider.force_flush(10_000)
        provider.shutdown()
    assert flushed, "the SDK's spans were not exported within 10 s"
    return run


def event_of(events: list[Any], event_type: int) -> Any:
    found = [e for e in events if e.event_type == event_type]
    assert len(found) == 1, f"{len(found)} events of type {EventType.Name(event_type)}"
    return found[0]


# -- reading the spans ------------------------------------------------------------------------

SDK_NAMES = [
    "StartWorkflow:TracedParent",
    "RunWorkflow:TracedParent",
    "StartActivity:traced_greet",
    "RunActivity:traced_greet",
    "StartChildWorkflow:TracedChild",
    "RunWorkflow:TracedChild",
    "CompleteWorkflow:TracedChild",
    "SignalWorkflow:poke",
    "HandleSignal:poke",
    "CompleteWorkflow:TracedParent",
]


class Spans:
    def __init__(self, spans: list[Span]) -> None:
        self.all = spans
        self.by_id = {s.span_id: s for s in spans}
        self.sdk = [s for s in spans if s.service_name == SDK_SERVICE]
        self.server = [s for s in spans if s.service_name != SDK_SERVICE]

    def dump(self, limit: int = 80) -> str:
        """The spans of the SDK's traces (where the server's should be too), then a count of
        the rest (e.g. the server's poll RPCs)."""
        traces = {s.trace_id for s in self.sdk}
        shown = [s for s in self.all if s.trace_id in traces]
        lines = ["  " + s.short() for s in shown[:limit]]
        if len(shown) > limit:
            lines.append(f"  … {len(shown) - limit} more in those traces")
        rest = len(self.all) - len(shown)
        if rest:
            names = sorted({s.name for s in self.all if s.trace_id not in traces})
            lines.append(f"  + {rest} spans in other traces: {names[:20]}")
        return "\n".join(lines)

    def one_sdk(self, name: str) -> Span:
        found = [s for s in self.sdk if s.name == name]
        assert len(found) == 1, f"{len(found)} SDK spans {name!r}:\n{self.dump()}"
        return found[0]

    def server_named(self, name: str, **attrs: Any) -> list[Span]:
        return [
            s
            for s in self.server
            if s.name == name and all(s.attributes.get(k) == v for k, v in attrs.items())
        ]

    def one_server(self, name: str, **attrs: Any) -> Span:
        found = self.server_named(name, **attrs)
        assert len(found) == 1, f"{len(found)} server spans {name!r} with {attrs}:\n{self.dump()}"
        return found[0]

    def parent(self, span: Span) -> Span | None:
        return self.by_id.get(span.parent_span_id) if span.parent_span_id else None

    def expect_chain(self, top: Span, middle: list[str], bottom: Span) -> list[Span]:
        """`bottom`'s ancestors up to `top` are exactly spans named `middle` (top-down), all
        in `top`'s trace; returns those middle spans."""
        ancestors: list[Span] = []
        span = bottom
        while len(ancestors) < len(middle) + 1:
            assert span.trace_id == top.trace_id, (
                f"{span.short()} is not in the trace of {top.short()}:\n{self.dump()}"
            )
            parent = self.parent(span)
            assert parent is not None, (
                f"{span.short()}: "
                + (f"its parent {span.parent_span_id} never arrived" if span.parent_span_id else "a root")
                + f"; expected {[top.name, *middle]} above it:\n{self.dump()}"
            )
            ancestors.append(parent)
            span = parent
        ancestors.reverse()
        names = [a.name for a in ancestors]
        assert ancestors[0].span_id == top.span_id and names[1:] == middle, (
            f"{bottom.short()}: ancestors {names}, expected {[top.name, *middle]} "
            f"with {top.short()} on top:\n{self.dump()}"
        )
        return ancestors[1:]


def sdk_complete(spans: list[Span]) -> bool:
    names = {s.name for s in spans if s.service_name == SDK_SERVICE}
    return all(n in names for n in SDK_NAMES)


def check_sdk_shape(sp: Spans, run: Run, server_spans: bool) -> dict[str, Span]:
    """The SDK's spans and their links, with Endure's server spans between them when
    `server_spans` (else directly parent and child, as on the real server)."""
    s = {name: sp.one_sdk(name) for name in SDK_NAMES}
    start = s["StartWorkflow:TracedParent"]
    signal = s["SignalWorkflow:poke"]
    assert start.kind == "CLIENT" and start.parent_span_id is None, start.short()
    assert start.attributes.get("temporalWorkflowID") == run.workflow_id
    assert signal.kind == "CLIENT" and signal.parent_span_id is None, signal.short()
    kinds = {
        "RunWorkflow:TracedParent": "SERVER",
        "RunWorkflow:TracedChild": "SERVER",
        "RunActivity:traced_greet": "SERVER",
        "HandleSignal:poke": "SERVER",
        "StartActivity:traced_greet": "CLIENT",
        "StartChildWorkflow:TracedChild": "CLIENT",
        "CompleteWorkflow:TracedParent": "INTERNAL",
        "CompleteWorkflow:TracedChild": "INTERNAL",
    }
    wrong = {n: s[n].kind for n, k in kinds.items() if s[n].kind != k}
    assert not wrong, f"span kinds {wrong}, expected {kinds}"
    assert s["RunWorkflow:TracedParent"].attributes.get("temporalWorkflowID") == run.workflow_id
    assert s["RunWorkflow:TracedParent"].attributes.get("temporalRunID") == run.run_id
    assert s["RunWorkflow:TracedChild"].attributes.get("temporalWorkflowID") == run.child_id

    # One trace: everything the workflow (and its child) did, under the client's start.
    in_trace = [n for n in SDK_NAMES if n != "SignalWorkflow:poke"]
    other = [s[n].short() for n in in_trace if s[n].trace_id != start.trace_id]
    assert not other, f"not in the start's trace: {other}\n{sp.dump()}"

    via = (lambda *names: list(names)) if server_spans else (lambda *names: [])
    # H: the span the run's started header names, parent of the workflow's own spans.
    if server_spans:
        (h,) = sp.expect_chain(start, via(START_RPC), s["RunWorkflow:TracedParent"])
    else:
        sp.expect_chain(start, [], s["RunWorkflow:TracedParent"])
        h = start
    for name in ("StartActivity:traced_greet", "StartChildWorkflow:TracedChild",
                 "HandleSignal:poke", "CompleteWorkflow:TracedParent"):
        assert s[name].parent_span_id == h.span_id, (
            f"{s[name].short()}: parent should be {h.short()}:\n{sp.dump()}"
        )
    sp.expect_chain(
        s["StartActivity:traced_greet"], via(DISPATCH_ACTIVITY), s["RunActivity:traced_greet"]
    )
    sp.expect_chain(
        s["StartChildWorkflow:TracedChild"], via(START_CHILD), s["RunWorkflow:TracedChild"]
    )
    child_h = sp.parent(s["RunWorkflow:TracedChild"])
    assert s["CompleteWorkflow:TracedChild"].parent_span_id == child_h.span_id

    # The signal: its own trace, linked from the workflow's HandleSignal span (to the
    # client's span, or to a server span under it).
    links = s["HandleSignal:poke"].links
    assert len(links) == 1, s["HandleSignal:poke"]
    link_trace, link_span = links[0]
    assert link_trace == signal.trace_id, (links, signal.short())
    if link_span != signal.span_id:
        assert server_spans, f"HandleSignal links to {link_span}, not {signal.short()}"
        linked = sp.by_id.get(link_span)
        assert linked is not None and linked.parent_span_id == signal.span_id, (
            f"HandleSignal links to {link_span}, neither {signal.short()} nor a child of it"
        )

    # The headers in the history name those spans.
    started = event_of(run.events, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    assert header_span(started.workflow_execution_started_event_attributes.header.fields[HEADER]) == (
        start.trace_id, h.span_id
    )
    scheduled = event_of(run.events, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    assert header_span(scheduled.activity_task_scheduled_event_attributes.header.fields[HEADER]) == (
        start.trace_id, s["StartActivity:traced_greet"].span_id
    )
    initiated = event_of(
        run.events, EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    )
    assert header_span(
        initiated.start_child_workflow_execution_initiated_event_attributes.header.fields[HEADER]
    ) == (start.trace_id, s["StartChildWorkflow:TracedChild"].span_id)
    child_started = event_of(run.child_events, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    assert header_span(
        child_started.workflow_execution_started_event_attributes.header.fields[HEADER]
    ) == (start.trace_id, child_h.span_id)
    return s


def check_server_spans(sp: Spans, run: Run, wire: str) -> None:
    """Endure's spans (tracing on): between the SDK's, with the attributes of the contract,
    all from service ``endure`` over the transport `wire` (``grpc`` or ``http``)."""
    s = check_sdk_shape(sp, run, server_spans=True)
    for x in sp.server:
        assert x.service_name == SERVER_SERVICE, x.short()
        assert x.transport == wire, f"{x.short()} came over {x.transport}, not {wire}"
    start = s["StartWorkflow:TracedParent"]
    ids = {"temporal.namespace": "default", "temporal.workflow_id": run.workflow_id}

    # The start RPC: a child of the client's span, with the run's attributes.
    rpc = sp.one_server(START_RPC, **ids)
    assert rpc.parent_span_id == start.span_id and rpc.kind == "SERVER", rpc.short()
    assert rpc.attributes.get("rpc.system") == "grpc", rpc.attributes
    assert rpc.attributes.get("rpc.service") == RPC_SERVICE, rpc.attributes
    assert rpc.attributes.get("rpc.method") == "StartWorkflowExecution", rpc.attributes
    assert rpc.attributes.get("temporal.run_id") == run.run_id, rpc.attributes
    assert rpc.attributes.get("temporal.task_queue") == run.task_queue, rpc.attributes
    commits = [x for x in sp.server_named(COMMIT) if x.parent_span_id == rpc.span_id]
    assert commits, f"no commit span under {rpc.short()}:\n{sp.dump()}"
    assert all(x.trace_id == start.trace_id for x in commits)

    # Every RPC span is named after its method.
    for x in sp.server:
        if x.name.startswith(RPC_SERVICE + "/"):
            method = x.name.split("/", 1)[1]
            assert x.kind == "SERVER", x.short()
            assert x.attributes.get("rpc.system") == "grpc", (x.name, x.attributes)
            assert x.attributes.get("rpc.service") == RPC_SERVICE, (x.name, x.attributes)
            assert x.attributes.get("rpc.method") == method, (x.name, x.attributes)
    for method in ("RespondWorkflowTaskCompleted", "RespondActivityTaskCompleted"):
        found = sp.server_named(f"{RPC_SERVICE}/{method}", **{"temporal.namespace": "default"})
        assert found, f"no server span for {method} in namespace default:\n{sp.dump()}"

    # The signal RPC: a child of the client's SignalWorkflow span (from _tracer-data).
    signal = s["SignalWorkflow:poke"]
    sig = sp.one_server(SIGNAL_RPC, **ids)
    assert sig.parent_span_id == signal.span_id, f"{sig.short()} vs {signal.short()}"
    assert sig.attributes.get("temporal.namespace") == "default"

    # The activity dispatch: under StartActivity, naming the run and the scheduled event.
    dispatch = sp.parent(s["RunActivity:traced_greet"])
    scheduled = event_of(run.events, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    assert dispatch.attributes.get("temporal.namespace") == "default", dispatch.attributes
    assert dispatch.attributes.get("temporal.workflow_id") == run.workflow_id, dispatch.attributes
    assert dispatch.attributes.get("temporal.run_id") == run.run_id, dispatch.attributes
    assert dispatch.attributes.get("temporal.task_queue") == run.task_queue, dispatch.attributes
    assert dispatch.attributes.get("temporal.event_id") == scheduled.event_id, dispatch.attributes

    # The child's start: under StartChildWorkflow, naming the parent's or the child's run.
    start_child = sp.parent(s["RunWorkflow:TracedChild"])
    assert start_child.attributes.get("temporal.namespace") == "default", start_child.attributes
    assert start_child.attributes.get("temporal.workflow_id") in (run.workflow_id, run.child_id)
    assert start_child.attributes.get("temporal.run_id") in (run.run_id, run.child_run_id)
    assert "temporal.event_id" in start_child.attributes, start_child.attributes

    # Workflow tasks dispatched for the run, in its trace.
    dispatched = sp.server_named(DISPATCH_WORKFLOW, **ids)
    assert dispatched, f"no {DISPATCH_WORKFLOW!r} span for the run:\n{sp.dump()}"
    assert any(x.trace_id == start.trace_id for x in dispatched), sp.dump()


def otel_env(**settings: str) -> dict[str, str | None]:
    """The server's OTEL_* environment: none inherited from the test runner, only `settings`."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("OTEL_")}
    env.update(settings)
    return env


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as rx:
        yield rx


# -- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_one_trace_from_client_through_server_to_worker(tmp_path, receiver, protocol):
    endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
    server = await asyncio.to_thread(
        start_server,
        tmp_path,
        env=otel_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
            OTEL_BSP_SCHEDULE_DELAY="100",
        ),
    )
    try:
        run = await run_scenario(server.address, receiver)
        endure = target() == "endure"
        sp = Spans(await asyncio.to_thread(receiver.wait_for, sdk_complete, SPAN_WAIT_S))
        if not endure:
            # The real server exports nothing with these variables (it exports only with
            # OTEL_TRACES_EXPORTER=otlp, and then in traces of its own, not under the
            # client's span): the SDK's shape alone.
            await asyncio.sleep(0.5)
            sp = Spans(receiver.spans())
            assert not sp.server, f"spans from the real server?\n{sp.dump()}"
            check_sdk_shape(sp, run, server_spans=False)
            return

        def server_names(spans: list[Span]) -> set[str]:
            return {x.name for x in spans if x.service_name != SDK_SERVICE}

        sp = Spans(
            await asyncio.to_thread(
                receiver.wait_for,
                lambda spans: SERVER_NAMES <= server_names(spans),
                SPAN_WAIT_S,
                fail=False,
            )
        )
        missing = sorted(SERVER_NAMES - server_names(sp.all))
        assert not missing, (
            f"Endure (OTEL_EXPORTER_OTLP_PROTOCOL={protocol}) exported no span named {missing} "
            f"within {SPAN_WAIT_S}s; {len(sp.server)} server spans arrived, export requests "
            f"{receiver.requests}, receiver errors {receiver.errors}:\n{sp.dump()}\n"
            f"{server.log_tail(20)}"
        )
        # A few more batches: the spans of the same RPCs that ended last.
        await asyncio.sleep(0.5)
        sp = Spans(receiver.spans())
        check_server_spans(sp, run, "grpc" if protocol == "grpc" else "http")
        assert receiver.errors == [], receiver.errors
    finally:
        await asyncio.to_thread(server.stop)


#: Ways tracing is off: no OTEL_* variable at all, or an endpoint (ours) that the
#: contract's off switches must silence.
OFF = {
    "no-otel-vars": lambda rx: {},
    "traces-exporter-none": lambda rx: {
        "OTEL_EXPORTER_OTLP_ENDPOINT": rx.grpc_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    },
    "sdk-disabled": lambda rx: {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": rx.http_traces_endpoint,
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_SDK_DISABLED": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    },
}


@pytest.mark.parametrize("off", list(OFF))
async def test_tracing_off_exports_nothing_and_changes_no_header(tmp_path, receiver, off):
    server = await asyncio.to_thread(start_server, tmp_path, env=otel_env(**OFF[off](receiver)))
    try:
        run = await run_scenario(server.address, receiver)
        sp = Spans(await asyncio.to_thread(receiver.wait_for, sdk_complete, SPAN_WAIT_S))
        # Long past the 100 ms batch delay the switched-off variants set.
        await asyncio.sleep(1.0)
        sp = Spans(receiver.spans())
        assert not sp.server, f"spans from the server with tracing off:\n{sp.dump()}"
        assert receiver.requests["grpc"] == 0, receiver.requests
        assert receiver.errors == [], receiver.errors
        check_sdk_shape(sp, run, server_spans=False)
        # The run's header is byte for byte what the client sent.
        started = event_of(run.events, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
        header = started.workflow_execution_started_event_attributes.header.fields[HEADER]
        assert header == run.client_start_header, (header, run.client_start_header)
        # The child's started header is what the parent's command carried.
        initiated = event_of(
            run.events, EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
        )
        child_started = event_of(
            run.child_events, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        )
        assert (
            child_started.workflow_execution_started_event_attributes.header.fields[HEADER]
            == initiated.start_child_workflow_execution_initiated_event_attributes.header.fields[HEADER]
        )
    finally:
        await asyncio.to_thread(server.stop)


# -- JSON logs --------------------------------------------------------------------------------

#: The lines of the server's log file that are not its stderr: the harness's header before
#: each start, and what ``start-dev`` prints on stdout (the harness sends both streams to
#: the one file).
NOT_STDERR = ("===== ", "Endure server listening on ", "HTTP API: ", "Web UI: ", "Metrics: ", "Data: ",
              "Started in ", "Shutting down")


def log_spans(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The spans a JSON log record names: its span list, and its current span."""
    spans = list(record.get("spans") or [])
    if isinstance(record.get("span"), dict):
        spans.append(record["span"])
    return spans


async def test_json_logs_name_the_rpc_span_and_its_trace(tmp_path, receiver):
    """With ``--log-format json --log-level debug`` and tracing on, every stderr line is a
    JSON object, and the debug ``request`` line of the client's StartWorkflowExecution names,
    in its spans, the trace and span ids of the server span exported for that RPC, its
    namespace and its workflow id."""
    if target() == "temporal":
        pytest.skip("Endure's own log format: the real server's logs are not ours")
    tracing_on = otel_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.grpc_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    if store() == "sqlite":
        logs = {"endure_args": ["--log-format", "json", "--log-level", "debug"]}
    else:  # the production server: the same settings by variable
        tracing_on.update(ENDURE_LOG_FORMAT="json", ENDURE_LOG_LEVEL="debug")
        logs = {}
    server = await asyncio.to_thread(start_server, tmp_path, env=tracing_on, **logs)
    try:
        run = await run_scenario(server.address, receiver)

        def started(spans: list[Span]) -> bool:
            return any(
                s.name == START_RPC and s.attributes.get("temporal.workflow_id") == run.workflow_id
                for s in spans
            )

        sp = Spans(await asyncio.to_thread(receiver.wait_for, started, SPAN_WAIT_S))
        rpc = sp.one_server(START_RPC, **{"temporal.workflow_id": run.workflow_id})
    finally:
        # Stopped first: the whole log, shutdown lines included, is on disk.
        await asyncio.to_thread(server.stop)

    records: list[dict[str, Any]] = []
    not_json: list[str] = []
    for line in server.log_lines():
        if line.startswith(NOT_STDERR):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            not_json.append(line)
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            not_json.append(line)
    assert not not_json, f"{len(not_json)} log lines are not JSON objects:\n" + "\n".join(
        not_json[:10]
    )
    assert records, server.log_tail(20)

    def is_start_request(record: dict[str, Any]) -> bool:
        return (
            record.get("level") == "DEBUG"
            and record.get("message") == "request"
            and record.get("rpc") == "StartWorkflowExecution"
            and any(
                s.get("temporal.workflow_id") == run.workflow_id for s in log_spans(record)
            )
        )

    requests = [r for r in records if is_start_request(r)]
    starts = [
        r for r in records
        if r.get("message") == "request" and r.get("rpc") == "StartWorkflowExecution"
    ]
    assert len(requests) == 1, (
        f"{len(requests)} debug `request` lines of StartWorkflowExecution naming "
        f"{run.workflow_id} in their spans; those of StartWorkflowExecution:\n"
        + "\n".join(json.dumps(r) for r in starts[:5])
    )
    (request,) = requests
    expected = {
        "trace_id": rpc.trace_id,
        "span_id": rpc.span_id,
        "temporal.namespace": "default",
        "temporal.workflow_id": run.workflow_id,
    }
    named = [
        s for s in log_spans(request)
        if all(s.get(k) == v for k, v in expected.items())
    ]
    assert named, (
        f"no span of the request line carries {expected} (the exported span: {rpc.short()}):\n"
        + json.dumps(request, indent=1)
    )
