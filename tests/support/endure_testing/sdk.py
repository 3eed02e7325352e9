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


def quiet_core_logs() -> None:
    """Keeps only errors from the SDK's core, which logs every retried RPC at WARN on stderr
    (hundreds of lines of expected UNAVAILABLE retries while a server is down or moving)."""
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    Runtime.set_default(
        Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
            )
        ),
        error_if_already_set=False,
    )
