"""The chaos soak: a steady mixed workload under a seeded schedule of faults, then a verdict on
every workflow. Run it with bench/chaos.sh (which builds the binary and the Python
environment); `--help` lists the options.

One process: Python SDK workers (several per server, each bound to one server's address and
restarted if it ever gives up), a starter (`--rate` workflows a second, round-robin over the
servers, each start retried through another server until acknowledged), a signaller, the fault
injector (faults.py) and, for a cluster, a poller of the shard table (whose shards each fault's
victim held). After `--duration` the starts and faults stop, everything a fault left is undone,
the workflows drain, and verify.py reads every run three ways (visibility, the chain of runs
through the API, the store's runs table) and checks it. Exit status: 0 clean, 1 a violation,
2 the soak itself failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import re
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import faults
import verify
import workload
from systems import ClusterSystem, SqliteSystem, System

import pytest
from endure_testing.sdk import new_worker, quiet_core_logs

ROOT = Path(__file__).resolve().parents[2]
TASK_QUEUE = "chaos"
CLEAN, VIOLATION, BROKEN = 0, 1, 2


def duration(text: str) -> float:
    """`90`, `90s`, `500ms`, `10m`, `1h` as seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 60s, 10m)")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/chaos.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--store", choices=["sqlite", "cluster"], default="cluster")
    p.add_argument("--duration", type=duration, default=600.0, help="workload and faults (default 10m)")
    p.add_argument("--seed", type=int, default=None, help="fault schedule seed (default: random, printed)")
    p.add_argument("--fault-every", type=duration, default=5.0, help="mean gap between fault starts (default 5s)")
    p.add_argument("--warmup", type=duration, default=None, help="first fault after (default 2 x --fault-every)")
    p.add_argument("--rate", type=float, default=2.0, help="workflows started per second (default 2)")
    p.add_argument("--replicas", type=int, default=3, help="cluster replicas (default 3)")
    p.add_argument("--workers-per-server", type=int, default=None, help="SDK workers per server (default: 2, SQLite 3)")
    p.add_argument("--drain-timeout", type=duration, default=180.0, help="wait for open workflows after the faults (default 180s)")
    p.add_argument("--pg-port", type=int, default=55490, help="port of the soak's own PostgreSQL (default 55490)")
    p.add_argument("--work-dir", type=Path, default=None, help="logs and data (default bench/.work/chaos-<store>-<time>)")
    p.add_argument("--json", type=Path, default=None, help="results (default bench/results/chaos-<store>-<time>.json)")
    p.add_argument("--keep", action="store_true", help="keep the work directory after a clean run")
    p.add_argument("--net-tag", default=None, help="name tag of the network namespaces (chaos.sh passes it to clean up)")
    p.add_argument("--schedule-only", action="store_true", help="print the fault schedule of the seed and exit")
    p.add_argument(
        "--inject-violations", action="store_true",
        help="self-test: after the drain, leave one workflow RUNNING and start a second run of a completed one; "
        "exits 0 only if the verification reports exactly those two",
    )
    a = p.parse_args(argv)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 10**6)
    if a.warmup is None:
        a.warmup = min(2 * a.fault_every, a.duration / 4)
    if a.workers_per_server is None:
        a.workers_per_server = 3 if a.store == "sqlite" else 2
    if a.store == "sqlite":
        a.replicas = 1
    return a


@dataclass
class StartRecord:
    n: int
    workflow_id: str
    kind: str
    first_try: float  # seconds into the soak
    acked_at: float | None = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


def short(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}"
    return text if len(text) < 160 else text[:157] + "..."


