#!/usr/bin/env python3
"""Realistic-user benchmark: the official Temporal Python SDK against any Temporal-API server.

Scenario ``python-sdk-one-activity``: a workflow executes one activity (start_to_close_timeout
60 s; the activity returns a short string) and returns the activity's result. Unlike
``endure-bench`` (a raw-gRPC load generator), both the starter and the worker here are the
``temporalio`` SDK with its default options (sticky workflow cache on, 5 workflow-task and 5
activity-task pollers per worker, workflow sandbox on), i.e. what a user's application sees.

How a run goes:

1. The starter (this process) connects a ``temporalio.client.Client``. An unreachable server is
   reported at once (exit status 1).
2. ``--worker-processes`` worker processes are launched (this script again, hidden ``--worker``
   mode, each in its own session) so the starter and the workers do not share a GIL. Every run
   uses a fresh task queue ``bench-py-<random>``. The timed part waits until DescribeTaskQueue
   shows a poller of every worker on both the workflow and the activity queue.
3. Timed part: the starter keeps at most ``--concurrency`` workflows in flight and starts
   ``--workflows`` in total (``client.start_workflow`` then ``await handle.result()``), each with
   a unique workflow id. After the last start it waits at most ``--drain-timeout`` seconds for the
   open ones; those still open then count as ``unfinished``. A progress line goes to stderr every
   second (unless ``--quiet``).
4. Untimed: for every completed workflow, ``describe()`` (status must be COMPLETED; its
   ``history_length`` is summed into ``events``) and ``fetch_history()`` (WorkflowTaskCompleted,
   ActivityTaskCompleted and WorkflowTaskTimedOut events are counted; its length must match the
   described ``history_length``). Then the workers are stopped (SIGTERM, SIGKILL after 15 s).

What the figures mean:

- **latency**: per workflow, from just before the StartWorkflowExecution request to the moment
  ``handle.result()`` returns, as the user's code sees it (it includes the client's long poll
  for the close event). Percentiles are nearest-rank.
- **wall time**: from the first start request to the last result (or to the end of the drain
  when workflows were left unfinished). ``workflows_per_sec`` = completed / wall time;
  ``events_per_sec`` and ``workflow_tasks_per_sec`` divide the verified history figures by it.
- **errors**: every exception from a start or a result (grouped as ``"start: <Class>"`` /
  ``"result: <Class>"`` with the first message), workflows unfinished at the drain timeout, and
  verification failures. The exit status is 2 if there were any errors, 0 otherwise (1 when the
  run could not be set up, 130 on Ctrl-C).

Usage::

    .venv/bin/python bench/python/sdk_bench.py --address 127.0.0.1:7233 -w 1000 -c 50
    .venv/bin/python bench/python/sdk_bench.py -w 200 -c 20 --worker-processes 2 --json

With ``--json`` a single JSON object goes to stdout (the keys are fixed; a Rust serde struct
reads them); otherwise a short aligned summary.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import inspect
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from typing import Any, Awaitable, Callable, Optional, Sequence

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from temporalio.api.enums.v1 import EventType, TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client, WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode
    from temporalio.worker import Worker

SCENARIO = "python-sdk-one-activity"
LATENCY_MEASURES = (
    "client.start_workflow request sent -> await handle.result() returned "
    "(as seen by the user's code, includes the result long poll)"
)
ACTIVITY_TIMEOUT = timedelta(seconds=60)
READY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 15.0
WORKER_STOP_TIMEOUT_S = 15.0
VERIFY_CONCURRENCY = 50
EXAMPLE_MAX_CHARS = 500


# ---------------------------------------------------------------- workflow and activity


@activity.defn(name="bench-py-activity")
async def bench_activity(name: str) -> str:
    """The benchmark's activity: returns a short string at once."""
    return f"hello {name}"


def expected_result(name: str) -> str:
    return f"hello {name}"


@workflow.defn(name="bench-py-one-activity")
class OneActivityWorkflow:
    """Executes one activity and returns its result."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            bench_activity, name, start_to_close_timeout=ACTIVITY_TIMEOUT
        )


# ---------------------------------------------------------------- worker process


def default_workflow_task_polls() -> int:
    """The SDK worker's default maximum of concurrent workflow-task polls (5 in 1.x)."""
    try:
        param = inspect.signature(Worker.__init__).parameters["workflow_task_poller_behavior"]
        return int(param.default.maximum)
    except (KeyError, AttributeError, TypeError, ValueError):
        return 5


