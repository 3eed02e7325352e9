"""Types and names shared by the worker, the workflow and the starter."""

from __future__ import annotations

from dataclasses import dataclass, field

TASK_QUEUE = "ai-pipeline"


@dataclass
class PipelineInput:
    doc_id: str
    text: str
    # Number of sentences to keep in the summary.
    max_sentences: int = 2
    # Demo switches: make the "publish" step fail for good, so that the saga
    # rolls back; make the "model" flaky, so that Temporal's retries show.
    fail_publish: bool = False
    flaky_model: bool = False
    # Wait for an `approve` signal before publishing (human in the loop).
    require_approval: bool = False


@dataclass
class Extracted:
    doc_id: str
    path: str
    words: int


@dataclass
class Summary:
    doc_id: str
    path: str
    text: str


@dataclass
class PipelineResult:
    doc_id: str
    summary: str
    published_to: str


@dataclass
class Progress:
    stage: str = "starting"
    done: list[str] = field(default_factory=list)
    compensated: list[str] = field(default_factory=list)
    approved_by: str | None = None