class Soak:
    def __init__(self, args: argparse.Namespace, system: System, work_dir: Path):
        self.a = args
        self.system = system
        self.work_dir = work_dir
        names = [s.name for s in system.servers]
        self.schedule = faults.schedule(args.seed, args.store, names, args.duration, args.fault_every, args.warmup)
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        self.clients: list = []
        self.starts: dict[str, StartRecord] = {}
        self.ambiguous_signals: dict[str, set[str]] = {}
        self.undelivered_signals: dict[str, set[str]] = {}
        self.fault_log: list[dict] = []
        self.busy: set[str] = set()
        self.owners: dict[int, str] = {}
        self.worker_restarts = 0
        self.self_exits: list[str] = []  # servers found dead without a fault (crashes)
        self.harness_errors: list[str] = []
        self.tasks: list[asyncio.Task] = []
        self.client_tasks: list[asyncio.Task] = []  # starts and signals: the drain waits for them
        self.stopping = asyncio.Event()
        self.workers: dict[int, object] = {}
        self.injected: dict[str, str] = {}
        self.log_file = open(work_dir / "soak.log", "a")

    # -- output ----------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def say(self, text: str) -> None:
        line = f"[{self.elapsed():7.1f}s] {text}"
        print(line, flush=True)
        self.log_file.write(line + "\n")
        self.log_file.flush()

    def spawn(self, coro) -> asyncio.Task:
        t = asyncio.create_task(coro)
        self.tasks.append(t)
        return t

    # -- clients and workers ---------------------------------------------------------------------

    async def connect_clients(self) -> None:
        from temporalio.client import Client

        self.clients = [
            await Client.connect(addr, identity=f"starter@{s.name}", lazy=True)
            for addr, s in zip(self.system.addresses(), self.system.servers)
        ]

    async def through_any(self, op, first: int = 0, timeout: float = 60.0, what: str = "call"):
        """`op(client)` through each server in turn until one answers."""
        deadline = time.monotonic() + timeout
        i = first
        last: BaseException | None = None
        while time.monotonic() < deadline:
            client = self.clients[i % len(self.clients)]
            i += 1
            try:
                return await op(client)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - tried through the next server
                last = e
                await asyncio.sleep(0.3)
        raise RuntimeError(f"{what}: no server answered within {timeout:.0f}s (last: {last!r})")

    async def worker_loop(self, k: int, server) -> None:
        from temporalio.client import Client

        identity = f"worker{k}@{server.name}"
        while not self.stopping.is_set():
            ran = False
            try:
                client = await Client.connect(server.address, identity=identity, connect_timeout=timedelta(seconds=5))
                worker = new_worker(client, TASK_QUEUE, workload.WORKFLOWS, workload.ACTIVITIES)
                self.workers[k] = worker
                ran = True
                await worker.run()
                if not self.stopping.is_set():
                    raise RuntimeError("worker.run() returned")
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - a worker that gave up is started again
                if self.stopping.is_set():
                    return
                if ran:
                    self.worker_restarts += 1
                    self.say(f"{identity} stopped ({short(e)}); starting it again")
                await asyncio.sleep(1.0)

    async def stop_workers(self) -> None:
        self.stopping.set()
        for w in list(self.workers.values()):
            try:
                await asyncio.wait_for(w.shutdown(), timeout=15)
            except BaseException:  # noqa: BLE001 - being torn down
                pass

    # -- the starter and the signaller -----------------------------------------------------------

    async def starter(self) -> None:
        n = 0
        while True:
            due = n / self.a.rate
            if due >= self.a.duration:
                break
            if due > self.elapsed():
                await asyncio.sleep(due - self.elapsed())
            self.client_tasks.append(self.spawn(self.start_one(n)))
            n += 1

    async def start_one(self, n: int, sabotage: bool = False) -> StartRecord:
        from temporalio.common import WorkflowIDReusePolicy
        from temporalio.exceptions import WorkflowAlreadyStartedError

        wid, kind = workload.workflow_id(n), workload.kind_of(n)
        rec = StartRecord(n, wid, kind, round(self.elapsed(), 3))
        self.starts[wid] = rec
        wf = workload.WORKFLOW_OF_KIND[kind]
        deadline = time.monotonic() + 120
        i = n
        while time.monotonic() < deadline:
            client = self.clients[i % len(self.clients)]
            i += 1
            rec.attempts += 1
            try:
                await client.start_workflow(
                    wf.run, n, id=wid, task_queue=TASK_QUEUE,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    rpc_timeout=timedelta(seconds=5),
                )
            except WorkflowAlreadyStartedError:
                if rec.attempts == 1:
                    self.harness_errors.append(f"{wid}: already started before its first start")
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - retried through the next server
                rec.errors.append(short(e))
                await asyncio.sleep(0.5)
                continue
            rec.acked_at = round(self.elapsed(), 3)
            break
        if rec.acked_at is not None and kind == "signals" and not sabotage:
            self.client_tasks.append(self.spawn(self.signaller(n, wid)))
        return rec

    async def signaller(self, n: int, wid: str) -> None:
        rng = random.Random(n)
        for key in workload.SIGNAL_KEYS:
            await asyncio.sleep(rng.uniform(0.2, 1.5))
            failed = False
            deadline = time.monotonic() + 120
            i = n
            while True:
                client = self.clients[i % len(self.clients)]
                i += 1
                try:
                    await client.get_workflow_handle(wid).signal(
                        workload.Signals.add, args=[key, workload.signal_value(n, key)],
                        rpc_timeout=timedelta(seconds=5),
                    )
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - it may have been applied: sent again, noted
                    failed = True
                    if time.monotonic() > deadline:
                        self.undelivered_signals.setdefault(wid, set()).add(key)
                        break
                    await asyncio.sleep(0.5)
            if failed:
                self.ambiguous_signals.setdefault(wid, set()).add(key)

    # -- faults ----------------------------------------------------------------------------------

    async def shard_poller(self) -> None:
        while True:
            try:
                self.owners = await asyncio.to_thread(self.system.shard_owners)
            except Exception:  # noqa: BLE001 - PostgreSQL may be down: keep the last reading
                pass
            await asyncio.sleep(1.0)

    async def injector(self) -> None:
        running = []
        for f in self.schedule:
            if f.at > self.elapsed():
                await asyncio.sleep(f.at - self.elapsed())
            running.append(self.spawn(self.inject(f)))
        await asyncio.gather(*running)

    async def restart(self, name: str) -> float:
        """Restarts a killed server; a start that fails is tried again (5 times in all)."""
        for attempt in range(5):
            try:
                return await asyncio.to_thread(self.system.restart, name)
            except (Exception, pytest.fail.Exception) as e:  # noqa: BLE001
                self.say(f"restart of {name} failed (attempt {attempt + 1}): {short(e)}")
                self.harness_errors.append(f"restart of {name}, attempt {attempt + 1}: {short(e)}")
                await asyncio.sleep(2.0)
        raise RuntimeError(f"{name} could not be restarted")

    async def inject(self, f: faults.Fault) -> None:
        while f.target in self.busy:
            await asyncio.sleep(0.1)
        self.busy.add(f.target)
        rec: dict = {**f.as_dict(), "began": round(self.elapsed(), 3), "late": round(self.elapsed() - f.at, 3)}
        victim = ""
        if f.target != faults.POSTGRES and self.system.store == "cluster":
            victim = self.system.server(f.target).member_id
            # Read now: a replica may have handed shards over a moment ago (a poll a second old
            # would count them and measure their next move as this fault's takeover).
            try:
                owners = await asyncio.wait_for(asyncio.to_thread(self.system.shard_owners), 2.0)
            except Exception:  # noqa: BLE001 - PostgreSQL is down: the last poll it is
                owners, rec["shards_from_poll"] = self.owners, True
            rec["shards"] = sorted(s for s, o in owners.items() if o == victim)
        self.say(f"fault {f.describe().split(': ', 1)[1]}" + (f" (its shards {rec['shards']})" if victim else ""))
        try:
            if f.kind == "kill":
                rec["time"] = await asyncio.to_thread(self.system.kill, f.target)
                await asyncio.sleep(f.hold)
                rec["restart_s"] = round(await self.restart(f.target), 3)
            elif f.kind == "stop":
                rec["time"] = await asyncio.to_thread(self.system.pause, f.target)
                await asyncio.sleep(f.hold)
                await asyncio.to_thread(self.system.resume, f.target)
            elif f.kind == "cut":
                rec["time"] = await asyncio.to_thread(self.system.cut, f.target)
                await asyncio.sleep(f.hold)
                await asyncio.to_thread(self.system.restore, f.target)
            elif f.kind == "pg-restart":
                rec["time"] = await asyncio.to_thread(self.system.pg_stop, f.mode)
                await asyncio.sleep(f.hold)
                await asyncio.to_thread(self.system.pg_start)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - recorded; the heal step undoes what is left
            rec["error"] = short(e)
            self.harness_errors.append(f"fault #{f.index} ({f.kind} {f.target}): {short(e)}")
            self.say(f"fault #{f.index} failed: {short(e)}")
        finally:
            rec["ended"] = round(self.elapsed(), 3)
            self.fault_log.append(rec)
            self.busy.discard(f.target)

    async def watchdog(self) -> None:
        """Notices a server that exited without a fault (a crash) and starts it again."""
        while True:
            await asyncio.sleep(1.0)
            for s in self.system.servers:
                if s.name not in self.busy and not s.alive():
                    code = s.proc.returncode if s.proc else None
                    self.self_exits.append(f"{s.name} exited on its own (code {code}) at {self.elapsed():.1f}s")
                    self.say(f"{s.name} EXITED ON ITS OWN (code {code}); starting it again")
                    self.busy.add(s.name)
                    try:
                        await self.restart(s.name)
                    finally:
                        self.busy.discard(s.name)

    async def progress(self) -> None:
        while True:
            await asyncio.sleep(15)
            acked = sum(1 for r in self.starts.values() if r.acked_at is not None)
            try:
                running = await self.through_any(
                    lambda c: c.count_workflows('ExecutionStatus="Running"', rpc_timeout=timedelta(seconds=3)),
                    timeout=5, what="count",
                )
                running = running.count
            except Exception:  # noqa: BLE001 - only a progress line
                running = "?"
            fc = faults.counts([f for f in self.schedule if f.at <= self.elapsed()])
            self.say(
                f"progress: {len(self.starts)} started ({acked} acknowledged), {running} running; "
                f"faults so far {fc}; worker restarts {self.worker_restarts}"
            )

    # -- the run ---------------------------------------------------------------------------------

    async def drain(self) -> int:
        """Waits until every start is settled and nothing runs; returns what still runs."""
        deadline = time.monotonic() + self.a.drain_timeout
        while True:
            unsettled = [t for t in self.client_tasks if not t.done()]
            try:
                running = (await self.through_any(
                    lambda c: c.count_workflows('ExecutionStatus="Running"', rpc_timeout=timedelta(seconds=5)),
                    what="count",
                )).count
            except RuntimeError as e:
                self.say(f"drain: {e}")
                running = -1
            if not unsettled and running == 0:
                return 0
            if time.monotonic() > deadline:
                self.say(f"drain timeout: {running} workflows still running, {len(unsettled)} starts/signals unsettled")
                return running
            await asyncio.sleep(2.0)

    async def inject_violations(self) -> None:
        """The self-test: one workflow left RUNNING, one completed workflow run twice."""
        from temporalio.common import WorkflowIDReusePolicy

        n = max(r.n for r in self.starts.values()) + 1
        while workload.kind_of(n) != "signals":
            n += 1
        rec = await self.start_one(n, sabotage=True)  # its signals are never sent
        self.injected[rec.workflow_id] = "lost"
        done = next(
            r for r in self.starts.values() if r.kind == "saga" and r.acked_at is not None
        )
        await self.through_any(
            lambda c: c.start_workflow(
                workload.Saga.run, done.n, id=done.workflow_id, task_queue=TASK_QUEUE,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            ),
            what="second run",
        )
        self.injected[done.workflow_id] = "duplicated"
        self.say(f"self-test: left {rec.workflow_id} waiting for signals, started {done.workflow_id} again")
        await asyncio.sleep(10)  # the second run completes

    async def chain(self, wid: str) -> list[verify.Run]:
        from temporalio.service import RPCError, RPCStatusCode

        async def read(client) -> list[verify.Run]:
            try:
                desc = await client.get_workflow_handle(wid).describe(rpc_timeout=timedelta(seconds=10))
            except RPCError as e:
                if e.status == RPCStatusCode.NOT_FOUND:
                    return []
                raise
            runs = []
            rid = desc.run_id
            while rid and len(runs) < 20:
                h = await client.get_workflow_handle(wid, run_id=rid).fetch_history(rpc_timeout=timedelta(seconds=10))
                events = list(h.events)
                runs.append(verify.Run(rid, events))
                rid = events[0].workflow_execution_started_event_attributes.continued_execution_run_id if events else ""
            return list(reversed(runs))

        return await self.through_any(read, first=hash(wid), what=f"history of {wid}")

    async def observe(self) -> tuple[verify.Observed, list[workload.Expectation]]:
        async def listing(client):
            return [(w.id, w.run_id, w.status.name) async for w in client.list_workflows(page_size=1000)]

        listed = await self.through_any(listing, what="listing")
        try:
            store_runs = await asyncio.to_thread(self.system.store_runs)
        except Exception as e:  # noqa: BLE001 - the verdict then rests on the two API views
            self.harness_errors.append(f"could not read the store's runs: {short(e)}")
            store_runs = None
        expectations = [e for r in self.starts.values() for e in workload.expectation(r.n)]
        ids = {e.workflow_id for e in expectations} | {w for w, _, _ in listed} | set(store_runs or {})
        sem = asyncio.Semaphore(16)

        async def one(wid):
            async with sem:
                return wid, await self.chain(wid)

        chains = dict(await asyncio.gather(*(one(w) for w in sorted(ids))))
        return verify.Observed(listed, chains, store_runs), expectations

    def takeovers(self) -> list[dict]:
        """Per replica fault (kill, stop, cut) whose victim held shards: when each of them was
        acquired again, from the replicas' `acquired shard` log records.

        * A takeover: every shard the victim held was acquired by a survivor (or, after a kill,
          by the restarted replica) before the victim was back; `takeover_s` is the fault's time
          to the last of those acquisitions.
        * Kept: a stopped or cut-off replica came back (within a second's grace) before some of
          its shards were taken over; it still holds their leases and serves them again.

        Each entry names the other faults active meanwhile (a survivor killed, stopped or cut
        off, or PostgreSQL down, delays a takeover), so that isolated ones can be read apart."""
        acq = self.system.acquisitions()
        active = [
            (p["index"], p["kind"], p["target"], p["time"], p["time"] + p["hold"] + p.get("restart_s", 0.0))
            for p in self.fault_log
            if "time" in p
        ]
        out = []
        for rec in self.fault_log:
            if rec["kind"] not in ("kill", "stop", "cut") or not rec.get("shards") or "time" not in rec:
                continue
            t = rec["time"]
            back = t + rec["hold"] + 1.0 if rec["kind"] in ("stop", "cut") else t + rec["hold"] + 60
            first: dict[int, dict] = {}
            for a in acq:
                if t <= a["time"] <= back and a["shard"] in rec["shards"] and a["shard"] not in first:
                    first[a["shard"]] = a
            entry = {"fault": rec["index"], "kind": rec["kind"], "target": rec["target"], "shards": len(rec["shards"])}
            if len(first) == len(rec["shards"]):
                end = max(a["time"] for a in first.values())
                entry.update(
                    takeover_s=round(end - t, 3),
                    by=sorted({a["replica"] for a in first.values()}),
                    per_shard_s={s: round(a["time"] - t, 3) for s, a in sorted(first.items())},
                )
            else:
                end = t + rec["hold"]
                entry.update(takeover_s=None, kept=sorted(set(rec["shards"]) - set(first)))
            entry["meanwhile"] = [
                f"#{i} {kind} {target}" for i, kind, target, start, stop in active
                if i != rec["index"] and start < end and stop > t
            ]
            out.append(entry)
        return out


