"""The shipped observability (deploy/observability): a real Prometheus scrapes the server while the
official Python SDK runs a varied load, then every PromQL expression of the four Grafana
dashboards and of the alert rules is evaluated through Prometheus' HTTP API and must return data.

What runs:

* the server under test (``ENDURE_TEST_TARGET``/``ENDURE_TEST_STORE``, as the rest of the suite)
  with its metrics endpoint on (``--metrics-port`` of both dev servers, ``ENDURE_METRICS_LISTEN``
  of Endure's production server);
* Debian's ``prometheus`` (``/usr/bin/prometheus``; ``scripts/prometheus.sh`` installs it, as
  scripts/test.sh does) with a temporary configuration: the server's ``/metrics`` scraped every
  second, rules evaluated every second, ``rule_files`` = the shipped
  ``deploy/observability/prometheus/alerts.yml``;
* a load (:func:`run_load`): workflows that complete (with activities, a timer, a child, a
  signal, an activity retry), fail, time out, are cancelled, are terminated and continue as new;
  bad requests (NotFound, InvalidArgument, AlreadyStarted); workflows left on a task queue no
  worker polls (a backlog).

Then each dashboard target's ``expr`` (Grafana variables substituted: ``$namespace`` and other
query variables -> ``.*`` (the dashboards match them with ``=~``), ``$__rate_interval`` and
``$__interval`` -> a window covering the whole run) is sent to ``/api/v1/query`` and must
return at least one sample that is not NaN; each alert's expression, its trailing
``<comparison> <number>`` removed, too. A failure names the file, the panel (or alert) and the
expression. The Endure-only metrics (``endure_*``, ``outbox_repairs``) do not exist on the real
server: against it, the expressions that use them are expected to be empty (and listed).

The main panels are also drawn from ``query_range`` data into an SVG
(``scripts/observability-picture.py``), kept at ``ENDURE_OBSERVABILITY_PICTURE=path.svg`` if set;
``ENDURE_OBSERVABILITY_WAVES=N`` runs N waves of load instead of 2 (a longer picture).
docs/observability-panels.svg comes from
``ENDURE_OBSERVABILITY_PICTURE=docs/observability-panels.svg ENDURE_OBSERVABILITY_WAVES=8``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from conftest import EXTRA_NAMESPACE, make_server, new_worker, store, target, unique
from endure_testing.servers import REPO_ROOT, EndureDevServer, EndureServer, ServerProcess, free_port

OBSERVABILITY = REPO_ROOT / "deploy" / "observability"
DASHBOARDS = sorted((OBSERVABILITY / "grafana").glob("*.json"))
ALERTS = OBSERVABILITY / "prometheus" / "alerts.yml"
EXAMPLE_CONFIG = OBSERVABILITY / "prometheus" / "prometheus.yml"
PICTURE_SCRIPT = REPO_ROOT / "scripts" / "observability-picture.py"

EXPECTED_DASHBOARDS = {
    "endure-server-overview.json",
    "endure-task-queues.json",
    "endure-persistence.json",
    "endure-cluster.json",
}

#: The metrics of the catalogue (Temporal's names where Temporal has the thing): the only names
#: the dashboards and alerts may use (besides Prometheus' own `up`).
CATALOGUE = {
    "service_requests", "service_latency", "service_pending_requests",
    "service_error_with_type", "service_errors", "service_errors_invalid_argument",
    "service_errors_entity_not_found", "service_errors_execution_already_started",
    "service_errors_resource_exhausted", "service_errors_context_timeout",
    "persistence_requests", "persistence_errors", "persistence_error_with_type",
    "persistence_latency",
    "workflow_success", "workflow_failed", "workflow_timeout", "workflow_cancel",
    "workflow_terminate", "workflow_continued_as_new",
    "poll_success", "poll_success_sync", "poll_timeouts", "approximate_backlog_count",
    "task_schedule_to_start_latency", "state_transition_count", "task_requests", "task_latency",
    "cache_requests", "cache_miss",
    "acquire_shards_count", "sharditem_created_count", "sharditem_removed_count",
    "membership_changed_count", "numshards_gauge",
    "endure_commit_batch_size", "endure_commit_latency", "endure_writer_queue_depth",
    "endure_timer_lateness", "outbox_repairs",
}
HISTOGRAMS = {
    "service_latency", "persistence_latency", "task_schedule_to_start_latency",
    "state_transition_count", "task_latency", "endure_commit_batch_size",
    "endure_commit_latency", "endure_timer_lateness",
}
#: Endure's own metrics: the real Temporal server has none of them.
ENDURE_ONLY = {
    "endure_commit_batch_size", "endure_commit_latency", "endure_writer_queue_depth",
    "endure_timer_lateness", "outbox_repairs",
}

SCRAPE_INTERVAL_S = 1
#: Waves of the load (see _run_load); more make a longer picture (docs: 8).
LOAD_WAVES = max(2, int(os.environ.get("ENDURE_OBSERVABILITY_WAVES", "2")))


# ----------------------------------------------------------------------------------------------
# The load: workflows and activities


@activity.defn
async def obs_greet(name: str) -> str:
    return f"hello {name}"


@activity.defn
async def obs_flaky(name: str) -> str:
    # Fails its first attempt: a retry timer (TimerActiveTaskActivityRetryTimer).
    if activity.info().attempt < 2:
        raise ApplicationError("first attempt fails on purpose")
    return f"retried {name}"


@workflow.defn
class ObsChild:
    @workflow.run
    async def run(self, n: int) -> int:
        return n * 2


@workflow.defn
class ObsComplete:
    """Completes: two activities (one retried once), a timer, a child, a signal."""

    def __init__(self) -> None:
        self.signalled = False

    @workflow.signal
    def go(self) -> None:
        self.signalled = True

    @workflow.run
    async def run(self, name: str) -> str:
        greeting = await workflow.execute_activity(
            obs_greet, name, start_to_close_timeout=timedelta(seconds=10)
        )
        retried = await workflow.execute_activity(
            obs_flaky,
            name,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )
        await asyncio.sleep(0.3)
        child = await workflow.execute_child_workflow(ObsChild.run, 21, id=f"{workflow.info().workflow_id}-child")
        await workflow.wait_condition(lambda: self.signalled)
        return f"{greeting} {retried} {child}"


@workflow.defn
class ObsFail:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("fails on purpose", non_retryable=True)


@workflow.defn
class ObsWait:
    """Waits an hour: timed out (execution timeout), cancelled or terminated by the load."""

    @workflow.run
    async def run(self) -> None:
        await asyncio.sleep(3600)


@workflow.defn
class ObsContinue:
    @workflow.run
    async def run(self, left: int) -> int:
        if left > 0:
            workflow.continue_as_new(left - 1)
        return left


@dataclass
class LoadReport:
    started_at: float
    ended_at: float
    backlog_queue: str
    worker_queue: str


async def _expect_rpc_error(coro, *codes: RPCStatusCode) -> None:
    try:
        await coro
    except RPCError as e:
        assert e.status in codes, f"expected {codes}, got {e.status}: {e}"
        return
    raise AssertionError(f"expected an RPC error {codes}, the call succeeded")


async def run_load(address: str) -> LoadReport:
    """The load the dashboards are checked against (a few seconds)."""
    # The SDK logs each failed activity attempt (obs_flaky's first) with its traceback at WARN.
    activity_logger = logging.getLogger("temporalio.activity")
    level = activity_logger.level
    activity_logger.setLevel(logging.ERROR)
    try:
        return await _run_load(address)
    finally:
        activity_logger.setLevel(level)


async def _run_load(address: str) -> LoadReport:
    started = time.time()
    client = await Client.connect(address, namespace="default")
    other = await Client.connect(address, namespace=EXTRA_NAMESPACE)
    tq = unique("obs-tq")
    backlog_tq = unique("obs-backlog")
    workflows = [ObsChild, ObsComplete, ObsFail, ObsWait, ObsContinue]
    activities = [obs_greet, obs_flaky]
    async with new_worker(client, tq, workflows, activities), new_worker(other, tq, workflows, activities):
        # Two waves, a few scrapes apart: a labelled counter appears at its first increment, so
        # a series born in the first wave needs the second to show a rate (a histogram whose
        # buckets never move has a NaN quantile).
        for wave in range(LOAD_WAVES):
            if wave:
                await asyncio.sleep(2.5 * SCRAPE_INTERVAL_S)
            await asyncio.gather(*(_wave(c, tq, backlog_tq) for c in (client, other)))
    return LoadReport(started, time.time(), backlog_tq, tq)


async def _wave(c: Client, tq: str, backlog_tq: str) -> None:
    """One namespace's share of a wave: every outcome, bad requests, a growing backlog."""
    # Completed, with activities, a retry, a timer, a child and a signal.
    done = [
        await c.start_workflow(ObsComplete.run, f"w{i}", id=unique("obs-complete"), task_queue=tq)
        for i in range(4)
    ]
    # Failed; timed out (execution timeout); continued as new (twice) then completed.
    failed = await c.start_workflow(ObsFail.run, id=unique("obs-fail"), task_queue=tq)
    timed_out = await c.start_workflow(
        ObsWait.run,
        id=unique("obs-timeout"),
        task_queue=tq,
        execution_timeout=timedelta(seconds=2),
    )
    continued = await c.start_workflow(ObsContinue.run, 2, id=unique("obs-can"), task_queue=tq)
    cancelled = await c.start_workflow(ObsWait.run, id=unique("obs-cancel"), task_queue=tq)
    terminated = await c.start_workflow(ObsWait.run, id=unique("obs-terminate"), task_queue=tq)
    # A backlog: workflow tasks on a queue no worker polls.
    backlog = [
        await c.start_workflow(ObsWait.run, id=unique("obs-backlog"), task_queue=backlog_tq) for _ in range(5)
    ]

    await asyncio.sleep(0.5)
    for h in done:
        await h.signal(ObsComplete.go)
    await cancelled.cancel()
    await terminated.terminate("observability load")

    # Bad requests: NotFound, InvalidArgument, AlreadyStarted.
    svc = c.workflow_service
    ns = c.namespace
    await _expect_rpc_error(
        svc.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=ns, execution=WorkflowExecution(workflow_id=unique("obs-missing"))
            )
        ),
        RPCStatusCode.NOT_FOUND,
    )
    await _expect_rpc_error(
        svc.signal_workflow_execution(
            SignalWorkflowExecutionRequest(
                namespace=ns,
                workflow_execution=WorkflowExecution(workflow_id=unique("obs-missing")),
                signal_name="nothing",
                identity="obs",
            )
        ),
        RPCStatusCode.NOT_FOUND,
    )
    await _expect_rpc_error(
        svc.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=ns,
                execution=WorkflowExecution(workflow_id=unique("obs-missing"), run_id="not-a-uuid"),
            )
        ),
        RPCStatusCode.INVALID_ARGUMENT,
    )
    await _expect_rpc_error(
        svc.start_workflow_execution(
            StartWorkflowExecutionRequest(
                namespace=ns,
                workflow_id=unique("obs-bad"),
                workflow_type=WorkflowType(name="ObsWait"),
                task_queue=TaskQueue(name=""),
                request_id=str(uuid.uuid4()),
            )
        ),
        RPCStatusCode.INVALID_ARGUMENT,
    )
    await _expect_rpc_error(
        svc.start_workflow_execution(
            StartWorkflowExecutionRequest(
                namespace=ns,
                workflow_id=backlog[0].id,  # open: its workflow task is never picked up
                workflow_type=WorkflowType(name="ObsWait"),
                task_queue=TaskQueue(name=backlog_tq),
                request_id=str(uuid.uuid4()),
            )
        ),
        RPCStatusCode.ALREADY_EXISTS,
    )

    async def outcome(h) -> str:
        try:
            await h.result()
            return "completed"
        except WorkflowFailureError as e:
            return type(e.cause).__name__

    results = await asyncio.wait_for(
        asyncio.gather(*(outcome(h) for h in [*done, failed, timed_out, continued, cancelled, terminated])),
        timeout=30,
    )
    assert results == [
        *["completed"] * len(done),
        "ApplicationError",
        "TimeoutError",
        "completed",
        "CancelledError",
        "TerminatedError",
    ], f"{c.namespace}: {results}"


