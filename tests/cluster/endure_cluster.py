"""Helpers for the cluster suite: a throwaway PostgreSQL database, replicas of
`endure server start` sharing it, their JSON logs, the shard lease table and
the shard hash.

Fixtures live in conftest.py; this module holds plain classes and functions so
test modules can import them (``from endure_cluster import ...``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlparse, urlunparse

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = Path(__file__).resolve().parent / "results"

SHARDS = 16
READY_TIMEOUT_S = 45.0
SETTLE_TIMEOUT_S = 30.0


# ---------------------------------------------------------------------------
# Environment checks (the suite fails, never skips, when they are not met)


def postgres_url() -> str:
    url = os.environ.get("ENDURE_TEST_POSTGRES_URL", "").strip()
    if not url:
        pytest.fail(
            "ENDURE_TEST_POSTGRES_URL is not set. The cluster suite needs a PostgreSQL "
            'server: run `eval "$(bash scripts/postgres.sh start)"` first.',
            pytrace=False,
        )
    return url


def endure_bin() -> Path:
    env = os.environ.get("ENDURE_BIN")
    binary = Path(env) if env else REPO_ROOT / "target" / "debug" / "endure"
    if not binary.exists():
        pytest.fail(
            f"Endure binary not found at {binary}: build it with `cargo build -p endure` "
            "(or set ENDURE_BIN).",
            pytrace=False,
        )
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# The shard hash (a copy of crates/endure-server/src/cluster.rs)

_MASK = (1 << 64) - 1
_FNV_PRIME = 0x0100_0000_01B3


def fnv1a(parts: Iterable[str]) -> int:
    h = 0xCBF2_9CE4_8422_2325
    for i, p in enumerate(parts):
        if i > 0:
            h ^= 0xFF
            h = (h * _FNV_PRIME) & _MASK
        for b in p.encode():
            h ^= b
            h = (h * _FNV_PRIME) & _MASK
    return h


def stable_hash(parts: Iterable[str]) -> int:
    h = fnv1a(parts)
    h ^= h >> 33
    h = (h * 0xFF51_AFD7_ED55_8CCD) & _MASK
    h ^= h >> 33
    h = (h * 0xC4CE_B9FE_1A85_EC53) & _MASK
    return h ^ (h >> 33)


assert fnv1a(["a"]) == 0xAF63_DC4C_8601_EC8C, "hash copy drifted from cluster.rs"


def shard_of(namespace_id: str, workflow_id: str, shard_count: int = SHARDS) -> int:
    return stable_hash([namespace_id, workflow_id]) % shard_count


def queue_shard(namespace_id: str, queue: str, shard_count: int = SHARDS) -> int:
    """The shard whose owner hosts a task queue's matching (cross-replica matching: pollers
    are forwarded there)."""
    return stable_hash([namespace_id, "\x01task-queue", queue]) % shard_count


def desired_owner(member_ids: Iterable[str], shard: int) -> str | None:
    ids = list(member_ids)
    if not ids:
        return None
    return max(ids, key=lambda m: (stable_hash([m, str(shard)]), m))


# ---------------------------------------------------------------------------
# PostgreSQL through the `psql` client


class Database:
    """A fresh database on the server ENDURE_TEST_POSTGRES_URL names."""

    def __init__(self, server_url: str, name: str | None = None):
        self.server_url = server_url
        self.name = name or f"endure_cluster_{uuid.uuid4().hex[:12]}"
        u = urlparse(server_url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 5432
        self.user = u.username or "postgres"
        self.url = urlunparse(u._replace(path="/" + self.name))

    def create(self) -> None:
        _psql(self.server_url, f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        _psql(self.server_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)', check=False)

    def env(self) -> dict[str, str]:
        return {
            "ENDURE_STORAGE_BACKEND": "postgres",
            "ENDURE_STORAGE_AUTO_MIGRATE": "true",
            "ENDURE_STORAGE_POSTGRES_HOST": self.host,
            "ENDURE_STORAGE_POSTGRES_PORT": str(self.port),
            "ENDURE_STORAGE_POSTGRES_USER": self.user,
            "ENDURE_STORAGE_POSTGRES_DATABASE": self.name,
        }

    def query(self, sql: str) -> list[list[str]]:
        """Rows of `sql` as lists of text (NULL is '')."""
        return _psql(self.url, sql)

    def scalar(self, sql: str) -> str:
        rows = self.query(sql)
        return rows[0][0] if rows and rows[0] else ""

    def execute(self, sql: str) -> None:
        _psql(self.url, sql)

    # -- cluster tables ---------------------------------------------------

    def leases(self) -> dict[int, tuple[str, int]]:
        """shard -> (owner, range_id)."""
        return {
            int(s): (owner, int(r))
            for s, owner, r in self.query("SELECT shard_id, owner, range_id FROM shards ORDER BY shard_id")
        }

    def live_members(self) -> set[str]:
        return {
            r[0]
            for r in self.query("SELECT id FROM cluster_members WHERE expires_at > now()")
        }

    def namespace_id(self, name: str = "default") -> str:
        ns = self.scalar(f"SELECT id FROM namespaces WHERE name = '{name}'")
        assert ns, f"namespace {name!r} not found in {self.name}"
        return ns


_SEP = "\x1f"


def _psql(url: str, sql: str, check: bool = True) -> list[list[str]]:
    p = subprocess.run(
        ["psql", url, "-X", "-q", "-t", "-A", "-F", _SEP, "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if check and p.returncode != 0:
        raise RuntimeError(f"psql failed ({p.returncode}) on {sql!r}: {p.stderr.strip()}")
    return [line.split(_SEP) for line in p.stdout.splitlines() if line != ""]


# ---------------------------------------------------------------------------
# Replicas


def parse_time(ts: str) -> float:
    """A tracing timestamp (RFC 3339, maybe with nanoseconds) as Unix seconds."""
    ts = ts.strip()
    if ts.endswith("Z"):
        ts = ts[:-1] + "+00:00"
    # fromisoformat takes at most 6 fractional digits.
    if "." in ts:
        head, rest = ts.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits += rest[0]
            rest = rest[1:]
        ts = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    return datetime.fromisoformat(ts).timestamp()


@dataclass
class Replica:
    """One `endure server start` process of a cluster."""

    index: int
    db: Database
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    internal_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    _log_file: Any = None
    started_at: float = 0.0

    @property
    def name(self) -> str:
        return f"replica{self.index}"

    @property
    def address(self) -> str:
        """The gRPC (Temporal API) address clients connect to."""
        return f"127.0.0.1:{self.port}"

    @property
    def member_id(self) -> str:
        """The member id: the advertise address (the internal endpoint)."""
        return f"127.0.0.1:{self.internal_port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def env(self) -> dict[str, str]:
        # Inherited ENDURE_* settings would change what is tested: drop them.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ENDURE_") or k.startswith("ENDURE_TEST_")
        }
        env.update(self.db.env())
        env.update(
            {
                # Errors without anyhow's backtrace (panics keep theirs).
                "RUST_LIB_BACKTRACE": "0",
                "ENDURE_SERVER_LISTEN": self.address,
                "ENDURE_SERVER_INTERNAL_LISTEN": self.member_id,
                "ENDURE_SERVER_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
                "ENDURE_SERVER_ADVERTISE_ADDRESS": self.member_id,
                "ENDURE_LOG_FORMAT": "json",
                "ENDURE_LOG_LEVEL": "info",
                "ENDURE_CLUSTER_SHARDS": str(SHARDS),
            }
        )
        env.update(self.extra_env)
        return env

    def spawn(self, args: list[str] | None = None) -> None:
        """Start the process (does not wait for readiness)."""
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} already running"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(
            f"===== {self.name} starting at {time.strftime('%X')} "
            f"(grpc {self.address}, member {self.member_id}, http {self.http_port}) =====\n".encode()
        )
        self._log_file.flush()
        self.started_at = time.time()
        self.proc = subprocess.Popen(
            [str(endure_bin()), *(args or ["server", "start"])],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env(),
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def http_status(self, path: str = "/readyz", timeout: float = 1.0) -> int | None:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_port}{path}", timeout=timeout
            ) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (OSError, urllib.error.URLError):
            return None

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                code = self.proc.returncode if self.proc else None
                pytest.fail(
                    f"{self.name} exited with code {code} during start-up.\n{self.log_tail()}",
                    pytrace=False,
                )
            if self.http_status("/readyz") == 200:
                return
            time.sleep(0.1)
        pytest.fail(
            f"{self.name}: /readyz not 200 after {timeout:.0f}s.\n{self.log_tail()}",
            pytrace=False,
        )

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill9(self) -> float:
        """SIGKILL the process group; returns the time of the kill (Unix seconds)."""
        assert self.proc is not None
        t = time.time()
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._close_log()
        return t

    def terminate(self, timeout: float = 20.0) -> float:
        """SIGTERM (graceful shutdown: shards handed over); returns the signal time."""
        assert self.proc is not None
        t = time.time()
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            pytest.fail(f"{self.name} did not exit within {timeout}s of SIGTERM.\n{self.log_tail()}")
        self._close_log()
        return t

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.force_kill()
            pytest.fail(f"{self.name} still running after {timeout}s.\n{self.log_tail()}", pytrace=False)
        self._close_log()
        return rc

    def force_kill(self) -> None:
        """Teardown: SIGKILL the whole process group (SIGCONT first, in case it was stopped)."""
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- logs ---------------------------------------------------------------

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def log_records(self) -> list[dict]:
        """The JSON log records (lines that are not JSON are returned as {'raw': line})."""
        out = []
        for line in self.log_lines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                    continue
                except json.JSONDecodeError:
                    pass
            out.append({"raw": line})
        return out

    def records(self, message_prefix: str, since: float = 0.0) -> list[dict]:
        """Records whose message starts with `message_prefix`, logged at or after `since`."""
        found = []
        for r in self.log_records():
            msg = r.get("message") or r.get("fields", {}).get("message", "")
            if not isinstance(msg, str) or not msg.startswith(message_prefix):
                continue
            if since and "timestamp" in r and parse_time(r["timestamp"]) < since:
                continue
            found.append(r)
        return found

    def log_tail(self, n: int = 40) -> str:
        lines = self.log_lines()
        body = "\n".join(lines[-n:]) if lines else "<empty log>"
        return f"--- {self.name} ({self.log_path}), last {min(n, len(lines))} lines ---\n{body}"


class Cluster:
    """Replicas of one database. Teardown (conftest) SIGKILLs them all."""

    def __init__(self, db: Database, log_dir: Path):
        self.db = db
        self.log_dir = log_dir
        self.replicas: list[Replica] = []

    def add(self, extra_env: dict[str, str] | None = None) -> Replica:
        r = Replica(index=len(self.replicas) + 1, db=self.db, log_dir=self.log_dir, extra_env=extra_env or {})
        self.replicas.append(r)
        return r

    def start(self, n: int, extra_env: dict[str, str] | None = None, settle: bool = True) -> list[Replica]:
        """Start `n` replicas together, wait for /readyz 200 on each and (by default) for the
        shard assignment to settle."""
        new = [self.add(extra_env) for _ in range(n)]
        for r in new:
            r.spawn()
        for r in new:
            r.wait_ready()
        if settle:
            self.wait_settled()
        return new

    def running(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive()]

    def by_member(self, member_id: str) -> Replica | None:
        return next((r for r in self.replicas if r.member_id == member_id), None)

    def owners(self) -> dict[int, str]:
        return {s: o for s, (o, _) in self.db.leases().items()}

    def shards_of(self, replica: Replica) -> list[int]:
        return sorted(s for s, o in self.owners().items() if o == replica.member_id)

    def wait_settled(
        self, members: list[Replica] | None = None, timeout: float = SETTLE_TIMEOUT_S
    ) -> dict[int, str]:
        """Waits until every shard is owned by a live member, each of `members` (default: the
        running replicas) is live and owns a shard, and the assignment is the rendezvous one
        (or, if it never matches our copy of the hash, has been stable for 3 s)."""
        members = members if members is not None else self.running()
        want = {r.member_id for r in members}
        deadline = time.monotonic() + timeout
        last: dict[int, str] | None = None
        stable_since = time.monotonic()
        problem = "never checked"
        while time.monotonic() < deadline:
            owners = self.owners()
            live = self.db.live_members()
            if owners != last:
                last, stable_since = owners, time.monotonic()
            problem = _assignment_problem(owners, live, want)
            if problem is None:
                desired = {s: desired_owner(sorted(live), s) for s in owners}
                if desired == owners or time.monotonic() - stable_since >= 3.0:
                    return owners
                problem = f"assignment {owners} is not yet the rendezvous one {desired}"
            time.sleep(0.1)
        pytest.fail(
            f"shard assignment did not settle within {timeout:.0f}s: {problem}\n{self.diagnostics()}",
            pytrace=False,
        )

    def diagnostics(self, tail: int = 40) -> str:
        parts = []
        try:
            parts.append(f"shards: {self.db.leases()}")
            parts.append(
                "members: "
                + str(self.db.query("SELECT id, expires_at > now(), expires_at FROM cluster_members ORDER BY id"))
            )
        except Exception as e:  # noqa: BLE001 - diagnostics must not raise
            parts.append(f"(could not read the cluster tables: {e})")
        for r in self.replicas:
            state = "running" if r.alive() else f"exited ({r.proc.returncode if r.proc else 'never started'})"
            parts.append(f"{r.name} grpc={r.address} member={r.member_id}: {state}")
            parts.append(r.log_tail(tail))
        return "\n".join(parts)

    def kill_all(self) -> None:
        for r in self.replicas:
            r.force_kill()


def _assignment_problem(owners: dict[int, str], live: set[str], want: set[str]) -> str | None:
    if len(owners) != SHARDS:
        return f"{len(owners)} shard rows, expected {SHARDS}"
    missing = want - live
    if missing:
        return f"members {sorted(missing)} are not live (live: {sorted(live)})"
    orphans = {s: o for s, o in owners.items() if o not in live}
    if orphans:
        return f"shards not owned by a live member: {orphans}"
    idle = [m for m in want if m not in owners.values()]
    if idle:
        return f"members owning no shard: {idle}"
    return None


def wait_until(pred: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(interval)


def write_result(name: str, data: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


# ---------------------------------------------------------------------------
# History checks


def history_problems(workflow_id: str, events: list, expect_completed: bool = True) -> list[str]:
    """What is wrong with one run's history (empty: nothing). Checks contiguous event ids, one
    start and one completion, no activity scheduled twice under one activity id, every activity
    event referring to an existing scheduled event, and exactly one TimerStarted and one
    TimerFired per timer id."""
    from temporalio.api.enums.v1 import EventType as ET

    problems: list[str] = []
    ids = [e.event_id for e in events]
    if ids != list(range(1, len(ids) + 1)):
        problems.append(f"event ids not contiguous from 1: {ids}")
    types = [e.event_type for e in events]
    n_started = types.count(ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    n_completed = types.count(ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
    if n_started != 1:
        problems.append(f"{n_started} WorkflowExecutionStarted events")
    if expect_completed:
        if n_completed != 1:
            problems.append(f"{n_completed} WorkflowExecutionCompleted events")
        elif types[-1] != ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            problems.append(f"last event is {ET.Name(types[-1])}, not WorkflowExecutionCompleted")
    scheduled: dict[int, str] = {}  # scheduled event id -> activity id
    activity_ids: dict[str, int] = {}
    started_for: dict[int, int] = {}
    closed_for: dict[int, int] = {}
    timers_started: dict[str, int] = {}
    timer_started_ids: dict[int, str] = {}
    timers_fired: dict[str, int] = {}
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
                problems.append(f"ActivityTaskStarted {e.event_id} refers to unknown scheduled event {sid}")
            started_for[sid] = started_for.get(sid, 0) + 1
        elif t in (
            ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            ET.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
            ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
        ):
            attrs = {
                ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
                ET.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
                ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
                ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
            }[t]
            sid = getattr(e, attrs).scheduled_event_id
            if sid not in scheduled:
                problems.append(f"{ET.Name(t)} {e.event_id} refers to unknown scheduled event {sid}")
            closed_for[sid] = closed_for.get(sid, 0) + 1
        elif t == ET.EVENT_TYPE_TIMER_STARTED:
            tid = e.timer_started_event_attributes.timer_id
            timers_started[tid] = timers_started.get(tid, 0) + 1
            timer_started_ids[e.event_id] = tid
        elif t == ET.EVENT_TYPE_TIMER_FIRED:
            a = e.timer_fired_event_attributes
            timers_fired[a.timer_id] = timers_fired.get(a.timer_id, 0) + 1
            if timer_started_ids.get(a.started_event_id) != a.timer_id:
                problems.append(
                    f"TimerFired {e.event_id} (timer {a.timer_id!r}) refers to started event {a.started_event_id}, "
                    "which is not that timer's TimerStarted"
                )
    for sid, n in started_for.items():
        if n > 1:
            problems.append(f"activity scheduled at {sid} has {n} ActivityTaskStarted events")
    for sid, n in closed_for.items():
        if n > 1:
            problems.append(f"activity scheduled at {sid} closed {n} times")
    for tid, n in timers_started.items():
        if n != 1:
            problems.append(f"timer {tid!r} started {n} times")
    for tid in set(timers_started) | set(timers_fired):
        fired = timers_fired.get(tid, 0)
        if expect_completed and fired != 1:
            problems.append(f"timer {tid!r} fired {fired} times")
        elif fired > 1:
            problems.append(f"timer {tid!r} fired {fired} times")
    return [f"{workflow_id}: {p}" for p in problems]


def new_worker(client, task_queue: str, workflows=(), activities=(), **kw):
    """A Worker with the unsandboxed runner (fast; the tests need no sandbox)."""
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows),
        activities=list(activities),
        workflow_runner=UnsandboxedWorkflowRunner(),
        **kw,
    )


# ---------------------------------------------------------------------------
# Routing: does every replica know where every shard is?


def probe_ids(namespace_id: str, shard_count: int = SHARDS) -> dict[int, str]:
    """One workflow id per shard (ids that hash to it), for routing probes."""
    ids: dict[int, str] = {}
    k = 0
    while len(ids) < shard_count:
        wf = f"route-probe-{k}"
        ids.setdefault(shard_of(namespace_id, wf, shard_count), wf)
        k += 1
    return ids


async def unroutable(replicas: list[Replica], namespace_id: str) -> dict[str, list[int]]:
    """Per replica, the shards for which a workflow RPC is not served (answered UNAVAILABLE,
    "moving between replicas") right now: DescribeWorkflowExecution of a workflow that does
    not exist must answer NOT_FOUND through every replica, for every shard."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
    from temporalio.client import Client
    from temporalio.service import RPCError, RPCStatusCode

    ids = probe_ids(namespace_id)
    out: dict[str, list[int]] = {}
    for r in replicas:
        client = await Client.connect(r.address)
        bad = []
        for shard, wf in sorted(ids.items()):
            try:
                await client.workflow_service.describe_workflow_execution(
                    DescribeWorkflowExecutionRequest(
                        namespace="default", execution=WorkflowExecution(workflow_id=wf)
                    ),
                    retry=False,
                    timeout=timedelta(seconds=3),
                )
            except RPCError as e:
                if e.status != RPCStatusCode.NOT_FOUND:
                    bad.append(shard)
        if bad:
            out[r.name] = bad
    return out


