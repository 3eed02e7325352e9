"""Start N GreetingWorkflow runs on Endure and print their results.

    python starter.py          # 5 runs
    python starter.py 100      # 100 runs

Uses the same ENDURE_ADDRESS / ENDURE_NAMESPACE / ENDURE_TASK_QUEUE environment as worker.py.
In the cluster: kubectl -n endure exec deploy/endure-example-worker -- python /app/starter.py 10
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

from temporalio.client import Client

from worker import GreetingWorkflow, settings


async def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    address, namespace, task_queue = settings()
    client = await Client.connect(address, namespace=namespace)

    batch = uuid.uuid4().hex[:8]
    began = time.monotonic()
    handles = [
        await client.start_workflow(
            GreetingWorkflow.run,
            f"world-{i}",
            id=f"greeting-{batch}-{i}",
            task_queue=task_queue,
        )
        for i in range(count)
    ]
    print(f"started {count} workflows (batch {batch}) on {address}", flush=True)
    for handle in handles:
        print(f"{handle.id}: {await handle.result()}", flush=True)
    print(f"{count} completed in {time.monotonic() - began:.1f}s", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