# ----------------------------------------------------------------------------------------------
# Prometheus


def prometheus_bin() -> Path:
    """Debian's Prometheus: ``PROMETHEUS_BIN``, else /usr/bin/prometheus, else ``PATH``."""
    env = os.environ.get("PROMETHEUS_BIN")
    candidates = [env] if env else ["/usr/bin/prometheus", shutil.which("prometheus")]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    pytest.fail(
        "Prometheus not found (/usr/bin/prometheus): install it with `bash scripts/prometheus.sh` "
        "(Debian's `prometheus` package; scripts/test.sh does it) or set PROMETHEUS_BIN.",
        pytrace=False,
    )


def promtool_bin() -> Path:
    tool = prometheus_bin().with_name("promtool")
    if not tool.is_file():
        pytest.fail(f"promtool not found beside {prometheus_bin()} (it comes with Debian's prometheus package)", pytrace=False)
    return tool


def _replace_once(text: str, old: str, new: str, what: str) -> str:
    assert text.count(old) == 1, f"{EXAMPLE_CONFIG.name}: expected exactly one {what} ({old!r})"
    return text.replace(old, new)


def config_for_test(example: str, file_sd: Path) -> str:
    """The shipped example configuration made to run here: the same job and relabelling, with
    Kubernetes pod discovery replaced by a file (Debian builds Prometheus without Kubernetes
    discovery) that lists pods as Kubernetes would describe them, and 1 s intervals."""
    text = _replace_once(example, "  scrape_interval: 15s\n", "  scrape_interval: 1s\n", "global scrape_interval")
    text = _replace_once(text, "  scrape_timeout: 10s\n", "  scrape_timeout: 1s\n", "global scrape_timeout")
    text = _replace_once(text, "  evaluation_interval: 15s\n", "  evaluation_interval: 1s\n", "global evaluation_interval")
    # The kubernetes_sd_configs block: from its key to the next key of the job.
    m = re.search(r"^    kubernetes_sd_configs:\n(?:      .*\n|\s*#.*\n)*", text, re.M)
    assert m, f"{EXAMPLE_CONFIG.name}: no `kubernetes_sd_configs:` block in the scrape job"
    file_block = f"    file_sd_configs:\n      - files: [{json.dumps(str(file_sd))}]\n        refresh_interval: 1s\n"
    return text[: m.start()] + file_block + text[m.end() :]


