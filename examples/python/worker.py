"""Run the document-pipeline worker against Endure (or any Temporal server).

    endure server start-dev            # in another terminal
    python worker.py                   # this worker
    python starter.py                  # start a pipeline run

Options come from the command line or the environment:
  --address / TEMPORAL_ADDRESS      (default localhost:7233)
  --namespace / TEMPORAL_NAMESPACE  (default "default")
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from temporalio.client import Client
from temporalio.worker import Worker

import activities
from shared import TASK_QUEUE
from workflows import DocumentPipeline


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    parser.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    args = parser.parse_args()

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
    ):
        # Printed once polling has started; the example test waits for it.
        print(f"worker ready: {args.address} namespace={args.namespace} "
              f"task_queue={args.task_queue}", flush=True)
        await stop.wait()
        print("worker shutting down", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