def watch_stdin_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Sets `stop` when stdin closes, so a worker never outlives a starter that died."""

    def wait_eof() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_eof, name="stdin-eof", daemon=True).start()


async def run_worker(address: str, namespace: str, task_queue: str) -> int:
    """Worker mode: one SDK worker with default options until SIGTERM/SIGINT or stdin EOF."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watch_stdin_eof(loop, stop)
    try:
        client = await Client.connect(address, namespace=namespace)
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[OneActivityWorkflow],
            activities=[bench_activity],
        )
    except Exception as e:  # noqa: BLE001
        print(f"worker {os.getpid()}: {describe_exception(e)}", file=sys.stderr)
        return 1
    running = asyncio.create_task(worker.run())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not running.done():
        await worker.shutdown()
    stopping.cancel()
    try:
        await running
    except Exception as e:  # noqa: BLE001 - e.g. the namespace does not exist
        print(f"worker {os.getpid()} failed: {describe_exception(e)}", file=sys.stderr)
        return 1
    return 0


class WorkerPool:
    """The worker processes: this script in `--worker` mode, one session each."""

    def __init__(self, args: argparse.Namespace, task_queue: str) -> None:
        self.args = args
        self.task_queue = task_queue
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--worker",
            "--address", self.args.address,
            "--namespace", self.args.namespace,
            "--task-queue", self.task_queue,
        ]  # fmt: skip
        for _ in range(self.args.worker_processes):
            self.procs.append(
                subprocess.Popen(
                    cmd,
                    stdin=subprocess.PIPE,
                    stdout=sys.stderr.fileno(),  # keep our stdout for the report
                    start_new_session=True,  # Ctrl-C reaches only us; we stop them
                )
            )

    def check_alive(self) -> None:
        for proc in self.procs:
            code = proc.poll()
            if code is not None:
                raise SetupError(f"worker process {proc.pid} exited early with status {code}")

    def stop(self) -> None:
        """SIGTERM (graceful SDK shutdown), then SIGKILL whoever is left after a timeout."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            if proc.stdin is not None:
                proc.stdin.close()
        deadline = time.monotonic() + WORKER_STOP_TIMEOUT_S
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"worker {proc.pid} did not stop in time: SIGKILL", file=sys.stderr)
                proc.kill()
                proc.wait()
            else:
                if proc.returncode != 0:
                    print(f"warning: worker {proc.pid} exited with status {proc.returncode}", file=sys.stderr)
        self.procs.clear()


class SetupError(Exception):
    """The run could not be set up (server unreachable, workers not polling)."""


async def poller_identities(client: Client, task_queue: str, kind: int) -> set[str]:
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=kind,  # type: ignore[arg-type]
        )
    )
    return {p.identity for p in resp.pollers}


async def wait_for_pollers(client: Client, pool: WorkerPool, quiet: bool) -> None:
    """Until every worker process polls both the workflow and the activity queue."""
    want = pool.args.worker_processes
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        pool.check_alive()
        try:
            wf = await poller_identities(client, pool.task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
            act = await poller_identities(client, pool.task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
        except RPCError as e:
            if e.status != RPCStatusCode.UNIMPLEMENTED:
                raise SetupError(f"DescribeTaskQueue on {pool.task_queue}: {describe_exception(e)}") from e
            if not quiet:
                print("the server has no DescribeTaskQueue: waiting 3 s instead", file=sys.stderr)
            await asyncio.sleep(3.0)
            pool.check_alive()
            return
        if len(wf) >= want and len(act) >= want:
            return
        if time.monotonic() > deadline:
            raise SetupError(
                f"workers not polling after {READY_TIMEOUT_S:.0f} s "
                f"({len(wf)} workflow / {len(act)} activity poller identities, want {want})"
            )
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- timed part


@dataclasses.dataclass
class ErrorLog:
    """Errors grouped by a short kind, with the first message of each."""

    kinds: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def add(self, kind: str, example: str, count: int = 1) -> None:
        entry = self.kinds.setdefault(kind, {"count": 0, "example": example[:EXAMPLE_MAX_CHARS]})
        entry["count"] += count

    def add_exception(self, phase: str, exc: BaseException) -> None:
        self.add(f"{phase}: {type(exc).__name__}", describe_exception(exc))

    @property
    def total(self) -> int:
        return sum(e["count"] for e in self.kinds.values())


def describe_exception(exc: BaseException) -> str:
    """The exception's message, with its status code and cause when it has them."""
    text = str(exc) or repr(exc)
    status = getattr(exc, "status", None)
    if status is not None and hasattr(status, "name"):
        text = f"{status.name}: {text}"
    if exc.__cause__ is not None:
        text = f"{text} (cause: {type(exc.__cause__).__name__}: {exc.__cause__})"
    return text