def log_findings(system: System) -> dict[str, list[str]]:
    """What the servers' logs say that no client sees: repairs by the outbox check (each one a
    task the server had lost and its safety net found: a bug), panics, and ERROR lines.

    A repair line followed at once by that replica's write to the run's shard being refused
    (its lease was stale: it had been paused or cut off while another replica took the shard)
    re-created nothing: it is listed apart, as a false alarm of the check."""
    found: dict[str, list[str]] = {"repairs": [], "refused_repairs": [], "panics": [], "errors": []}
    for s in system.servers:
        for line in s.log_lines():
            if "outbox check: the run waited for tasks" in line:
                kind = "refused_repairs" if system.repair_refused(s.name, line) else "repairs"
                found[kind].append(f"{s.name}: {line}")
            elif "panicked" in line:
                found["panics"].append(f"{s.name}: {line}")
            elif '"level":"ERROR"' in line or " ERROR " in line:
                found["errors"].append(f"{s.name}: {line}")
    return found


def dump_bad(soak: Soak, report: verify.Report, seen: verify.Observed, directory: Path) -> list[str]:
    """Histories (JSON), task rows and describe-level facts of every bad workflow."""
    from google.protobuf.json_format import MessageToDict

    directory.mkdir(parents=True, exist_ok=True)
    bad = sorted({v.workflow_id for v in report.violations})
    for wid in bad:
        runs = seen.chains.get(wid) or []
        doc = {
            "workflow_id": wid,
            "violations": [v.__dict__ for v in report.violations if v.workflow_id == wid],
            "start": soak.starts[wid].__dict__ if wid in soak.starts else None,
            "visibility": [r for r in seen.listing if r[0] == wid],
            "store_runs": sorted((seen.store_runs or {}).get(wid, [])),
            "runs": [{"run_id": r.run_id, "events": [MessageToDict(e) for e in r.events]} for r in runs],
        }
        (directory / f"{wid}.json").write_text(json.dumps(doc, indent=1, default=str))
    written = [f"{directory}/<workflow id>.json for {len(bad)} workflows"]
    try:
        rows = soak.system.task_rows(bad) if bad else []
        (directory / "task_rows.txt").write_text("\n".join(" | ".join(map(str, r)) for r in rows) + "\n")
        written.append(str(directory / "task_rows.txt"))
    except Exception as e:  # noqa: BLE001
        written.append(f"task rows unavailable: {e!r}")
    return written