def fake_pods(grpc_address: str, metrics_port: int) -> list[dict]:
    """Pods as Kubernetes pod discovery labels them: the server under test (annotated like
    deploy/kubernetes/21-endure-deployment.yaml, its address the pod IP and first container
    port), an unannotated pod and a finished annotated one (both must be dropped)."""
    host = grpc_address.rsplit(":", 1)[0]

    def pod(name: str, port: int, phase: str, annotations: dict[str, str]) -> dict:
        labels = {
            "__meta_kubernetes_namespace": "endure",
            "__meta_kubernetes_pod_name": name,
            "__meta_kubernetes_pod_phase": phase,
            "__meta_kubernetes_pod_label_app_kubernetes_io_name": "endure",
            "__meta_kubernetes_pod_label_app_kubernetes_io_component": "server",
        }
        for k, v in annotations.items():
            labels["__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", k)] = v
        return {"targets": [f"{host}:{port}"], "labels": labels}

    annotated = {"prometheus.io/scrape": "true", "prometheus.io/port": str(metrics_port), "prometheus.io/path": "/metrics"}
    return [
        pod("endure-test-0", int(grpc_address.rsplit(":", 1)[1]), "Running", annotated),
        pod("unannotated-0", 1, "Running", {}),
        pod("finished-0", 2, "Succeeded", annotated),
    ]