@dataclasses.dataclass
class LoadState:
    """What the timed part saw."""

    requested: int
    next_index: int = 0
    start_attempts: int = 0
    started: int = 0
    completed: int = 0
    failed: int = 0
    first_start: Optional[float] = None
    last_finish: Optional[float] = None
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    done_runs: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    in_flight: set[str] = dataclasses.field(default_factory=set)
    errors: ErrorLog = dataclasses.field(default_factory=ErrorLog)
    all_started: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def start_attempt_done(self) -> None:
        self.start_attempts += 1
        if self.start_attempts == self.requested:
            self.all_started.set()

    def finished(self, now: float) -> None:
        self.last_finish = now if self.last_finish is None else max(self.last_finish, now)


async def run_one(client: Client, task_queue: str, state: LoadState, index: int) -> None:
    """Starts one workflow and waits for its result, recording latency or the error."""
    workflow_id = f"{task_queue}-{index}"
    name = f"wf-{index}"
    t0 = time.perf_counter()
    if state.first_start is None:
        state.first_start = t0
    try:
        handle = await client.start_workflow(
            OneActivityWorkflow.run, name, id=workflow_id, task_queue=task_queue
        )
        state.started += 1
        state.in_flight.add(workflow_id)
    except Exception as e:  # noqa: BLE001 - every failure is a counted error
        state.failed += 1
        state.errors.add_exception("start", e)
        return
    finally:
        state.start_attempt_done()  # whatever happened, so the drain always begins
    try:
        result = await handle.result()
    except Exception as e:  # noqa: BLE001
        state.failed += 1
        state.errors.add_exception("result", e)
        state.finished(time.perf_counter())
        return
    finally:
        state.in_flight.discard(workflow_id)
    now = time.perf_counter()
    state.finished(now)
    if result != expected_result(name):
        state.failed += 1
        state.errors.add("result: wrong value", f"{workflow_id}: {result!r}")
        return
    state.completed += 1
    state.latencies_ms.append((now - t0) * 1000.0)
    state.done_runs.append((workflow_id, handle.result_run_id or handle.run_id or ""))


async def runner(client: Client, task_queue: str, state: LoadState) -> None:
    """One in-flight slot: runs workflows one after the other until all are taken."""
    while state.next_index < state.requested:
        index = state.next_index
        state.next_index += 1
        await run_one(client, task_queue, state, index)


async def report_progress(state: LoadState, t_begin: float) -> None:
    while True:
        await asyncio.sleep(1.0)
        elapsed = time.perf_counter() - t_begin
        rate = state.completed / elapsed if elapsed > 0 else 0.0
        print(
            f"[{elapsed:6.1f}s] started {state.started}/{state.requested}  "
            f"completed {state.completed}  in flight {len(state.in_flight)}  "
            f"errors {state.errors.total}  ({rate:.1f} wf/s)",
            file=sys.stderr,
            flush=True,
        )


async def run_load(client: Client, args: argparse.Namespace, task_queue: str) -> tuple[LoadState, float]:
    """The timed part. Returns the state and the wall time in seconds."""
    state = LoadState(requested=args.workflows)
    if args.workflows == 0:
        return state, 0.0
    t_begin = time.perf_counter()
    progress = None if args.quiet else asyncio.create_task(report_progress(state, t_begin))
    slots = [
        asyncio.create_task(runner(client, task_queue, state))
        for _ in range(min(args.concurrency, args.workflows))
    ]
    try:
        await state.all_started.wait()
        _, pending = await asyncio.wait(slots, timeout=args.drain_timeout)
        t_end = time.perf_counter()
        if pending:
            unfinished = len(state.in_flight)
            if unfinished:
                state.errors.add(
                    "unfinished",
                    f"{unfinished} workflows still open {args.drain_timeout:g} s after the last start",
                    unfinished,
                )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    finally:
        if progress is not None:
            progress.cancel()
        for task in slots:
            task.cancel()
    end = t_end if pending or state.last_finish is None else state.last_finish
    return state, max(0.0, end - (state.first_start or t_begin))