def summarize(soak: Soak, report: verify.Report, takeovers: list[dict], still_running: int, logs: dict) -> dict:
    a = soak.a
    kinds = faults.counts([f for f in soak.schedule])
    done = [r for r in soak.fault_log if "error" not in r]
    moved = [t for t in takeovers if t.get("takeover_s") is not None]
    worst = max(moved, key=lambda t: t["takeover_s"]) if moved else None
    calm = [t for t in moved if not t["meanwhile"]]
    worst_calm = max(calm, key=lambda t: t["takeover_s"]) if calm else None
    by_kind = {}
    for t in moved:
        by_kind[t["kind"]] = max(by_kind.get(t["kind"], 0.0), t["takeover_s"])
    restarts = [r["restart_s"] for r in soak.fault_log if "restart_s" in r]
    acked = sum(1 for r in soak.starts.values() if r.acked_at is not None)
    return {
        "store": a.store,
        "seed": a.seed,
        "duration_s": a.duration,
        "fault_every_s": a.fault_every,
        "rate": a.rate,
        "replicas": a.replicas,
        "workers": a.workers_per_server * len(soak.system.servers),
        "started": len(soak.starts),
        "acknowledged": acked,
        "never_acknowledged_absent": len(report.not_started),
        "expected": report.expected,
        "completed": report.completed,
        "runs": report.runs,
        "still_running_at_drain_end": still_running,
        "faults": len(soak.fault_log),
        "faults_by_kind": kinds,
        "faults_failed": len(soak.fault_log) - len(done),
        "faults_late": sum(1 for r in soak.fault_log if r["late"] > 0.5),
        "lost": len(report.workflows("lost")),
        "duplicated": len(report.workflows("duplicated")),
        "wrong_result": len(report.workflows("wrong result")),
        "invalid_history": len(report.workflows("invalid history")),
        "unexpected": len(report.workflows("unexpected")),
        "worst_takeover_s": worst["takeover_s"] if worst else None,
        "worst_takeover_fault": worst,
        "worst_takeover_by_kind_s": by_kind,
        "worst_isolated_takeover_s": worst_calm["takeover_s"] if worst_calm else None,
        "isolated_takeovers": len(calm),
        "median_takeover_s": sorted(t["takeover_s"] for t in moved)[len(moved) // 2] if moved else None,
        "takeovers_measured": len(moved),
        "faults_kept": len(takeovers) - len(moved),
        "worst_restart_s": max(restarts) if restarts else None,
        "outbox_repairs": len(logs["repairs"]),
        "outbox_repairs_refused": len(logs["refused_repairs"]),
        "panics": len(logs["panics"]),
        "error_log_lines": len(logs["errors"]),
        "worker_restarts": soak.worker_restarts,
        "servers_exited_on_their_own": soak.self_exits,
        "harness_errors": soak.harness_errors,
    }


def print_summary(s: dict, report: verify.Report) -> None:
    fk = ", ".join(f"{k} {v}" for k, v in sorted(s["faults_by_kind"].items()))
    print("\n================ chaos soak ================")
    print(f"store {s['store']}, seed {s['seed']}, {s['duration_s']:.0f}s, a fault every ~{s['fault_every_s']:.0f}s, "
          f"{s['rate']} workflows/s, {s['workers']} workers")
    print(f"workflows: {s['started']} started ({s['acknowledged']} acknowledged, {s['never_acknowledged_absent']} "
          f"never acknowledged and absent); {s['expected']} had to complete (children included); "
          f"{s['completed']} completed exactly once with the expected result; {s['runs']} runs read")
    print(f"faults: {s['faults']} ({fk}); {s['faults_failed']} failed to inject, {s['faults_late']} started late")
    if s["store"] == "cluster":
        bk = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(s["worst_takeover_by_kind_s"].items()))
        w = s["worst_takeover_fault"]
        where = f" (fault #{w['fault']}, {w['kind']} {w['target']})" if w else ""
        print(f"takeover: worst {s['worst_takeover_s']}s{where}; by kind {bk}; median {s['median_takeover_s']}s; "
              f"worst with no other fault meanwhile {s['worst_isolated_takeover_s']}s (of {s['isolated_takeovers']}); "
              f"{s['takeovers_measured']} measured; {s['faults_kept']} stops/cuts ended before their shards moved")
    if s["worst_restart_s"] is not None:
        print(f"restart after SIGKILL → ready: worst {s['worst_restart_s']:.2f}s")
    print(f"lost {s['lost']}, duplicated {s['duplicated']}, wrong result {s['wrong_result']}, "
          f"invalid history {s['invalid_history']}, unexpected {s['unexpected']}")
    print(f"worker restarts {s['worker_restarts']}; servers that exited on their own: {len(s['servers_exited_on_their_own'])}; "
          f"outbox-check repairs {s['outbox_repairs']} (+{s['outbox_repairs_refused']} refused by fencing: false alarms), "
          f"panics {s['panics']}, ERROR log lines {s['error_log_lines']}")
    for h in report.harness + s["harness_errors"]:
        print(f"  soak: {h}")
    if report.violations:
        print("\nVIOLATIONS:")
        shown = set()
        for v in report.violations:
            print(f"  {v.workflow_id} [{v.category}] {v.detail}")
            if v.tail and v.workflow_id not in shown:
                shown.add(v.workflow_id)
                print(f"      history tail: {v.tail}")


