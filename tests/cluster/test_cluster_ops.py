"""Operating a cluster: graceful shutdown, any replica serving any workflow, the idle load on
PostgreSQL, readiness and schema checks, `endure migrate`."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from temporalio import workflow
from temporalio.service import RPCError, RPCStatusCode

from endure_cluster import (
    Cluster,
    connect,
    Replica,
    start_cluster,
    unroutable,
    workflow_ids,
    write_result,
)
from endure_testing.histories import history_problems
from endure_testing.postgres import Database, postgres_url
from endure_testing.sdk import new_worker

HANDOVER_LIMIT_S = 3.0
IDLE_WINDOW_S = 20.0
IDLE_LIMIT_PER_S = 10.0


@workflow.defn
class Collector:
    """Completes once it has received `n` signals; returns them joined."""

    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.signal
    def add(self, value: str) -> None:
        self.got.append(value)

    @workflow.query
    def seen(self) -> list[str]:
        return list(self.got)

    @workflow.run
    async def run(self, n: int) -> str:
        await workflow.wait_condition(lambda: len(self.got) >= n)
        return ",".join(self.got)


async def with_unavailable_retries(what: str, call, timeout: float = 30.0):
    """Runs `call()` (an SDK call, which already retries UNAVAILABLE for a while) again on
    UNAVAILABLE until `timeout`; returns (result, seconds it took)."""
    began = time.monotonic()
    while True:
        try:
            return await call(), time.monotonic() - began
        except RPCError as e:
            if e.status != RPCStatusCode.UNAVAILABLE or time.monotonic() - began > timeout:
                raise AssertionError(f"{what}: {e.status.name if e.status else e.status}: {e}") from e
            await asyncio.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# (a) SIGTERM hands the shards over at once


async def test_graceful_sigterm_hands_over(cluster: Cluster):
    replicas = await start_cluster(cluster, 3)
    ns_id = await asyncio.to_thread(cluster.db.namespace_id, "default")
    owners = await asyncio.to_thread(cluster.owners)
    victim = max(replicas, key=lambda r: sum(1 for o in owners.values() if o == r.member_id))
    survivors = [r for r in replicas if r is not victim]
    victim_shards = {s for s, o in owners.items() if o == victim.member_id}
    other_shards = set(owners) - victim_shards

    clients = [await connect(r) for r in replicas]
    task_queue = f"sigterm-{os.getpid()}-{int(time.time())}"
    # A worker on every replica, as behind a load balancer.
    workers = [new_worker(c, task_queue, [Collector]) for c in clients]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    prefix = f"sigterm-{int(time.time() * 1000)}"
    ids = workflow_ids(ns_id, prefix + "-v", 3, lambda s: s in victim_shards) + workflow_ids(
        ns_id, prefix + "-o", 2, lambda s: s in other_shards
    )
    try:
        for i, wf in enumerate(ids):
            h = await clients[i % 3].start_workflow(Collector.run, 2, id=wf, task_queue=task_queue)
            await h.signal(Collector.add, "before")
        for wf in ids:  # the first signal is processed everywhere
            assert await clients[0].get_workflow_handle(wf).query(Collector.seen) == ["before"]

        t_term = time.time()
        victim.signal(signal.SIGTERM)
        handover = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            leases = await asyncio.to_thread(cluster.db.leases)
            if all(leases[s][0] not in ("", victim.member_id) for s in victim_shards):
                handover = time.time() - t_term
                break
            await asyncio.sleep(0.05)
        if handover is None:
            leases = await asyncio.to_thread(cluster.db.leases)
            pytest.fail(
                f"{victim.name}'s shards {sorted(victim_shards)} were not owned by the survivors 15 s after "
                f"SIGTERM (the limit is {HANDOVER_LIMIT_S}s); the process is "
                f"{'STILL RUNNING: its graceful shutdown waits on something before it hands the shards over (SDK workers are connected to it)' if victim.alive() else f'gone (exit {victim.proc.returncode})'}; "
                f"leases: { {s: leases[s] for s in sorted(victim_shards)} }"
            )
        rc = await asyncio.to_thread(victim.wait_exit, 20)
        exited = time.time() - t_term
        print(
            f"\n[sigterm] {victim.name} owned {sorted(victim_shards)}; all owned by the survivors "
            f"{handover:.2f}s after SIGTERM; process exited after {exited:.2f}s with code {rc}"
        )
        assert rc == 0, f"{victim.name} exited with code {rc} after SIGTERM"
        assert handover < HANDOVER_LIMIT_S, (
            f"graceful handover took {handover:.2f}s (limit {HANDOVER_LIMIT_S}s)"
        )
        # The workflows keep working: a second signal through one survivor right after the
        # handover (retried while a survivor still answers UNAVAILABLE), the results through
        # the other.
        va, vb = [clients[replicas.index(r)] for r in survivors]
        took = [
            t
            for _, t in await asyncio.gather(
                *(
                    with_unavailable_retries(
                        f"signal {wf} through {survivors[0].name}",
                        lambda wf=wf: va.get_workflow_handle(wf).signal(Collector.add, "after"),
                    )
                    for wf in ids
                )
            )
        ]
        print(
            f"[sigterm] signals through {survivors[0].name} right after the handover took "
            + ", ".join(f"{t:.1f}s" for t in took)
            + " (incl. retries of UNAVAILABLE)"
        )
        # How long, after the handover, until every survivor routes every shard (a survivor
        # that read the leases before the other one acquired its part answers UNAVAILABLE
        # "moving between replicas" until it reads them again).
        while bad := await unroutable(survivors, ns_id):
            if time.time() - t_term > 30:
                break
            await asyncio.sleep(0.2)
        print(
            f"[sigterm] routing through every survivor consistent {time.time() - t_term - handover:.1f}s "
            "after the handover" + (f"; still stale: {bad}" if bad else "")
        )
        for wf in ids:
            h = vb.get_workflow_handle(wf)
            result = await asyncio.wait_for(h.result(), timeout=30)
            assert result == "before,after", f"{wf}: {result!r}"
            problems = history_problems(wf, list((await h.fetch_history()).events))
            assert not problems, "\n".join(problems)
    finally:
        await _stop(workers, tasks)


# ---------------------------------------------------------------------------------------------
# (b) start through one replica, signal through another, query through a third


@pytest.mark.parametrize("owner", ["worker-replica", "other-replica"])
async def test_any_replica_serves_any_workflow(cluster: Cluster, owner: str):
    """Start through replica 1, signal through replica 2, query and describe through replica 3,
    the result through each; the only worker polls replica 3. The workflow's shard is owned by
    replica 3 ("worker-replica") or by replica 2 ("other-replica": the worker on replica 3 gets
    its tasks only through cross-replica task matching)."""
    r1, r2, r3 = await start_cluster(cluster, 3)
    ns_id = await asyncio.to_thread(cluster.db.namespace_id, "default")
    owner_replica = r3 if owner == "worker-replica" else r2
    shards = set(await asyncio.to_thread(cluster.shards_of, owner_replica))
    [wf_id] = workflow_ids(ns_id, f"any-{owner}-{int(time.time() * 1000)}", 1, lambda s: s in shards)
    c1, c2, c3 = [await connect(r) for r in (r1, r2, r3)]
    task_queue = f"any-{os.getpid()}-{int(time.time())}"
    worker = new_worker(c3, task_queue, [Collector])
    task = asyncio.create_task(worker.run())
    try:
        h1 = await c1.start_workflow(Collector.run, 2, id=wf_id, task_queue=task_queue)
        await c2.get_workflow_handle(wf_id).signal(Collector.add, "one")
        h3 = c3.get_workflow_handle(wf_id)
        seen = await asyncio.wait_for(h3.query(Collector.seen), timeout=20)
        assert seen == ["one"], f"query through {r3.name}: {seen}"
        desc = await h3.describe()
        assert desc.status is not None and desc.status.name == "RUNNING", desc.status
        assert desc.run_id == h1.result_run_id or desc.run_id == h1.first_execution_run_id
        await c1.get_workflow_handle(wf_id).signal(Collector.add, "two")
        for name, c in (("replica1", c1), ("replica2", c2), ("replica3", c3)):
            result = await asyncio.wait_for(c.get_workflow_handle(wf_id).result(), timeout=20)
            assert result == "one,two", f"result through {name}: {result!r}"
        problems = history_problems(wf_id, list((await c2.get_workflow_handle(wf_id).fetch_history()).events))
        assert not problems, "\n".join(problems)
    finally:
        await _stop([worker], [task])


# ---------------------------------------------------------------------------------------------
# (c) idle replicas query PostgreSQL only a few times per second


def _transactions(db: Database) -> int:
    """Committed + rolled-back transactions in the database so far, read through a new
    connection with a fresh statistics snapshot."""
    rows = db.query(
        "SELECT pg_stat_clear_snapshot(); "
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
    )
    return int(rows[-1][0])


async def test_idle_query_rate(cluster: Cluster):
    await asyncio.to_thread(cluster.start, 3)
    # Let the start-up hand-overs and the first lease refreshes pass.
    await asyncio.sleep(3)
    before = await asyncio.to_thread(_transactions, cluster.db)
    t0 = time.monotonic()
    await asyncio.sleep(IDLE_WINDOW_S)
    after = await asyncio.to_thread(_transactions, cluster.db)
    window = time.monotonic() - t0
    # Our own two measuring sessions count a few transactions too; negligible, not subtracted.
    rate = (after - before) / window
    path = write_result(
        "idle.json",
        {
            "replicas": 3,
            "window_seconds": round(window, 2),
            "transactions": after - before,
            "transactions_per_second": round(rate, 2),
            "per_replica_per_second": round(rate / 3, 2),
            "settings": {"heartbeat_interval_ms": 1000, "member_ttl_ms": 5000, "shards": 16},
        },
    )
    print(
        f"\n[idle] 3 idle replicas: {after - before} transactions in {window:.1f}s = {rate:.2f}/s "
        f"({rate / 3:.2f}/s per replica); written to {path}"
    )
    assert all(r.alive() for r in cluster.replicas), "a replica exited while idle"
    assert rate < IDLE_LIMIT_PER_S, f"idle cluster runs {rate:.1f} transactions/s (limit {IDLE_LIMIT_PER_S})"


# ---------------------------------------------------------------------------------------------
# (d) readiness, and a schema newer than the binary


async def test_replica_readiness(cluster: Cluster):
    (r1,) = await asyncio.to_thread(cluster.start, 1)
    assert r1.http_status("/readyz") == 200
    assert r1.http_status("/healthz") == 200

    # A schema from a newer Endure: a replica must refuse it, with or without auto-migrate
    # (the running one is not asked again).
    cluster.db.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    for auto in ("false", "true"):
        r = cluster.add({"ENDURE_STORAGE_AUTO_MIGRATE": auto})
        r.spawn()
        rc = await asyncio.to_thread(r.wait_exit, 30)
        log = "\n".join(r.log_lines())
        assert rc != 0, f"auto_migrate={auto}: a replica started on schema version 999.\n{r.log_tail()}"
        assert "newer" in log and "999" in log, (
            f"auto_migrate={auto}: exit {rc} without a message about the newer schema.\n{r.log_tail()}"
        )
        print(f"\n[readiness] auto_migrate={auto}: exit {rc}: {_error_line(r, 'newer')}")
    assert r1.alive() and r1.http_status("/readyz") == 200


# ---------------------------------------------------------------------------------------------
# (e) endure migrate


async def test_migrate_command(cluster: Cluster):
    db = cluster.db
    m = cluster.add({"ENDURE_STORAGE_AUTO_MIGRATE": "false"})
    m.spawn(["migrate"])
    rc = await asyncio.to_thread(m.wait_exit, 60)
    out = "\n".join(m.log_lines())
    assert rc == 0, f"endure migrate failed ({rc}).\n{m.log_tail()}"
    assert "applied migrations" in out, f"first migrate did not report applied migrations.\n{m.log_tail()}"
    first = _last_line(m)
    versions = db.query("SELECT version, name FROM schema_migrations ORDER BY version")
    assert versions and versions[0][0] == "1", versions

    m2 = cluster.add({"ENDURE_STORAGE_AUTO_MIGRATE": "false"})
    m2.spawn(["migrate"])
    rc = await asyncio.to_thread(m2.wait_exit, 60)
    second = _last_line(m2)
    assert rc == 0, f"second endure migrate failed ({rc}).\n{m2.log_tail()}"
    assert "up to date" in second, f"second migrate: {second!r}"
    print(f"\n[migrate] first run: {first!r}; second run: {second!r}; schema_migrations: {versions}")

    # The migrated database serves without auto-migrate.
    r = cluster.add({"ENDURE_STORAGE_AUTO_MIGRATE": "false"})
    r.spawn()
    await asyncio.to_thread(r.wait_ready)

    # An unmigrated database: `endure server start` without auto-migrate refuses, naming the
    # command to run.
    fresh = Database(postgres_url())
    fresh.create()
    try:
        other = Cluster(fresh, cluster.log_dir / "unmigrated")
        try:
            s = other.add({"ENDURE_STORAGE_AUTO_MIGRATE": "false"})
            s.spawn()
            rc = await asyncio.to_thread(s.wait_exit, 30)
            log = "\n".join(s.log_lines())
            assert rc != 0, f"server started on an unmigrated database.\n{s.log_tail()}"
            assert "endure migrate" in log, f"exit {rc} without telling to run `endure migrate`.\n{s.log_tail()}"
            print(f"[migrate] unmigrated database: exit {rc}: {_error_line(s, 'endure migrate')}")
        finally:
            other.kill_all()
    finally:
        fresh.drop()


# ---------------------------------------------------------------------------------------------


def _last_line(r: Replica) -> str:
    lines = [l for l in r.log_lines() if l.strip() and not l.startswith("=====") and not l.startswith("{")]
    return lines[-1] if lines else ""


def _error_line(r: Replica, keyword: str) -> str:
    """The log line that mentions `keyword` (the error the process exited with)."""
    lines = [l.strip() for l in r.log_lines() if keyword in l]
    return lines[-1][:300] if lines else _last_line(r)[:300]


async def _stop(workers, tasks) -> None:
    for w, t in zip(workers, tasks):
        if t.done():
            continue
        try:
            await asyncio.wait_for(w.shutdown(), timeout=10)
        except BaseException:  # noqa: BLE001 - e.g. its replica is gone
            t.cancel()