# ---------------------------------------------------------------- verification (untimed)


@dataclasses.dataclass
class Verified:
    """Figures read back from the server for the completed workflows."""

    events: int = 0
    workflow_tasks: int = 0
    activity_tasks: int = 0
    workflow_task_timeouts: int = 0
    failures: int = 0


async def verify_one(client: Client, workflow_id: str, run_id: str, out: Verified, errors: ErrorLog) -> None:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id or None)
    try:
        desc = await handle.describe()
        history = await handle.fetch_history()
    except Exception as e:  # noqa: BLE001
        out.failures += 1
        errors.add_exception("verify", e)
        return
    history_length = desc.raw_description.workflow_execution_info.history_length
    events = history.events
    out.events += history_length
    out.workflow_tasks += sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in events)
    out.activity_tasks += sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED for e in events)
    out.workflow_task_timeouts += sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT for e in events)
    if desc.status != WorkflowExecutionStatus.COMPLETED:
        out.failures += 1
        status = desc.status.name if desc.status is not None else "UNSPECIFIED"
        errors.add(f"verify: status {status}", f"{workflow_id} is {status}, not COMPLETED")
    elif history_length != len(events):
        out.failures += 1
        errors.add(
            "verify: history_length mismatch",
            f"{workflow_id}: describe says {history_length} events, the history has {len(events)}",
        )


async def bounded(limit: int, jobs: Sequence[Callable[[], Awaitable[None]]]) -> None:
    """Runs the jobs with at most `limit` at a time."""
    sem = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with sem:
            await job()

    await asyncio.gather(*(one(job) for job in jobs))


async def verify(client: Client, state: LoadState) -> Verified:
    out = Verified()
    jobs = [
        (lambda wid=wid, rid=rid: verify_one(client, wid, rid, out, state.errors))
        for wid, rid in state.done_runs
    ]
    await bounded(VERIFY_CONCURRENCY, jobs)
    return out


# ---------------------------------------------------------------- report


