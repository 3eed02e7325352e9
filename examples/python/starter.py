"""Start one document-pipeline run and print its outcome.

    python starter.py                    # happy path: extract, summarize, publish
    python starter.py --fail-publish     # publish fails: the saga compensates
    python starter.py --flaky-model      # summarize fails twice, retried with backoff
    python starter.py --require-approval # waits for the `approve` signal (sent here)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid

from temporalio.client import Client, WorkflowFailureError

from shared import TASK_QUEUE, PipelineInput, PipelineResult, Progress
from workflows import DocumentPipeline

SAMPLE = """
<p>Durable execution lets a program survive crashes of the machines it runs on.
The server records every step in an event history. When a worker dies, another
worker replays the history and continues where the first one stopped.
Activities are retried with backoff until they succeed or fail for good.
A saga undoes completed steps when a later step fails for good.</p>
"""


async def main() -> int:
    parser = argparse.ArgumentParser(description="Start a DocumentPipeline run")
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    parser.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    parser.add_argument("--doc-id", default=f"doc-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--file", help="summarise this text file instead of the sample")
    parser.add_argument("--fail-publish", action="store_true")
    parser.add_argument("--flaky-model", action="store_true")
    parser.add_argument("--require-approval", action="store_true")
    args = parser.parse_args()

    text = open(args.file).read() if args.file else SAMPLE
    client = await Client.connect(args.address, namespace=args.namespace)
    handle = await client.start_workflow(
        DocumentPipeline.run,
        PipelineInput(
            doc_id=args.doc_id,
            text=text,
            fail_publish=args.fail_publish,
            flaky_model=args.flaky_model,
            require_approval=args.require_approval,
        ),
        id=f"pipeline-{args.doc_id}",
        task_queue=args.task_queue,
    )
    print(f"started workflow {handle.id} (run {handle.result_run_id})", flush=True)

    if args.require_approval:
        while (await handle.query(DocumentPipeline.status)).stage != "awaiting approval":
            await asyncio.sleep(0.2)
        print("waiting for approval; approving as 'starter'", flush=True)
        await handle.signal(DocumentPipeline.approve, "starter")

    try:
        result: PipelineResult = await handle.result()
    except WorkflowFailureError as err:
        progress: Progress = await handle.query(DocumentPipeline.status)
        cause = err.cause.cause if err.cause and err.cause.cause else err.cause
        print(f"pipeline FAILED: {cause}")
        print(f"completed steps: {', '.join(progress.done) or '-'}")
        print(f"compensations (in order): {', '.join(progress.compensated) or '-'}")
        return 1
    print(f"pipeline COMPLETED: published to {result.published_to}")
    print(f"summary: {result.summary}")
    return 0


if __name__ == "__main__":
    code = asyncio.run(main())
    # Leave without interpreter teardown: in a short-lived client-only process
    # the SDK's Rust runtime threads can race Python's finalisation and abort
    # the process after the work is done (temporalio/sdk-python issue #300).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
