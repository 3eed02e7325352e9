"""Field-by-field comparison of API responses from two servers (tests/python/test_differential.py).

A response is turned into proto JSON (:func:`as_json`: camelCase, enums by name, unset fields
left out, set ones kept even when zero, as the wire carries them), then :func:`normalize`
replaces what legitimately differs between two servers and two runs (and drops the hints of
:data:`IGNORED_FIELDS`): timestamps, UUIDs (each
distinct one by its order of first appearance and its version, so "the same run id twice" and
"a time-ordered run id" still compare),
task tokens and ids, history sizes, sticky queue names, the order of the SDK's flag lists. :func:`differences` lists every path where two documents
disagree: a field one side lacks, a value that differs, a list of another length.

What is normalised is listed here and nowhere else; anything else that differs fails.

This is a support module, not a test file.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
# Times that mean "none" and are compared as they are: Go's zero time and the Unix epoch.
ZERO_TIMES = {"0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"}

# Fields whose value is the server's own business, replaced by a placeholder naming the field.
OPAQUE_FIELDS = {
    # Tokens encode server-internal ids; SDKs only hand them back.
    "taskToken",
    "nextPageToken",
    "conflictToken",
    # Internal sequence numbers: increasing, with gaps no client may rely on.
    "taskId",
    # Byte sizes of the server's own encoding of the history.
    "historySizeBytes",
    # How many transactions the server's implementation used (a child's start is two on the
    # real server, one in Endure).
    "stateTransitionCount",
    # Measured, not decided: how long the run took.
    "executionDuration",
}


# Durations measured by the server when not zero: a successor's first-task backoff is what is
# left of the second a tight continue-as-new loop is held to.
MEASURED_WHEN_NOT_ZERO = {"firstWorkflowTaskBackoff"}

# Fields left out on both sides: hints a server may give or not, depending on load.
IGNORED_FIELDS = {
    # "Add a poller" advice on a poll response, given when the queue has a backlog.
    "pollerScalingDecision",
}


# Lists whose order carries no meaning (the SDK sends its flags from a hash set).
UNORDERED_FIELDS = {"coreUsedFlags", "langUsedFlags"}

# A worker's sticky queue name: `<pid>@<host>-<random hex>`, new for every worker.
STICKY_QUEUE = re.compile(r"^\d+@.+-[0-9a-f]{32}$")


def as_json(message: Message) -> dict[str, Any]:
    """The message as proto JSON, as the wire carries it (unset fields absent)."""
    return MessageToDict(message)


def normalize(doc: Any) -> Any:
    """`doc` with times, UUIDs and opaque fields replaced by placeholders (see module docs)."""
    uuids: dict[str, str] = {}

    def uuid(text: str) -> str:
        # The placeholder keeps the UUID's version: run ids are time-ordered (v7) on both.
        return UUID.sub(
            lambda m: uuids.setdefault(m.group(0), f"<uuid{len(uuids) + 1}v{m.group(0)[14]}>"), text
        )

    def walk(value: Any, key: str | None) -> Any:
        if isinstance(value, dict):
            # Keys may be ids too (requestIdInfos is keyed by request id).
            return {uuid(k): walk(v, k) for k, v in value.items() if k not in IGNORED_FIELDS}
        if isinstance(value, list):
            items = [walk(v, key) for v in value]
            return sorted(items) if key in UNORDERED_FIELDS else items
        if key in OPAQUE_FIELDS:
            return f"<{key}>"
        if key in MEASURED_WHEN_NOT_ZERO and value != "0s":
            return f"<{key}>"
        if isinstance(value, str):
            if RFC3339.match(value) and value not in ZERO_TIMES:
                return "<time>"
            if STICKY_QUEUE.match(value):
                return "<sticky queue>"
            return uuid(value)
        return value

    return walk(doc, None)


def differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Every path where `ours` and `theirs` disagree, described for a test failure."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = []
        for key in sorted(set(ours) | set(theirs)):
            where = f"{path}.{key}" if path else key
            if key not in ours:
                found.append(f"{where}: missing (the real server has {theirs[key]!r})")
            elif key not in theirs:
                found.append(f"{where}: {ours[key]!r} (the real server has no such field)")
            else:
                found += differences(ours[key], theirs[key], where)
        return found
    if isinstance(ours, list) and isinstance(theirs, list):
        if len(ours) != len(theirs):
            return [f"{path}: {len(ours)} items, the real server has {len(theirs)}: {ours!r} vs {theirs!r}"]
        return [d for i, (a, b) in enumerate(zip(ours, theirs)) for d in differences(a, b, f"{path}[{i}]")]
    if ours != theirs:
        return [f"{path}: {ours!r}, the real server has {theirs!r}"]
    return []
