"""The soak's fault schedule: a pure function of the seed and the plan.

A fault starts every `every` seconds on average (each gap drawn uniformly from 0.6–1.4 ×
`every`), from `warmup` seconds in until `duration`. Each one picks a kind by weight among the
kinds the store has, and a target that no earlier fault still holds (a fault holds its target
from its start to its end, plus the time a restart may take); at most ``replicas - 1`` replicas
are held at once, so some replica always serves. When nothing can be picked, the fault moves
to the moment the first target is free again. Kinds and how long each holds its target:

* ``kill``: SIGKILL of the server (its process group), restarted on the same port and data
  after `hold` (cluster 0.5–8 s, sometimes before its membership lapses, sometimes after;
  SQLite 0.2–3 s);
* ``stop``: SIGSTOP, SIGCONT after `hold` (cluster 6–10 s: longer than the 5 s member ttl, so
  its shards are taken over while it sleeps; SQLite 2–8 s);
* ``cut`` (cluster): the replica's veth link down for 6–10 s, then up again;
* ``pg-restart`` (cluster): PostgreSQL stopped (``pg_ctl -m fast`` or, one time in three,
  ``immediate``: a crash) and started again `hold` = 0–4 s later.

The same seed and plan give the same schedule (printed at the start); the run follows it in
time, a fault waiting if its target is still busy (a slow restart), which the run records.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

#: (kind, weight) per store.
KINDS = {
    "sqlite": [("kill", 1.0), ("stop", 1.0)],
    "cluster": [("kill", 3.0), ("stop", 2.5), ("cut", 2.5), ("pg-restart", 2.0)],
}
#: Extra time a target stays busy after its hold (a restart, PostgreSQL's start), per store.
RESTART_ALLOWANCE = {
    "sqlite": {"kill": 1.0, "stop": 0.5},
    "cluster": {"kill": 6.0, "stop": 1.0, "cut": 1.0, "pg-restart": 6.0},
}
POSTGRES = "postgres"


@dataclass
class Fault:
    index: int
    at: float  # seconds after the soak began
    kind: str
    target: str  # a replica's name, or "postgres"
    hold: float  # seconds (see the module's docstring)
    mode: str = ""  # pg-restart: "fast" or "immediate"

    def describe(self) -> str:
        what = {
            "kill": f"SIGKILL {self.target}, restart after {self.hold:.1f}s",
            "stop": f"SIGSTOP {self.target} for {self.hold:.1f}s",
            "cut": f"cut {self.target}'s link for {self.hold:.1f}s",
            "pg-restart": f"restart PostgreSQL ({self.mode} stop, {self.hold:.1f}s down)",
        }[self.kind]
        return f"#{self.index} at {self.at:6.1f}s: {what}"

    def as_dict(self) -> dict:
        return asdict(self)


def _hold(rng: random.Random, store: str, kind: str) -> tuple[float, str]:
    if kind == "kill":
        return (rng.uniform(0.5, 8.0) if store == "cluster" else rng.uniform(0.2, 3.0)), ""
    if kind == "stop":
        return (rng.uniform(6.0, 10.0) if store == "cluster" else rng.uniform(2.0, 8.0)), ""
    if kind == "cut":
        return rng.uniform(6.0, 10.0), ""
    if kind == "pg-restart":
        return rng.uniform(0.0, 4.0), ("immediate" if rng.random() < 1 / 3 else "fast")
    raise ValueError(kind)


def schedule(seed: int, store: str, replicas: list[str], duration: float, every: float, warmup: float) -> list[Fault]:
    rng = random.Random(seed)
    kinds = KINDS[store]
    busy_until: dict[str, float] = {}
    faults: list[Fault] = []
    t = warmup
    while t < duration:
        held = [r for r in replicas if busy_until.get(r, 0.0) > t]
        free = [r for r in replicas if busy_until.get(r, 0.0) <= t]
        # At most replicas - 1 held at once (the single SQLite server may always be held).
        replica_ok = free and (len(held) < len(replicas) - 1 or len(replicas) == 1)
        options = [
            (k, w)
            for k, w in kinds
            if (k == "pg-restart" and busy_until.get(POSTGRES, 0.0) <= t) or (k != "pg-restart" and replica_ok)
        ]
        if options:
            kind = rng.choices([k for k, _ in options], weights=[w for _, w in options])[0]
            target = POSTGRES if kind == "pg-restart" else rng.choice(free)
            hold, mode = _hold(rng, store, kind)
            faults.append(Fault(len(faults) + 1, round(t, 3), kind, target, round(hold, 3), mode))
            busy_until[target] = t + hold + RESTART_ALLOWANCE[store][kind]
            t += rng.uniform(0.6, 1.4) * every
        else:
            t = min(b for b in busy_until.values() if b > t)
    return faults


def counts(faults: list[Fault]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in faults:
        out[f.kind] = out.get(f.kind, 0) + 1
    return out
