"""Activities of the document pipeline: real (local) side effects, and the
compensations that undo them.

Everything is written under a work directory (ENDURE_EXAMPLE_DIR, default
./pipeline-data) so you can watch the saga create and then remove files.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from shared import Extracted, PipelineInput, Summary

STOPWORDS = set(
    "a an and are as at be by for from has have in is it its of on or that the "
    "this to was were will with".split()
)


def work_dir() -> Path:
    d = Path(os.environ.get("ENDURE_EXAMPLE_DIR", "pipeline-data")).resolve()
    d.mkdir(parents=True, exist_ok=True)
    return d


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


@activity.defn
async def extract_text(inp: PipelineInput) -> Extracted:
    """Normalise the raw document and store it (think: OCR / HTML stripping)."""
    clean = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inp.text)).strip()
    if not clean:
        raise ApplicationError("document is empty", non_retryable=True)
    path = work_dir() / f"{inp.doc_id}.extracted.txt"
    path.write_text(clean + "\n")
    activity.logger.info("extracted %s (%d chars)", inp.doc_id, len(clean))
    return Extracted(doc_id=inp.doc_id, path=str(path), words=len(clean.split()))


@activity.defn
async def summarize(extracted: Extracted, max_sentences: int, flaky: bool) -> Summary:
    """A stand-in for an LLM call: a small extractive summariser.

    With ``flaky`` the "model endpoint" fails on the first two attempts, and
    the workflow's retry policy (with backoff) takes care of it.
    """
    info = activity.info()
    if flaky and info.attempt < 3:
        await asyncio.sleep(0.1)
        raise RuntimeError(f"model endpoint overloaded (attempt {info.attempt})")

    text = Path(extracted.path).read_text()
    sentences = _sentences(text)
    words = [w for w in re.findall(r"[a-z']+", text.lower()) if w not in STOPWORDS]
    freq = collections.Counter(words)
    scored = sorted(
        range(len(sentences)),
        key=lambda i: -sum(freq[w] for w in re.findall(r"[a-z']+", sentences[i].lower())),
    )
    keep = sorted(scored[: max(1, max_sentences)])
    summary = " ".join(sentences[i] for i in keep)

    path = work_dir() / f"{extracted.doc_id}.summary.txt"
    path.write_text(summary + "\n")
    activity.logger.info("summarised %s on attempt %d", extracted.doc_id, info.attempt)
    return Summary(doc_id=extracted.doc_id, path=str(path), text=summary)


@activity.defn
async def publish(summary: Summary, fail: bool) -> str:
    """Publish the summary (here: into a local "published" folder)."""
    if fail:
        # Non-retryable: retrying cannot fix a rejection, so the saga unwinds.
        raise ApplicationError(
            f"publishing {summary.doc_id} was rejected by the target",
            type="PublishRejected",
            non_retryable=True,
        )
    out = work_dir() / "published"
    out.mkdir(exist_ok=True)
    target = out / f"{summary.doc_id}.md"
    target.write_text(f"# {summary.doc_id}\n\n{summary.text}\n")
    return str(target)


# ---- compensations -------------------------------------------------------


@activity.defn
async def retract_summary(summary: Summary) -> str:
    Path(summary.path).unlink(missing_ok=True)
    activity.logger.info("compensated: removed summary of %s", summary.doc_id)
    return "retract_summary"


@activity.defn
async def discard_extraction(extracted: Extracted) -> str:
    Path(extracted.path).unlink(missing_ok=True)
    activity.logger.info("compensated: removed extraction of %s", extracted.doc_id)
    return "discard_extraction"


ALL = [extract_text, summarize, publish, retract_summary, discard_extraction]
