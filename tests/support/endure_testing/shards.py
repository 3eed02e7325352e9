"""Shard placement as the server computes it, asked of the binary (``endure debug shards``).

The harness never re-implements the shard hash or the rendezvous assignment: one
``endure debug shards`` process (started on first use, ended at interpreter exit or by
:func:`close`) answers every question over a pipe, one JSON line each, so a loop probing
hundreds of ids costs one process.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import threading
from typing import Any, Callable, Iterable

from endure_testing.servers import endure_bin

# Queries written before their answers are read: small enough that the answers never fill
# the pipe while we are still writing.
_CHUNK = 256


class ShardOracle:
    """One ``endure debug shards`` process."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [str(endure_bin()), "debug", "shards"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._lock = threading.Lock()

    def ask(self, queries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The answers to `queries`, in order (a query the binary refuses fails)."""
        queries = list(queries)
        answers: list[dict[str, Any]] = []
        with self._lock:
            for i in range(0, len(queries), _CHUNK):
                chunk = queries[i : i + _CHUNK]
                self._proc.stdin.write("".join(json.dumps(q) + "\n" for q in chunk))
                self._proc.stdin.flush()
                for q in chunk:
                    line = self._proc.stdout.readline()
                    if not line:
                        raise RuntimeError(
                            f"`endure debug shards` exited ({self._proc.poll()}) on {q}"
                        )
                    answer = json.loads(line)
                    if "error" in answer:
                        raise ValueError(f"`endure debug shards` refused {q}: {answer['error']}")
                    answers.append(answer)
        return answers

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


_oracle: ShardOracle | None = None
_oracle_lock = threading.Lock()


def oracle() -> ShardOracle:
    """The process shared by this interpreter."""
    global _oracle
    with _oracle_lock:
        if _oracle is None:
            _oracle = ShardOracle()
            atexit.register(close)
        return _oracle


def close() -> None:
    global _oracle
    with _oracle_lock:
        if _oracle is not None:
            _oracle.close()
            _oracle = None


def shard_of_query(shard_count: int, namespace_id: str, workflow_id: str) -> dict[str, Any]:
    return {
        "op": "shard_of",
        "shard_count": shard_count,
        "namespace_id": namespace_id,
        "workflow_id": workflow_id,
    }


def shards_of(shard_count: int, namespace_id: str, workflow_ids: Iterable[str]) -> list[int]:
    """The shard of each workflow id, in one round of questions."""
    queries = [shard_of_query(shard_count, namespace_id, wf) for wf in workflow_ids]
    return [a["shard"] for a in oracle().ask(queries)]


def shard_of(shard_count: int, namespace_id: str, workflow_id: str) -> int:
    """The shard of a workflow id."""
    return shards_of(shard_count, namespace_id, [workflow_id])[0]


def queue_shard(shard_count: int, namespace_id: str, task_queue: str) -> int:
    """The shard whose owner hosts a task queue's matching."""
    [a] = oracle().ask(
        [
            {
                "op": "queue_shard",
                "shard_count": shard_count,
                "namespace_id": namespace_id,
                "task_queue": task_queue,
            }
        ]
    )
    return a["shard"]


def owners(member_ids: Iterable[str], shards: Iterable[int]) -> dict[int, str | None]:
    """The rendezvous owner of each shard among `member_ids` (None without members)."""
    members = list(member_ids)
    shards = list(shards)
    answers = oracle().ask([{"op": "owner", "shard": s, "members": members} for s in shards])
    return {s: a["owner"] for s, a in zip(shards, answers)}


def workflow_ids(
    shard_count: int,
    namespace_id: str,
    prefix: str,
    count: int,
    where: Callable[[int], bool],
    limit: int = 100_000,
) -> list[str]:
    """The first `count` ids ``<prefix>-<k>`` (k = 0, 1, …) whose shard satisfies `where`,
    asked in batches."""
    out: list[str] = []
    k = 0
    while len(out) < count:
        if k >= limit:
            raise ValueError(f"only {len(out)} of {count} ids among the first {limit} {prefix}-<k>")
        batch = [f"{prefix}-{i}" for i in range(k, k + _CHUNK)]
        k += _CHUNK
        for wf, shard in zip(batch, shards_of(shard_count, namespace_id, batch)):
            if where(shard) and len(out) < count:
                out.append(wf)
    return out
