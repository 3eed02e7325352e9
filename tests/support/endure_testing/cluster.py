"""A cluster of Endure replicas (``endure server start``) sharing one PostgreSQL database: what
the cluster suite (tests/cluster) and the chaos soak (bench/chaos) start.

A :class:`Replica` is an :class:`~endure_testing.servers.EndureServer` with JSON logs at info
and `SHARDS` shards (on 127.0.0.1, or at a host's address inside its network namespace:
:mod:`endure_testing.netns`); the :class:`Cluster` starts replicas, waits for the shard
assignment to settle (the rendezvous owners are asked of the binary, ``endure debug shards``)
and gathers diagnostics: the shard table, the members and every replica's log tail.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from endure_testing import shards
from endure_testing.postgres import Database
from endure_testing.servers import EndureServer

SHARDS = 16
SETTLE_TIMEOUT_S = 30.0


class Replica(EndureServer):
    """One `endure server start` process of a cluster: JSON logs at info, `SHARDS` shards,
    `/readyz` on its own HTTP port; `extra_env` overrides any ENDURE_* setting; `where` may
    give ``port``, ``host`` and ``netns`` (see :class:`~endure_testing.servers.EndureServer`)."""

    def __init__(
        self, index: int, db: Database, log_dir: Path, extra_env: dict[str, str] | None = None, **where
    ):
        settings = {
            "ENDURE_LOG_FORMAT": "json",
            "ENDURE_LOG_LEVEL": "info",
            "ENDURE_CLUSTER_SHARDS": str(SHARDS),
            **(extra_env or {}),
        }
        super().__init__(f"replica{index}", log_dir / f"replica{index}.log", db, settings, **where)
        self.index = index


class Cluster:
    """Replicas of one database. Teardown (conftest) SIGKILLs them all."""

    def __init__(self, db: Database, log_dir: Path):
        self.db = db
        self.log_dir = log_dir
        self.replicas: list[Replica] = []

    def add(self, extra_env: dict[str, str] | None = None, **where) -> Replica:
        r = Replica(len(self.replicas) + 1, self.db, self.log_dir, extra_env, **where)
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
        (or, if it does not match it, has been stable for 3 s)."""
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
                desired = shards.owners(sorted(live), owners)
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
