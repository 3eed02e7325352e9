"""The two setups the soak runs against, started with the shared harness (tests/support).

* :class:`SqliteSystem`: one ``endure server start-dev`` on a SQLite file in the work
  directory (:class:`~endure_testing.servers.EndureDevServer`).
* :class:`ClusterSystem`: replicas of ``endure server start`` (:class:`~endure_testing.cluster.
  Cluster`), each in its own network namespace on a bridge (:mod:`endure_testing.netns`),
  sharing one database on a PostgreSQL server of the soak's own (``scripts/postgres.sh`` on
  its own port, listening on the bridge too, so that it can be restarted without disturbing
  anything else). A replica reaches PostgreSQL and the other replicas only through its link.

Both offer the same fault primitives (blocking; the soak runs them in threads), the addresses
clients use, the runs the store holds (read straight from its tables, independently of the
API), the shard acquisitions their logs record, and the evidence kept when the soak fails.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

from endure_testing import shards
from endure_testing.cluster import SHARDS, Cluster, Replica
from endure_testing.netns import Network
from endure_testing.postgres import Database
from endure_testing.servers import EndureDevServer, ServerProcess, free_port, parse_time

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_SH = ROOT / "scripts" / "postgres.sh"


class System:
    """What the soak needs of a setup."""

    store = ""
    servers: list[ServerProcess]

    def setup(self) -> None:
        raise NotImplementedError

    def teardown(self, keep_data: bool) -> None:
        raise NotImplementedError

    def addresses(self) -> list[str]:
        return [s.address for s in self.servers]

    def server(self, name: str) -> ServerProcess:
        return next(s for s in self.servers if s.name == name)

    # Faults: each returns the time (Unix seconds) it took effect.
    def kill(self, name: str) -> float:
        return self.server(name).kill9()

    def restart(self, name: str) -> float:
        s = self.server(name)
        began = time.time()
        s.start()
        return time.time() - began

    def pause(self, name: str) -> float:
        return self.server(name).pause()

    def resume(self, name: str) -> float:
        return self.server(name).resume()

    def heal(self) -> list[str]:
        """Undoes whatever a fault left: resumes, restarts; says what it did."""
        done = []
        for s in self.servers:
            s.resume()
            if not s.alive():
                s.start()
                done.append(f"restarted {s.name}")
        return done

    def shard_owners(self) -> dict[int, str]:
        return {}

    def acquisitions(self) -> list[dict]:
        """Every "acquired shard" log record: time, shard, replica, from."""
        return []

    def store_runs(self) -> dict[str, set[str]]:
        raise NotImplementedError

    def task_rows(self, workflow_ids: list[str]) -> list[list[str]]:
        raise NotImplementedError

    def keep_evidence(self, directory: Path) -> list[str]:
        """Saves what a post-mortem needs beyond the logs; returns what it wrote."""
        return []

    def repair_refused(self, server: str, line: str) -> bool:
        """Whether an outbox-check repair logged by `server` was refused by fencing."""
        return False


class SqliteSystem(System):
    store = "sqlite"

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.db_path = work_dir / "endure.db"
        self.servers = [
            EndureDevServer("endure", work_dir / "logs" / "endure.log", self.db_path, port=free_port())
        ]

    def setup(self) -> None:
        self.servers[0].start()

    def teardown(self, keep_data: bool) -> None:
        for s in self.servers:
            s.stop()

    def _query(self, sql: str, args=()) -> list[tuple]:
        con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def store_runs(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for wid, rid in self._query("SELECT workflow_id, run_id FROM runs"):
            out.setdefault(wid, set()).add(rid)
        return out

    def task_rows(self, workflow_ids: list[str]) -> list[list[str]]:
        marks = ",".join("?" for _ in workflow_ids)
        rows = self._query(f"SELECT * FROM tasks WHERE workflow_id IN ({marks}) ORDER BY 1", workflow_ids)
        return [[str(c) for c in r] for r in rows]

    def keep_evidence(self, directory: Path) -> list[str]:
        return [f"the database itself: {self.db_path}"]


class ClusterSystem(System):
    store = "cluster"

    def __init__(self, work_dir: Path, replicas: int, tag: str, subnet: str, pg_port: int):
        self.work_dir = work_dir
        self.n = replicas
        self.network = Network(tag, subnet)
        self.pg_port = pg_port
        server_url = f"postgres://postgres@{self.network.gateway}:{pg_port}/postgres"
        self.db = Database(server_url, name=f"endure_chaos_{tag}")
        self.cluster = Cluster(self.db, work_dir / "logs")
        self.servers: list[Replica] = []
        self.hosts: dict[str, object] = {}
        self._namespace_id: str | None = None

    # -- PostgreSQL, through scripts/postgres.sh -----------------------------------------------

    def _postgres(self, command: str, mode: str = "fast") -> None:
        env = dict(os.environ)
        env.update(
            {
                "ENDURE_TEST_POSTGRES_LISTEN": self.network.gateway,
                "ENDURE_TEST_POSTGRES_TRUST": f"{self.network.subnet}.0/24",
                "ENDURE_TEST_POSTGRES_STOP_MODE": mode,
            }
        )
        p = subprocess.run(
            ["bash", str(POSTGRES_SH), command, str(self.pg_port)],
            capture_output=True, text=True, env=env, timeout=120,
        )
        if p.returncode != 0:
            raise RuntimeError(f"postgres.sh {command} {self.pg_port} failed: {p.stderr.strip()[-2000:]}")

    def pg_stop(self, mode: str) -> float:
        t = time.time()
        self._postgres("stop", mode)
        return t

    def pg_start(self) -> float:
        self._postgres("start")
        return time.time()

    # -- life cycle ------------------------------------------------------------------------------

    def setup(self) -> None:
        self.network.create()
        hosts = [self.network.add_host() for _ in range(self.n)]
        self._postgres("start")
        self.db.drop()
        self.db.create()
        for h in hosts:
            r = self.cluster.add(port=7233, host=h.address, netns=h.netns)
            self.hosts[r.name] = h
            self.servers.append(r)
        for r in self.servers:
            r.spawn()
        for r in self.servers:
            r.wait_ready()
        self.cluster.wait_settled()

    def teardown(self, keep_data: bool) -> None:
        errors = []
        for step in (
            self.cluster.kill_all,
            self.network.destroy,
            (lambda: None) if keep_data else self.db.drop,
            lambda: self._postgres("stop" if keep_data else "destroy"),
        ):
            try:
                step()
            except Exception as e:  # noqa: BLE001 - every step runs
                errors.append(repr(e))
        if errors:
            print(f"[chaos] teardown: {errors}")

    # -- faults ----------------------------------------------------------------------------------

    def cut(self, name: str) -> float:
        t = time.time()
        self.network.cut(self.hosts[name])
        return t

    def restore(self, name: str) -> float:
        self.network.restore(self.hosts[name])
        return time.time()

    def heal(self) -> list[str]:
        done = []
        for name, h in self.hosts.items():
            if self.network.is_cut(h):
                self.network.restore(h)
                done.append(f"restored {name}'s link")
        try:
            self.db.scalar("SELECT 1")
        except RuntimeError:
            self.pg_start()
            done.append("started PostgreSQL")
        return done + super().heal()

    # -- what the store and the logs say ---------------------------------------------------------

    def shard_owners(self) -> dict[int, str]:
        return self.cluster.owners()

    def acquisitions(self) -> list[dict]:
        out = []
        for r in self.servers:
            for rec in r.records("acquired shard"):
                out.append(
                    {
                        "time": parse_time(rec["timestamp"]),
                        "shard": int(rec["shard"]),
                        "replica": r.name,
                        "from": rec.get("from", ""),
                        "range": rec.get("range"),
                    }
                )
        return sorted(out, key=lambda a: a["time"])

    def repair_refused(self, server: str, line: str, within: float = 2.0) -> bool:
        """Whether `server` had lost the repaired run's shard: a write to that shard refused
        (stale lease) or the shard seen taken over, within `within` seconds of the repair, with
        no acquisition of it in between. Its check then compared a state it could no longer
        trust with rows the new owner had already used, and its re-creation could not commit."""
        rec = json.loads(line)
        t = parse_time(rec["timestamp"])
        if self._namespace_id is None:
            self._namespace_id = self.db.namespace_id("default")
        shard = shards.shard_of(SHARDS, self._namespace_id, rec["workflow_id"])
        events = []  # (time, lost?) for this shard on this replica
        for r in self.server(server).log_records():
            msg = r.get("message", "")
            if r.get("shard") is None or int(r["shard"]) != shard:
                continue
            if msg.startswith(("write refused", "shard taken over")):
                events.append((parse_time(r["timestamp"]), True))
            elif msg.startswith("acquired shard"):
                events.append((parse_time(r["timestamp"]), False))
        before = [lost for ts, lost in sorted(events) if t - within <= ts <= t]
        after = [lost for ts, lost in sorted(events) if t < ts <= t + within]
        return bool(before and before[-1]) or bool(after and after[0])

    def member_name(self, member_id: str) -> str:
        r = self.cluster.by_member(member_id)
        return r.name if r else member_id

    def store_runs(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for wid, rid in self.db.query("SELECT workflow_id, run_id FROM runs"):
            out.setdefault(wid, set()).add(rid)
        return out

    def task_rows(self, workflow_ids: list[str]) -> list[list[str]]:
        ids = ",".join("'" + w.replace("'", "''") + "'" for w in workflow_ids)
        return self.db.query(
            "SELECT task_id, shard_id, workflow_id, run_id, fire_at, convert_from(data, 'UTF8') "
            f"FROM tasks WHERE workflow_id IN ({ids}) ORDER BY task_id"
        )

    def keep_evidence(self, directory: Path) -> list[str]:
        written = []
        tables = []
        for sql in ("SELECT * FROM shards ORDER BY shard_id", "SELECT *, expires_at > now() AS live FROM cluster_members"):
            tables.append(f"{sql}\n" + "\n".join(" | ".join(r) for r in self.db.query(sql)))
        (directory / "shards.txt").write_text("\n\n".join(tables) + "\n")
        written.append(str(directory / "shards.txt"))
        dump = directory / "database.pgdump"
        pg_dump = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))), None)
        if pg_dump:
            p = subprocess.run(
                [str(pg_dump), "-Fc", "-f", str(dump), self.db.url], capture_output=True, text=True, timeout=600
            )
            written.append(str(dump) if p.returncode == 0 else f"pg_dump failed: {p.stderr.strip()}")
        return written
