"""The document pipeline as a saga: extract -> summarize -> publish.

When a step fails for good, the steps that already completed are undone in
reverse order (retract the summary, then discard the extraction) and the
workflow fails with the original error.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import activities
    from shared import PipelineInput, PipelineResult, Progress

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)


@workflow.defn
class DocumentPipeline:
    def __init__(self) -> None:
        self.progress = Progress()
        self.approved = False

    @workflow.query
    def status(self) -> Progress:
        return self.progress

    @workflow.signal
    def approve(self, reviewer: str) -> None:
        self.approved = True
        self.progress.approved_by = reviewer

    @workflow.run
    async def run(self, inp: PipelineInput) -> PipelineResult:
        opts = dict(start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY)
        undo: list[tuple[object, object]] = []  # (compensation, argument)
        try:
            self.progress.stage = "extracting"
            extracted = await workflow.execute_activity(
                activities.extract_text, inp, **opts
            )
            undo.append((activities.discard_extraction, extracted))
            self.progress.done.append("extract_text")

            self.progress.stage = "summarizing"
            summary = await workflow.execute_activity(
                activities.summarize,
                args=[extracted, inp.max_sentences, inp.flaky_model],
                **opts,
            )
            undo.append((activities.retract_summary, summary))
            self.progress.done.append("summarize")

            if inp.require_approval:
                self.progress.stage = "awaiting approval"
                await workflow.wait_condition(lambda: self.approved)

            self.progress.stage = "publishing"
            where = await workflow.execute_activity(
                activities.publish, args=[summary, inp.fail_publish], **opts
            )
            self.progress.done.append("publish")
            self.progress.stage = "done"
            return PipelineResult(doc_id=inp.doc_id, summary=summary.text, published_to=where)
        except ActivityError as err:
            self.progress.stage = "compensating"
            workflow.logger.warning("step failed (%s); compensating", err.cause)
            for compensation, arg in reversed(undo):
                name = await workflow.execute_activity(compensation, arg, **opts)
                self.progress.compensated.append(name)
            self.progress.stage = "failed"
            raise