class Prometheus:
    """Debian's Prometheus on a free loopback port, its data in `data_dir`."""

    def __init__(self, config: Path, data_dir: Path, log_path: Path):
        self.config = config
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self.log = open(self.log_path, "ab")
        self.started_at = time.time()
        self.proc = subprocess.Popen(
            [
                str(prometheus_bin()),
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"prometheus exited with {self.proc.returncode} at start-up:\n{self.log_tail()}", pytrace=False)
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        pytest.fail(f"prometheus not ready after {timeout:.0f}s:\n{self.log_tail()}", pytrace=False)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def log_tail(self, n: int = 30) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        return "\n".join(lines[-n:]) or "<empty log>"

    def api(self, path: str, **params: Any) -> Any:
        """`data` of a Prometheus HTTP API answer; the test fails on an error answer."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.loads(e.read() or b"{}")
            raise PromQLError(f"{e.code} {body.get('errorType')}: {body.get('error')}") from None
        if body.get("status") != "success":
            raise PromQLError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", **params)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]


class PromQLError(Exception):
    pass


def has_data(result: list[dict]) -> bool:
    """At least one sample that is a number (histogram_quantile of no observations is NaN)."""
    for r in result:
        values = [r["value"]] if "value" in r else r.get("values", [])
        for _, v in values:
            if not math.isnan(float(v)):
                return True
    return False


# ----------------------------------------------------------------------------------------------
# PromQL text: variables, metric names


def substitute(expr: str, window: str) -> str:
    """A Grafana target's expression as Prometheus takes it: the interval variables -> `window`,
    query variables (matched with =~) -> `.*`."""
    out = expr
    for var in ("__rate_interval", "__interval", "__range"):
        out = out.replace("${" + var + "}", window).replace("$" + var, window)
    out = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", ".*", out)
    return out


_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (histogram suffixes kept)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\$\{?\w+\}?", "", text)  # Grafana variables
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range windows, subqueries
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", text):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def base_metric(name: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in HISTOGRAMS:
            return name[: -len(suffix)]
    return name


@dataclass
class Target:
    file: str
    panel: str
    panel_id: int
    ref: str
    expr: str

    def where(self) -> str:
        return f"{self.file}, panel {self.panel!r} (id {self.panel_id}), target {self.ref}"


def dashboard_targets() -> list[Target]:
    out = []
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        panels = list(dash.get("panels", []))
        for p in list(panels):
            panels.extend(p.get("panels", []))  # collapsed rows keep their panels inside
        for p in panels:
            for t in p.get("targets", []):
                out.append(Target(path.name, p.get("title", ""), p.get("id", -1), t.get("refId", "?"), t.get("expr", "")))
    return out


# Selectors of metrics that carry `namespace` must honour the dashboard's namespace variable.
NAMESPACED = {
    "service_requests", "service_latency", "service_pending_requests", "service_error_with_type",
    "service_errors", "workflow_success", "workflow_failed", "workflow_timeout", "workflow_cancel",
    "workflow_terminate", "workflow_continued_as_new", "poll_success", "poll_success_sync",
    "poll_timeouts", "approximate_backlog_count", "task_schedule_to_start_latency",
    "state_transition_count", "task_requests", "task_latency",
}


# ----------------------------------------------------------------------------------------------
# The dashboards and rules as files (no server)


def test_dashboards_are_well_formed_grafana_json():
    names = {p.name for p in DASHBOARDS}
    assert names == EXPECTED_DASHBOARDS, f"deploy/observability/grafana holds {sorted(names)}"
    uids = set()
    problems = []
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        where = path.name
        assert 36 <= dash.get("schemaVersion", 0) <= 41, f"{where}: schemaVersion {dash.get('schemaVersion')}"
        assert dash.get("uid") and dash["uid"] not in uids, f"{where}: missing or duplicate uid"
        uids.add(dash["uid"])
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        assert variables.get("datasource", {}).get("type") == "datasource", f"{where}: no `datasource` variable"
        assert variables["datasource"].get("query") == "prometheus", f"{where}: datasource variable not of Prometheus"
        ns = variables.get("namespace")
        assert ns and ns.get("definition") == "label_values(service_requests, namespace)", f"{where}: namespace variable"
        assert ns.get("allValue") == ".*" and ns.get("includeAll"), f"{where}: the namespace variable's All must be .*"
        ids = set()
        panels = [p for p in dash["panels"] if p.get("type") != "row"]
        assert panels, f"{where}: no panels"
        for p in panels:
            pw = f"{where}, panel {p.get('title')!r}"
            if p["id"] in ids:
                problems.append(f"{pw}: duplicate panel id {p['id']}")
            ids.add(p["id"])
            gp = p.get("gridPos", {})
            if not all(k in gp for k in "xywh") or gp["x"] + gp["w"] > 24:
                problems.append(f"{pw}: bad gridPos {gp}")
            if p.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"{pw}: panel datasource is not ${{datasource}}")
            if not p.get("targets"):
                problems.append(f"{pw}: no targets")
            for t in p.get("targets", []):
                tw = f"{pw}, target {t.get('refId')}"
                expr = t.get("expr", "")
                if t.get("datasource", {}).get("uid") != "${datasource}":
                    problems.append(f"{tw}: target datasource is not ${{datasource}}")
                for window in re.findall(r"\[([^\]]*)\]", expr):
                    if window != "$__rate_interval":
                        problems.append(f"{tw}: window [{window}] (use [$__rate_interval]): {expr}")
                for name in metric_names(expr):
                    if base_metric(name) not in CATALOGUE:
                        problems.append(f"{tw}: metric {name!r} is not in the catalogue: {expr}")
                    if base_metric(name) in NAMESPACED and not re.search(
                        re.escape(name) + r'\{[^}]*namespace=~"\$namespace"', expr
                    ):
                        problems.append(f"{tw}: {name} selected without namespace=~\"$namespace\": {expr}")
    assert not problems, "dashboard problems:\n  " + "\n  ".join(problems)


def test_alert_rules_pass_promtool():
    out = subprocess.run([str(promtool_bin()), "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"promtool check rules {ALERTS}:\n{out.stdout}{out.stderr}"


def test_example_prometheus_config_passes_promtool(tmp_path: Path):
    """The example configuration, its Kubernetes discovery swapped for file discovery (Debian's
    Prometheus has no Kubernetes discovery): every other key, relabel regex and the rule file
    checked by promtool."""
    example = EXAMPLE_CONFIG.read_text()
    assert "kubernetes_sd_configs:" in example and "role: pod" in example
    for annotation in ("prometheus_io_scrape", "prometheus_io_port", "prometheus_io_path"):
        assert f"__meta_kubernetes_pod_annotation_{annotation}" in example, annotation
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    (tmp_path / "pods.json").write_text(json.dumps(fake_pods("127.0.0.1:7233", 9090)))
    config = tmp_path / "prometheus.yml"
    config.write_text(config_for_test(example, tmp_path / "pods.json"))
    out = subprocess.run([str(promtool_bin()), "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"promtool check config (example, file discovery):\n{out.stdout}{out.stderr}"


# ----------------------------------------------------------------------------------------------
# The server, Prometheus and the load (once per module)


def expected_absent() -> dict[str, str]:
    """Metrics the server under test may lack after the load, with why. Everything else the
    dashboards or rules use must exist."""
    absent = {
        "service_errors": "counts only unexpected server errors (Internal, Unavailable...): none in a healthy run",
        "persistence_errors": "counts only unexpected store errors: none in a healthy run",
        # A labelled counter appears at its first increment, on both servers.
        "sharditem_removed_count": "created at the first shard release; one server alone never releases a shard",
    }
    if target() == "temporal":
        absent.update({m: "Endure's own metric" for m in ENDURE_ONLY})
    else:
        # The real server has both after this load: it counts not-found answers and failed
        # conditions (a duplicate start) as store errors, and misses its cache at each run's
        # first load; Endure counts only failed store calls and caches a run from its start.
        absent["persistence_error_with_type"] = "Endure counts only failed store calls: none in a healthy run"
        absent["cache_miss"] = "Endure caches a run from its start: no miss while every run fits in the cache"
    return absent


def make_observed_server(tmp: Path, metrics_port: int) -> ServerProcess:
    """The suite's server (ENDURE_TEST_TARGET, ENDURE_TEST_STORE) with /metrics on `metrics_port`."""
    if target() == "temporal":
        # The later --metrics-port wins over the harness's own; backlog gauges every second
        # (default: every minute).
        return make_server(
            tmp,
            "server",
            temporal_args=[
                "--metrics-port", str(metrics_port),
                "--dynamic-config-value", 'matching.backlogMetricsEmitInterval="1s"',
            ],
        )
    server = make_server(tmp, "server")
    if isinstance(server, EndureDevServer):
        server.extra_args += ["--metrics-port", str(metrics_port)]
    elif isinstance(server, EndureServer):
        server.settings["ENDURE_METRICS_LISTEN"] = f"{server.host}:{metrics_port}"
    else:  # pragma: no cover - the harness makes only these
        pytest.fail(f"unknown server kind {type(server).__name__}")
    return server


def fetch_metrics(url: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    why = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except (OSError, urllib.error.URLError) as e:
            why = repr(e)
        time.sleep(0.2)
    pytest.fail(f"the server's metrics endpoint {url} did not answer in {timeout:.0f}s ({why})", pytrace=False)


def wait_for(what: str, check, timeout: float, prom: Prometheus) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    pytest.fail(f"Prometheus: {what} not within {timeout:.0f}s.\n{prom.log_tail()}", pytrace=False)


@dataclass
class Observed:
    server: ServerProcess = field(repr=False)
    prometheus: Prometheus = field(repr=False)
    metrics_url: str
    load: LoadReport
    window: str
    at: float
    #: The metric names Prometheus has series of.
    names: set[str] = field(repr=False, default_factory=set)

    def absent(self, expr: str) -> set[str]:
        """The series names `expr` selects that Prometheus has no series of (a histogram's bare
        name counts as present if any of its _bucket, _sum, _count is)."""
        out = set()
        for name in metric_names(expr):
            if name in HISTOGRAMS:
                if not {name + s for s in ("_bucket", "_sum", "_count")} & self.names:
                    out.add(name)
            elif name not in self.names:
                out.add(name)
        return out

    def verdict(self, expr: str) -> tuple[bool, str]:
        """For an expression that returned nothing: (excused, why). Excused only when every metric
        it uses that has no series is one :func:`expected_absent` names."""
        absent = self.absent(expr)
        allowed = expected_absent()
        if absent and {base_metric(n) for n in absent} <= allowed.keys():
            return True, "; ".join(f"{n}: {allowed[base_metric(n)]}" for n in sorted(absent))
        if absent:
            return False, "no series of " + ", ".join(sorted(absent))
        return False, "every series name it uses exists"


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    tmp = tmp_path_factory.mktemp("observability")
    prometheus_bin()  # fail first if Prometheus is missing
    metrics_port = free_port()
    server = make_observed_server(tmp, metrics_port)
    server.start()
    prom: Prometheus | None = None
    try:
        metrics_url = f"http://{server.host}:{metrics_port}/metrics"
        fetch_metrics(metrics_url)
        shutil.copy(ALERTS, tmp / "alerts.yml")
        (tmp / "pods.json").write_text(json.dumps(fake_pods(server.address, metrics_port)))
        config = tmp / "prometheus.yml"
        config.write_text(config_for_test(EXAMPLE_CONFIG.read_text(), tmp / "pods.json"))
        prom = Prometheus(config, tmp / "prometheus-data", tmp / "prometheus.log")
        prom.start()
        wait_for(
            "a successful scrape of the server (up == 1)",
            lambda: prom.query('up{job="kubernetes-pods"} == 1'),
            15,
            prom,
        )
        load = asyncio.run(asyncio.wait_for(run_load(server.address), timeout=60))
        # Scrapes that saw the end of the load (and the backlog gauges, emitted every second).
        wait_for(
            "a scrape after the load",
            lambda: any(float(r["value"][1]) > load.ended_at + 1.5 for r in prom.query('timestamp(up{job="kubernetes-pods"})')),
            15,
            prom,
        )
        # Every rule evaluated at least once since.
        def evaluated() -> bool:
            rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
            return bool(rules) and all(r.get("health") != "unknown" for r in rules)

        wait_for("an evaluation of every rule", evaluated, 15, prom)
        at = time.time()
        # A window that covers the whole run: rates are averages over the load.
        window = f"{math.ceil(at - prom.started_at) + 5}s"
        names = set(prom.api("label/__name__/values"))
        yield Observed(server, prom, metrics_url, load, window, at, names)
    finally:
        if prom is not None:
            prom.stop()
        server.stop()


# ----------------------------------------------------------------------------------------------
# Against the running server


def test_prometheus_discovers_and_scrapes_the_annotated_pod(observed: Observed):
    """The example configuration's relabelling: only the annotated running pod is scraped, on
    the annotated port and path, named after the pod."""
    targets = observed.prometheus.api("targets")
    active = targets["activeTargets"]
    assert len(active) == 1, f"expected one scraped pod, got {[t['labels'] for t in active]}"
    t = active[0]
    port = observed.metrics_url.rsplit(":", 1)[1].split("/")[0]
    assert t["scrapeUrl"] == f"http://{observed.server.host}:{port}/metrics", t["scrapeUrl"]
    assert t["health"] == "up", t
    labels = t["labels"]
    assert labels["job"] == "kubernetes-pods"
    assert labels["instance"] == labels["pod"] == "endure-test-0", labels
    assert labels["kubernetes_namespace"] == "endure"
    assert labels["app_kubernetes_io_name"] == "endure"
    dropped = {d["discoveredLabels"].get("__meta_kubernetes_pod_name") for d in targets["droppedTargets"]}
    assert dropped == {"unannotated-0", "finished-0"}, dropped


def test_namespace_variable_lists_the_namespaces(observed: Observed):
    """The dashboards' `namespace` variable, label_values(service_requests, namespace)."""
    values = observed.prometheus.api("label/namespace/values", **{"match[]": "service_requests"})
    assert "default" in values, values
    assert len(values) >= 2, f"the load ran in two namespaces, service_requests has {values}"


def test_every_metric_the_dashboards_and_rules_use_exists(observed: Observed):
    used: dict[str, list[str]] = {}
    for t in dashboard_targets():
        for n in metric_names(t.expr):
            used.setdefault(n, []).append(t.where())
    for g in observed.prometheus.api("rules")["groups"]:
        for r in g["rules"]:
            for n in metric_names(r["query"]):
                used.setdefault(n, []).append(f"alerts.yml, rule {r['name']}")
    allowed = expected_absent()
    missing = []
    for name, where in sorted(used.items()):
        if observed.absent(name) and base_metric(name) not in allowed:
            missing.append(f"{name} (used by {len(where)} expressions, e.g. {where[0]})")
    assert not missing, (
        f"metrics not exported by {target()} after the load:\n  " + "\n  ".join(missing)
    )


def test_every_dashboard_expression_returns_data(observed: Observed):
    prom = observed.prometheus
    failures, expected_empty = [], []
    targets = dashboard_targets()
    assert targets
    for t in targets:
        q = substitute(t.expr, observed.window)
        assert "$" not in q, f"{t.where()}: a variable left in {q!r}"
        try:
            result = prom.query(q, at=observed.at)
        except PromQLError as e:
            failures.append(f"{t.where()}: `{t.expr}` failed: {e} (queried as `{q}`)")
            continue
        if has_data(result):
            continue
        excused, why = observed.verdict(t.expr)
        if excused:
            expected_empty.append(f"{t.where()}: no data, as expected ({why})")
        else:
            failures.append(f"{t.where()}: `{t.expr}` returned no data ({why}; queried as `{q}`)")
    if expected_empty:
        print(f"\nexpected empty against {target()}:\n  " + "\n  ".join(expected_empty))
    assert not failures, (
        f"{len(failures)} of {len(targets)} dashboard expressions returned no data against {target()}:\n  "
        + "\n  ".join(failures)
    )


# An alert expression: <query> <comparison> <number>, the comparison at the top.
_THRESHOLD = re.compile(r"^(?P<query>.*\S)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<threshold>-?[0-9.]+(?:e[+-]?[0-9]+)?)\s*$", re.S)


def test_alert_rules_load_and_their_queries_return_data(observed: Observed):
    prom = observed.prometheus
    groups = prom.api("rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert {g["file"].rsplit("/", 1)[-1] for g in groups} == {"alerts.yml"}
    names = [r["name"] for r in rules]
    assert len(rules) >= 8 and len(set(names)) == len(names), names
    failures, expected_empty = [], []
    for r in rules:
        where = f"alerts.yml, alert {r['name']}"
        if r["type"] != "alerting":
            failures.append(f"{where}: a {r['type']} rule")
            continue
        if r.get("health") != "ok":
            failures.append(f"{where}: health {r.get('health')}: {r.get('lastError')}")
        if r["labels"].get("severity") not in ("critical", "warning"):
            failures.append(f"{where}: severity label {r['labels'].get('severity')!r}")
        for key in ("summary", "description"):
            if not r["annotations"].get(key, "").strip():
                failures.append(f"{where}: no {key} annotation")
        m = _THRESHOLD.match(r["query"])
        if not m:
            failures.append(f"{where}: not `<query> <comparison> <number>`: {r['query']}")
            continue
        try:
            result = prom.query(m["query"], at=observed.at)
        except PromQLError as e:
            failures.append(f"{where}: `{m['query']}` failed: {e}")
            continue
        if has_data(result):
            continue
        excused, why = observed.verdict(m["query"])
        if excused:
            expected_empty.append(f"{where}: no data, as expected ({why})")
        else:
            failures.append(
                f"{where}: `{m['query']}` (threshold `{m['op']} {m['threshold']}` removed) returned no data ({why})"
            )
    if expected_empty:
        print(f"\nexpected empty against {target()}:\n  " + "\n  ".join(expected_empty))
    assert not failures, f"alert rule problems against {target()}:\n  " + "\n  ".join(failures)


def test_picture_of_the_main_panels(observed: Observed, tmp_path: Path):
    """scripts/observability-picture.py draws the main panels from query_range data; with
    ENDURE_OBSERVABILITY_PICTURE=path.svg the picture is kept there (docs/observability-panels.svg)."""
    out = Path(os.environ.get("ENDURE_OBSERVABILITY_PICTURE") or tmp_path / "panels.svg")
    run = subprocess.run(
        [
            sys.executable, str(PICTURE_SCRIPT),
            "--prometheus", observed.prometheus.url,
            "--start", f"{observed.load.started_at - 2:.3f}",
            "--end", f"{observed.at:.3f}",
            "--title", f"Endure observability: the main panels ({target()}, {store() if target() == 'endure' else 'dev server'})",
            "--out", str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, f"observability-picture.py failed:\n{run.stdout}{run.stderr}"
    import xml.etree.ElementTree as ET

    svg = ET.parse(out).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert svg.tag == ns + "svg"
    panels = svg.findall(f"{ns}g[@class='panel']")
    assert len(panels) == 6, f"{len(panels)} panels drawn"
    empty = [p.get("data-title") for p in panels if not p.findall(f".//{ns}polyline")]
    if target() == "endure":
        assert not empty, f"panels drawn without a line: {empty}"
    else:
        assert set(empty) <= {"Commit batch size (transactions per group commit)"}, empty
