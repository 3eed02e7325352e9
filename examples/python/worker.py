"""Run the document-pipeline worker against Endure (or any Temporal server).

    endure server start-dev            # in another terminal
    python worker.py                   # this worker
    python starter.py                  # start a pipeline run

Options come from the command line or the environment:
  --address / TEMPORAL_ADDRESS      (default localhost:7233)
  --namespace / TEMPORAL_NAMESPACE  (default "default")
  --deployment NAME --build-id ID   run as a version of a Worker Deployment (see the README's
                                    "Ship a new version safely"); runs it starts stay pinned
                                    to it unless --auto-upgrade
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig

import activities
from shared import TASK_QUEUE
from workflows import DocumentPipeline


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    parser.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    parser.add_argument("--deployment", help="Worker Deployment name (versioned worker)")
    parser.add_argument("--build-id", help="this worker's build id within the deployment")
    parser.add_argument(
        "--auto-upgrade",
        action="store_true",
        help="runs move to the deployment's current version at their next step (default: pinned)",
    )
    args = parser.parse_args()
    if bool(args.deployment) != bool(args.build_id):
        parser.error("--deployment and --build-id go together")
    deployment = None
    if args.deployment:
        deployment = WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(args.deployment, args.build_id),
            use_worker_versioning=True,
            default_versioning_behavior=(
                VersioningBehavior.AUTO_UPGRADE if args.auto_upgrade else VersioningBehavior.PINNED
            ),
        )

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    client = await Client.connect(args.address, namespace=args.namespace)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with Worker(
        client,
        task_queue=args.task_queue,
        workflows=[DocumentPipeline],
        activities=activities.ALL,
        deployment_config=deployment,
    ):
        # Printed once polling has started; the example test waits for it.
        version = f" version={args.deployment}:{args.build_id}" if deployment else ""
        print(f"worker ready: {args.address} namespace={args.namespace} "
              f"task_queue={args.task_queue}{version}", flush=True)
        await stop.wait()
        print("worker shutting down", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