async def main_async(a: argparse.Namespace, system: System, work_dir: Path, json_path: Path) -> int:
    soak = Soak(a, system, work_dir)
    soak.say(f"seed {a.seed}: {len(soak.schedule)} faults planned {faults.counts(soak.schedule)}")
    (work_dir / "schedule.json").write_text(json.dumps([f.as_dict() for f in soak.schedule], indent=1))
    await soak.connect_clients()
    for k in range(a.workers_per_server * len(system.servers)):
        soak.spawn(soak.worker_loop(k, system.servers[k % len(system.servers)]))
    background = [soak.spawn(soak.progress()), soak.spawn(soak.watchdog())]
    if system.store == "cluster":
        background.append(soak.spawn(soak.shard_poller()))
    soak.t0 = time.monotonic()
    soak.say(f"workload and faults for {a.duration:.0f}s")
    await asyncio.gather(soak.starter(), soak.injector())
    soak.say("faults over; healing whatever is left")
    names = {s.name for s in system.servers}
    soak.busy |= names  # keeps the watchdog off while healing
    for what in await asyncio.to_thread(system.heal):
        soak.say(f"heal: {what}")
    soak.busy -= names
    still_running = await soak.drain()
    for t in background:
        t.cancel()
    if a.inject_violations:
        await soak.inject_violations()
    soak.say("reading every run: visibility, each id's chain of runs, the store's runs table")
    seen, expectations = await soak.observe()
    report = verify.verify(
        expectations,
        verify.Sent(
            acked={r.workflow_id for r in soak.starts.values() if r.acked_at is not None},
            unacked={r.workflow_id for r in soak.starts.values() if r.acked_at is None},
            ambiguous_signals=soak.ambiguous_signals,
            undelivered_signals=soak.undelivered_signals,
        ),
        seen,
    )
    takeovers = soak.takeovers()
    logs = log_findings(system)
    summary = summarize(soak, report, takeovers, still_running, logs)
    print_summary(summary, report)
    for kind in ("repairs", "refused_repairs", "panics", "errors"):
        for line in logs[kind][:10]:
            print(f"  log {kind[:-1].replace('_', ' ')}: {line[:400]}")
    await soak.stop_workers()

    server_bug = bool(report.violations or soak.self_exits or logs["repairs"] or logs["panics"])
    failed = server_bug or bool(report.harness)
    verdict = VIOLATION if server_bug else BROKEN if report.harness else CLEAN
    if a.inject_violations:
        found = {v.workflow_id: v.category for v in report.violations}
        caught = all(
            any(v.workflow_id == wid and v.category == cat for v in report.violations)
            for wid, cat in soak.injected.items()
        )
        only = set(found) == set(soak.injected)
        print(f"\nself-test: injected {soak.injected}; the verification reported {sorted(found)}")
        print("self-test: " + ("PASSED: both caught, nothing else" if caught and only else "FAILED"))
        verdict = CLEAN if caught and only and not (soak.self_exits or logs["repairs"] or logs["panics"]) else VIOLATION
    evidence = []
    if failed:
        evidence = dump_bad(soak, report, seen, work_dir / "bad")
        evidence += await asyncio.to_thread(system.keep_evidence, work_dir)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(
        {
            "summary": summary,
            "violations": [v.__dict__ for v in report.violations],
            "not_started": report.not_started,
            "takeovers": takeovers,
            "faults": soak.fault_log,
            "log_findings": logs,
            "schedule": [f.as_dict() for f in soak.schedule],
            "starts_with_errors": [r.__dict__ for r in soak.starts.values() if r.errors][:200],
            "evidence": evidence,
            "work_dir": str(work_dir),
            "database": getattr(system, "db", None) and system.db.name,
        },
        indent=1,
        default=str,
    ))
    print(f"\nresults: {json_path}")
    if failed:
        print(f"evidence kept in {work_dir} (logs/, soak.log, schedule.json, bad/, ...):")
        for e in evidence:
            print(f"  {e}")
    return verdict


