"""Example worker for Endure, using the official Temporal Python SDK (temporalio).

Runs GreetingWorkflow and its compose_greeting activity on task queue "example" until stopped
(SIGTERM or Ctrl-C). Start workflows with starter.py.

Environment:
  ENDURE_ADDRESS     Endure's client gRPC address (default endure-frontend.endure.svc:7233)
  ENDURE_NAMESPACE   namespace (default "default")
  ENDURE_TASK_QUEUE  task queue (default "example")

In Kubernetes this file is shipped in the ConfigMap of 30-worker-configmap.yaml; after editing it,
regenerate that file with `python3 deploy/kubernetes/worker/render_configmap.py`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

DEFAULT_ADDRESS = "endure-frontend.endure.svc:7233"
DEFAULT_NAMESPACE = "default"
DEFAULT_TASK_QUEUE = "example"


@activity.defn
async def compose_greeting(name: str) -> str:
    """The activity: any side effect (an API call, a database write) belongs here."""
    activity.logger.info("composing a greeting for %s", name)
    return f"Hello, {name}!"


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        greeting = await workflow.execute_activity(
            compose_greeting,
            name,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(seconds=10),
                maximum_attempts=5,
            ),
        )
        # A durable timer: it survives worker and server restarts.
        await workflow.sleep(1)
        return greeting


def settings() -> tuple[str, str, str]:
    return (
        os.environ.get("ENDURE_ADDRESS", DEFAULT_ADDRESS),
        os.environ.get("ENDURE_NAMESPACE", DEFAULT_NAMESPACE),
        os.environ.get("ENDURE_TASK_QUEUE", DEFAULT_TASK_QUEUE),
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    address, namespace, task_queue = settings()
    client = await Client.connect(address, namespace=namespace)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[GreetingWorkflow],
        activities=[compose_greeting],
    ):
        print(f"worker ready: {address} namespace={namespace} task_queue={task_queue}", flush=True)
        await stop.wait()
        print("worker shutting down", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