async def wait_routable(cluster: "Cluster", replicas: list[Replica] | None = None, timeout: float = 20.0) -> float:
    """Waits until every replica routes a workflow RPC of every shard (see `unroutable`);
    returns how long that took."""
    import asyncio

    replicas = replicas if replicas is not None else cluster.running()
    ns = await asyncio.to_thread(cluster.db.namespace_id, "default")
    began = time.monotonic()
    while True:
        gone = [r.name for r in replicas if not r.alive()]
        if gone:
            pytest.fail(f"{gone} exited while waiting for routing.\n{cluster.diagnostics()}", pytrace=False)
        bad = await unroutable(replicas, ns)
        if not bad:
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            pytest.fail(
                f"replicas still answer UNAVAILABLE for shards {bad} {timeout:.0f}s after the lease "
                f"table settled (stale routing).\n{cluster.diagnostics()}",
                pytrace=False,
            )
        await asyncio.sleep(0.2)


async def start_cluster(cluster: "Cluster", n: int, extra_env: dict[str, str] | None = None) -> list[Replica]:
    """Starts `n` replicas, waits for /readyz, a settled lease table, and routing that works
    through every replica for every shard. Prints how long routing lagged behind the leases."""
    import asyncio

    began = time.monotonic()
    replicas = await asyncio.to_thread(cluster.start, n, extra_env)
    settled = time.monotonic() - began
    lag = await wait_routable(cluster, replicas)
    print(
        f"\n[cluster] {n} replicas ready and leases settled in {settled:.1f}s; "
        f"routing consistent {lag:.1f}s later"
    )
    return replicas


async def connect(replica: Replica, role: str = "client"):
    """A client on `replica`'s gRPC port. Its identity (also its workers' identity, recorded in
    WorkflowTaskStarted/ActivityTaskStarted events) names the replica: "<role>@<replica>"."""
    from temporalio.client import Client

    return await Client.connect(replica.address, identity=f"{role}@{replica.name}")