def main(argv: list[str]) -> int:
    a = parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if a.schedule_only:
        names = [f"replica{i + 1}" for i in range(a.replicas)] if a.store == "cluster" else ["endure"]
        plan = faults.schedule(a.seed, a.store, names, a.duration, a.fault_every, a.warmup)
        print(f"seed {a.seed}: {len(plan)} faults {faults.counts(plan)}")
        for f in plan:
            print(f.describe())
        return CLEAN
    work_dir = (a.work_dir or ROOT / "bench" / ".work" / f"chaos-{a.store}-{stamp}").resolve()
    json_path = a.json or ROOT / "bench" / "results" / f"chaos-{a.store}-{stamp}.json"
    work_dir.mkdir(parents=True, exist_ok=True)
    print(f"chaos soak: store {a.store}, seed {a.seed} (same seed, same fault schedule), work dir {work_dir}", flush=True)
    quiet_core_logs()
    # Activities fail on purpose (retries, sagas): the SDK logs each failure with its traceback.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    tag = a.net_tag or f"c{random.SystemRandom().randrange(16**5):05x}"
    if a.store == "cluster":
        subnet = f"10.213.{int(tag[-2:], 16) % 250 + 1}"
        system: System = ClusterSystem(work_dir, a.replicas, tag, subnet, a.pg_port)
    else:
        system = SqliteSystem(work_dir)
    verdict = BROKEN
    loop = asyncio.new_event_loop()
    main_task = None

    def on_term(*_):
        if main_task:
            main_task.cancel()

    try:
        print("setting up " + ("three replicas in network namespaces on PostgreSQL" if a.store == "cluster" else "the dev server on SQLite"), flush=True)
        system.setup()
        main_task = loop.create_task(main_async(a, system, work_dir, json_path))
        loop.add_signal_handler(signal.SIGTERM, on_term)
        loop.add_signal_handler(signal.SIGINT, on_term)
        verdict = loop.run_until_complete(main_task)
    except (Exception, pytest.fail.Exception, asyncio.CancelledError) as e:  # noqa: BLE001
        traceback.print_exc()
        print(f"chaos soak failed to run: {short(e)}; work dir kept: {work_dir}", flush=True)
        verdict = BROKEN
    finally:
        for t in asyncio.all_tasks(loop):
            t.cancel()
        try:
            loop.run_until_complete(asyncio.sleep(0.1))
        except BaseException:  # noqa: BLE001
            pass
        system.teardown(keep_data=verdict != CLEAN)
        loop.close()
    if verdict == CLEAN and not a.keep:
        shutil.rmtree(work_dir, ignore_errors=True)
    return verdict


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
