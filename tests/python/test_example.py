"""The example in examples/python runs end to end against the server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import unique
from endure_testing.servers import REPO_ROOT, ServerProcess

EXAMPLE_DIR = REPO_ROOT / "examples" / "python"


@pytest.fixture
def example_worker(server: ServerProcess, tmp_path: Path):
    env = dict(os.environ, ENDURE_EXAMPLE_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    tq = unique("example-tq")
    log = open(tmp_path / "worker.log", "w+b")
    proc = subprocess.Popen(
        [sys.executable, "worker.py", "--address", server.address, "--task-queue", tq],
        cwd=EXAMPLE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while b"worker ready" not in (tmp_path / "worker.log").read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    "example worker did not start:\n"
                    + (tmp_path / "worker.log").read_text(errors="replace")
                )
            time.sleep(0.1)
        yield tq, env, tmp_path / "data"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


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