def nearest_rank(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: idx = ceil(p/100 * n), clamped to [1, n], 1-based."""
    n = len(sorted_values)
    if n == 0:
        return 0.0
    idx = min(max(math.ceil(p / 100.0 * n), 1), n)
    return sorted_values[idx - 1]


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, Any]:
    values = sorted(latencies_ms)
    return {
        "count": len(values),
        "p50_ms": nearest_rank(values, 50),
        "p90_ms": nearest_rank(values, 90),
        "p99_ms": nearest_rank(values, 99),
        "max_ms": values[-1] if values else 0.0,
        "mean_ms": sum(values) / len(values) if values else 0.0,
    }


def per_sec(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def build_report(
    args: argparse.Namespace, task_queue: str, state: LoadState, wall: float, checked: Verified
) -> dict[str, Any]:
    unfinished = state.errors.kinds.get("unfinished", {}).get("count", 0)
    return {
        "scenario": SCENARIO,
        "address": args.address,
        "task_queue": task_queue,
        "workflows_requested": args.workflows,
        "concurrency": args.concurrency,
        "pollers": default_workflow_task_polls() * args.worker_processes,
        "started": state.started,
        "completed": state.completed,
        "failed": state.failed,
        "unfinished": unfinished,
        "verify_failures": checked.failures,
        "errors": state.errors.total,
        "error_kinds": state.errors.kinds,
        "wall_seconds": wall,
        "workflows_per_sec": per_sec(state.completed, wall),
        "events": checked.events,
        "events_per_sec": per_sec(checked.events, wall),
        "workflow_tasks": checked.workflow_tasks,
        "workflow_tasks_per_sec": per_sec(checked.workflow_tasks, wall),
        "activity_tasks": checked.activity_tasks,
        "workflow_task_timeouts": checked.workflow_task_timeouts,
        "latency_measures": LATENCY_MEASURES,
        "latency": latency_summary(state.latencies_ms),
    }


def format_human(report: dict[str, Any]) -> str:
    lat = report["latency"]
    rows = [
        ("scenario", report["scenario"]),
        ("address", report["address"]),
        ("task queue", report["task_queue"]),
        ("workflows (requested)", report["workflows_requested"]),
        ("concurrency", report["concurrency"]),
        ("workflow-task pollers", report["pollers"]),
        ("started / completed", f"{report['started']} / {report['completed']}"),
        ("failed / unfinished", f"{report['failed']} / {report['unfinished']}"),
        ("verify failures", report["verify_failures"]),
        ("errors", report["errors"]),
        ("wall time (s)", f"{report['wall_seconds']:.3f}"),
        ("workflows/s", f"{report['workflows_per_sec']:.1f}"),
        ("events (events/s)", f"{report['events']} ({report['events_per_sec']:.1f})"),
        ("workflow tasks (wft/s)", f"{report['workflow_tasks']} ({report['workflow_tasks_per_sec']:.1f})"),
        ("activity tasks", report["activity_tasks"]),
        ("workflow task timeouts", report["workflow_task_timeouts"]),
        ("latency p50/p90/p99 (ms)", f"{lat['p50_ms']:.1f} / {lat['p90_ms']:.1f} / {lat['p99_ms']:.1f}"),
        ("latency max/mean (ms)", f"{lat['max_ms']:.1f} / {lat['mean_ms']:.1f}"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    for kind, entry in report["error_kinds"].items():
        lines.append(f"  {entry['count']:>6} x {kind}: {entry['example']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


async def connect(args: argparse.Namespace) -> Client:
    try:
        return await asyncio.wait_for(
            Client.connect(args.address, namespace=args.namespace), CONNECT_TIMEOUT_S
        )
    except asyncio.TimeoutError:
        raise SetupError(f"cannot connect to {args.address}: no answer in {CONNECT_TIMEOUT_S:.0f} s") from None
    except Exception as e:  # noqa: BLE001
        raise SetupError(f"cannot connect to {args.address}: {e}") from e


async def bench(args: argparse.Namespace, pool_box: list[WorkerPool]) -> dict[str, Any]:
    client = await connect(args)
    task_queue = f"bench-py-{uuid.uuid4().hex[:12]}"
    pool = WorkerPool(args, task_queue)
    pool_box.append(pool)
    pool.start()
    await wait_for_pollers(client, pool, args.quiet)
    if not args.quiet:
        print(
            f"{SCENARIO}: {args.workflows} workflows, {args.concurrency} in flight, "
            f"{args.worker_processes} worker process(es), task queue {task_queue}",
            file=sys.stderr,
        )
    state, wall = await run_load(client, args, task_queue)
    checked = await verify(client, state)
    return build_report(args, task_queue, state, wall, checked)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Temporal Python SDK benchmark (one activity per workflow).",
        epilog="Exit status: 0 ok, 2 errors during the run, 1 setup failure, 130 interrupted.",
    )
    p.add_argument("--address", default="127.0.0.1:7233", help="server HOST:PORT (default %(default)s)")
    p.add_argument("--namespace", default="default", help="namespace (default %(default)s)")
    p.add_argument("-w", "--workflows", type=int, default=1000, help="workflows to run (default %(default)s)")
    p.add_argument("-c", "--concurrency", type=int, default=50, help="most workflows in flight (default %(default)s)")
    p.add_argument("--worker-processes", type=int, default=1, help="SDK worker processes (default %(default)s)")
    p.add_argument(
        "--drain-timeout", type=float, default=120.0,
        help="seconds to wait for open workflows after the last start (default %(default)s)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--task-queue", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.workflows < 0 or args.concurrency < 1 or args.worker_processes < 1 or args.drain_timeout < 0:
        p.error("--workflows must be >= 0, --concurrency and --worker-processes >= 1, --drain-timeout >= 0")
    if args.worker and not args.task_queue:
        p.error("--worker needs --task-queue")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return asyncio.run(run_worker(args.address, args.namespace, args.task_queue))
    pool_box: list[WorkerPool] = []
    try:
        report = asyncio.run(bench(args, pool_box))
    except SetupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for pool in pool_box:
            pool.stop()
    print(json.dumps(report) if args.json else format_human(report), flush=True)
    return 2 if report["errors"] > 0 else 0


def exit_now(code: int) -> None:
    """Exits without interpreter finalization.

    The SDK's Rust runtime threads can still touch the GIL while CPython finalizes, which
    sometimes aborts the process ("Fatal Python error: PyGILState_Release", SIGABRT;
    temporalio/sdk-python#300). Everything (worker shutdown, the report) is done by now.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
