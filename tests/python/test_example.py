"""The example in examples/python runs end to end against the server."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import unique
from endure_testing.cli import Cli
from endure_testing.servers import REPO_ROOT, ServerProcess

EXAMPLE_DIR = REPO_ROOT / "examples" / "python"


@contextlib.contextmanager
def worker_process(server: ServerProcess, tmp_path: Path, tq: str, env: dict, *args: str, name: str = "worker"):
    """The example worker on `tq` (with `args`), once it polls."""
    log_path = tmp_path / f"{name}.log"
    log = open(log_path, "w+b")
    proc = subprocess.Popen(
        [sys.executable, "worker.py", "--address", server.address, "--task-queue", tq, *args],
        cwd=EXAMPLE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while b"worker ready" not in log_path.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("example worker did not start:\n" + log_path.read_text(errors="replace"))
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def example_worker(server: ServerProcess, tmp_path: Path):
    env = dict(os.environ, ENDURE_EXAMPLE_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    tq = unique("example-tq")
    with worker_process(server, tmp_path, tq, env):
        yield tq, env, tmp_path / "data"


def run_starter(server: ServerProcess, tq: str, env: dict, *args: str):
    return subprocess.run(
        [sys.executable, "starter.py", "--address", server.address, "--task-queue", tq, *args],
        cwd=EXAMPLE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )


def test_example_pipeline_happy_path_and_saga(server, example_worker):
    tq, env, data = example_worker

    ok = run_starter(server, tq, env, "--doc-id", "ok-doc")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "pipeline COMPLETED" in ok.stdout
    assert (data / "published" / "ok-doc.md").exists()

    bad = run_starter(server, tq, env, "--doc-id", "bad-doc", "--fail-publish")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "PublishRejected" in bad.stdout
    assert "completed steps: extract_text, summarize" in bad.stdout
    assert "compensations (in order): retract_summary, discard_extraction" in bad.stdout
    # The compensations really undid the side effects.
    assert not (data / "bad-doc.extracted.txt").exists()
    assert not (data / "bad-doc.summary.txt").exists()
    assert not (data / "published" / "bad-doc.md").exists()

    appr = run_starter(server, tq, env, "--doc-id", "appr-doc", "--require-approval")
    assert appr.returncode == 0, appr.stdout + appr.stderr
    assert "approving as 'starter'" in appr.stdout
    assert "pipeline COMPLETED" in appr.stdout


def test_example_versioned_deploy_walkthrough(server, tmp_path):
    """The README's "Ship a new version safely": v1 current, a run pinned to it; v2 current,
    new runs on v2 while v1 drains."""
    env = dict(os.environ, ENDURE_EXAMPLE_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    tq, dep = unique("example-vtq"), unique("pipeline")
    cli = Cli(server, ("worker", "deployment"))
    workflow_cli = Cli(server, ("workflow",))

    def registered(build: str) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                cli.run_sync("describe-version", "--deployment-name", dep, "--build-id", build, "-o", "json")
                return
            except AssertionError:
                assert time.monotonic() < deadline, f"version {build} not registered"
                time.sleep(0.2)

    def version_of(doc: str) -> dict:
        out = workflow_cli.run_sync("describe", "--workflow-id", f"pipeline-{doc}", "-o", "json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["workflowExecutionInfo"]["versioningInfo"]

    with worker_process(server, tmp_path, tq, env, "--deployment", dep, "--build-id", "v1", name="v1"):
        registered("v1")
        out = cli.run_sync("set-current-version", "--deployment-name", dep, "--build-id", "v1", "--yes")
        assert out.returncode == 0, out.stderr
        first = run_starter(server, tq, env, "--doc-id", "v1-doc")
        assert first.returncode == 0 and "pipeline COMPLETED" in first.stdout, first.stdout + first.stderr
        v = version_of("v1-doc")
        assert (v["behavior"], v["deploymentVersion"]["buildId"]) == ("VERSIONING_BEHAVIOR_PINNED", "v1")

        with worker_process(server, tmp_path, tq, env, "--deployment", dep, "--build-id", "v2", name="v2"):
            registered("v2")
            out = cli.run_sync("set-current-version", "--deployment-name", dep, "--build-id", "v2", "--yes")
            assert out.returncode == 0, out.stderr
            second = run_starter(server, tq, env, "--doc-id", "v2-doc")
            assert second.returncode == 0 and "pipeline COMPLETED" in second.stdout, second.stdout + second.stderr
            assert version_of("v2-doc")["deploymentVersion"]["buildId"] == "v2"
            described = json.loads(cli.run_sync("describe", "--name", dep, "-o", "json").stdout)
            assert described["routingConfig"]["currentVersionBuildID"] == "v2"
            drainage = {v["BuildID"]: v["drainageStatus"] for v in described["versionSummaries"]}
            assert drainage["v1"] in ("draining", "drained"), drainage
