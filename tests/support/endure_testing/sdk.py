"""The official Python SDK as the suites use it."""

from __future__ import annotations


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
