"""The chaos soak's workload: workflows whose result is known before they start.

Workflow number `n` of the soak is of kind ``KINDS[n % len(KINDS)]`` with id ``<kind>-<n>``
(children: ``<parent id>.child-<i>``); :func:`expectation` says, without running anything,
what it must end with: its result, how many runs (continue-as-new), which children. The kinds
cover what a server can lose or do twice:

* ``saga``: three steps as activities; step 2 or 3 fails for some `n` (a non-retryable
  error), and the steps done are compensated in reverse order; for others step 2 fails
  transiently first (activity retries);
* ``retry``: an activity that fails its first 1–3 attempts, a timer, another flaky activity;
* ``timers``: two timers and an activity in parallel, then a third timer;
* ``signals``: waits for three signals (sent by the starter while it runs) and an activity;
* ``children``: two child workflows (each an activity and a timer), awaited in parallel;
* ``continue``: an activity per run, continued as new until its 2nd–4th run completes.

Activities may run more than once (a worker's completion can be lost with its server), so
their results depend only on their input; the workflow's result is a pure function of `n`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

KINDS = ("saga", "retry", "timers", "signals", "children", "continue")
SIGNAL_KEYS = ("s0", "s1", "s2")
CHILDREN = 2

RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=2),
)
ACTIVITY = {"start_to_close_timeout": timedelta(seconds=10), "retry_policy": RETRY}


def workflow_id(n: int) -> str:
    return f"{KINDS[n % len(KINDS)]}-{n}"


def kind_of(n: int) -> str:
    return KINDS[n % len(KINDS)]


# --------------------------------------------------------------------------- what to expect


def saga_plan(n: int) -> tuple[str | None, bool]:
    """(the step that fails for good, or None; whether step 2 first fails transiently)."""
    return ({0: None, 1: "charge", 2: "ship", 3: None}[n % 4], n % 3 == 0)


def runs_of_continue(n: int) -> int:
    return 2 + n % 3


def signal_value(n: int, key: str) -> int:
    return n + 10 * SIGNAL_KEYS.index(key)


@dataclass
class Expectation:
    workflow_id: str
    kind: str
    n: int
    result: str
    runs: int = 1  # runs in the chain (continue-as-new)
    children: list[str] = field(default_factory=list)
    parent: str | None = None


def expectation(n: int) -> list[Expectation]:
    """What workflow `n` and its children must end with, computed independently of the
    workflow code below."""
    wid, kind = workflow_id(n), kind_of(n)
    if kind == "saga":
        fail, _ = saga_plan(n)
        steps = ["reserve", "charge", "ship"]
        if fail is None:
            return [Expectation(wid, kind, n, f"booked:reserve-{n},charge-{n},ship-{n}")]
        done = steps[: steps.index(fail)]
        undone = ",".join(f"undo-{s}-{n}" for s in reversed(done))
        return [Expectation(wid, kind, n, f"compensated:{fail}:{undone}")]
    if kind == "retry":
        return [Expectation(wid, kind, n, f"flaky-{n}-a+flaky-{n}-b")]
    if kind == "timers":
        return [Expectation(wid, kind, n, f"timers:{n * 2}")]
    if kind == "signals":
        total = sum(signal_value(n, k) for k in SIGNAL_KEYS)
        return [Expectation(wid, kind, n, f"signals:{total}:echo-{n}")]
    if kind == "children":
        kids = [f"{wid}.child-{i}" for i in range(CHILDREN)]
        child_results = [f"child-{n}-{i}:{(n + i) * 7}" for i in range(CHILDREN)]
        return [Expectation(wid, kind, n, "|".join(child_results), children=kids)] + [
            Expectation(k, "child", n, r, parent=wid) for k, r in zip(kids, child_results)
        ]
    if kind == "continue":
        runs = runs_of_continue(n)
        return [Expectation(wid, kind, n, f"continued:{sum(n + i for i in range(runs))}:{runs}", runs=runs)]
    raise ValueError(kind)


# --------------------------------------------------------------------------- activities


@activity.defn
async def saga_step(step: str, n: int, fail: bool, transient: bool) -> str:
    if fail:
        raise ApplicationError(f"{step} declined", non_retryable=True)
    if transient and activity.info().attempt < 2:
        raise ApplicationError(f"{step}: try again")
    return f"{step}-{n}"


@activity.defn
async def saga_undo(step: str, n: int) -> str:
    return f"undo-{step}-{n}"


@activity.defn
async def flaky(n: int, tag: str, failures: int) -> str:
    if activity.info().attempt <= failures:
        raise ApplicationError(f"attempt {activity.info().attempt} of {tag} fails on purpose")
    return f"flaky-{n}-{tag}"


@activity.defn
async def double(x: int) -> int:
    return 2 * x


@activity.defn
async def echo(s: str) -> str:
    return s


# --------------------------------------------------------------------------- workflows


@workflow.defn
class Saga:
    @workflow.run
    async def run(self, n: int) -> str:
        fail, transient = saga_plan(n)
        done: list[str] = []
        results: list[str] = []
        for step in ("reserve", "charge", "ship"):
            try:
                results.append(
                    await workflow.execute_activity(
                        saga_step,
                        args=[step, n, step == fail, transient and step == "charge"],
                        **ACTIVITY,
                    )
                )
                done.append(step)
            except ActivityError:
                undone = []
                for s in reversed(done):
                    undone.append(await workflow.execute_activity(saga_undo, args=[s, n], **ACTIVITY))
                return f"compensated:{step}:{','.join(undone)}"
        return "booked:" + ",".join(results)


@workflow.defn
class Retry:
    @workflow.run
    async def run(self, n: int) -> str:
        a = await workflow.execute_activity(flaky, args=[n, "a", 1 + n % 3], **ACTIVITY)
        await workflow.sleep(timedelta(seconds=1))
        b = await workflow.execute_activity(flaky, args=[n, "b", 1], **ACTIVITY)
        return f"{a}+{b}"


@workflow.defn
class Timers:
    @workflow.run
    async def run(self, n: int) -> str:
        _, _, x = await asyncio.gather(
            workflow.sleep(timedelta(seconds=1)),
            workflow.sleep(timedelta(seconds=2)),
            workflow.execute_activity(double, n, **ACTIVITY),
        )
        await workflow.sleep(timedelta(milliseconds=500))
        return f"timers:{x}"


@workflow.defn
class Signals:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    @workflow.signal
    def add(self, key: str, value: int) -> None:
        self.values[key] = value  # a signal delivered twice counts once here; the soak checks history

    @workflow.run
    async def run(self, n: int) -> str:
        e = await workflow.execute_activity(echo, f"echo-{n}", **ACTIVITY)
        await workflow.wait_condition(lambda: len(self.values) >= len(SIGNAL_KEYS))
        return f"signals:{sum(self.values.values())}:{e}"


@workflow.defn
class Child:
    @workflow.run
    async def run(self, n: int, i: int) -> str:
        x = await workflow.execute_activity(double, (n + i) * 7, **ACTIVITY)
        await workflow.sleep(timedelta(milliseconds=700))
        return f"child-{n}-{i}:{x // 2}"


@workflow.defn
class Children:
    @workflow.run
    async def run(self, n: int) -> str:
        wid = workflow.info().workflow_id
        results = await asyncio.gather(
            *(
                workflow.execute_child_workflow(Child.run, args=[n, i], id=f"{wid}.child-{i}")
                for i in range(CHILDREN)
            )
        )
        return "|".join(results)


@workflow.defn
class Continue:
    @workflow.run
    async def run(self, n: int, run: int = 0, total: int = 0) -> str:
        total += (await workflow.execute_activity(double, n + run, **ACTIVITY)) // 2
        if run + 1 < runs_of_continue(n):
            workflow.continue_as_new(args=[n, run + 1, total])
        return f"continued:{total}:{run + 1}"


WORKFLOW_OF_KIND = {
    "saga": Saga,
    "retry": Retry,
    "timers": Timers,
    "signals": Signals,
    "children": Children,
    "continue": Continue,
}
WORKFLOWS = [Saga, Retry, Timers, Signals, Child, Children, Continue]
ACTIVITIES = [saga_step, saga_undo, flaky, double, echo]
