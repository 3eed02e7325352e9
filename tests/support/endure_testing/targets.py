"""Which server a suite runs against, chosen by the environment, and how to make it.

* ``ENDURE_TEST_TARGET``: ``endure`` (default; the binary from ``ENDURE_BIN``, else
  ``target/debug/endure``) or ``temporal`` (the official dev server, the oracle that validates
  the tests themselves).
* ``ENDURE_TEST_STORE``: ``sqlite`` (default; ``endure server start-dev`` on a SQLite file) or
  ``postgres`` (the production server, ``endure server start``, on its own database on the
  PostgreSQL server ``ENDURE_TEST_POSTGRES_URL`` names, kept across restarts of that server).

Both the Python suite (tests/python/conftest.py) and the launcher other suites run under
(:mod:`endure_testing.serve`, e.g. the TypeScript suite) make their servers here.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from endure_testing.postgres import Database, postgres_url
from endure_testing.servers import (
    EndureDevServer,
    EndureServer,
    ServerProcess,
    TemporalDevServer,
    free_port,
)

# Extra namespace registered at server start (``--namespace``) in addition to "default",
# which both servers always create.
EXTRA_NAMESPACE = "endure-test-ns"


def target() -> str:
    """``endure`` or ``temporal``, from ``ENDURE_TEST_TARGET``."""
    t = os.environ.get("ENDURE_TEST_TARGET", "endure").strip().lower() or "endure"
    if t not in ("endure", "temporal"):
        raise ValueError(f"ENDURE_TEST_TARGET must be 'endure' or 'temporal', got {t!r}")
    return t


def store() -> str:
    """``sqlite`` or ``postgres``, from ``ENDURE_TEST_STORE``."""
    s = os.environ.get("ENDURE_TEST_STORE", "sqlite").strip().lower() or "sqlite"
    if s not in ("sqlite", "postgres"):
        raise ValueError(f"ENDURE_TEST_STORE must be 'sqlite' or 'postgres', got {s!r}")
    return s


def make_server(
    tmp_dir: Path,
    name: str = "server",
    search_attributes: dict[str, str] | None = None,
    temporal_args: list[str] | None = None,
    dynamic_config: dict[str, str] | None = None,
    env: dict[str, str | None] | None = None,
    endure_args: list[str] | None = None,
    ui: bool = False,
) -> ServerProcess:
    """The server the suite runs against (``ENDURE_TEST_TARGET``, ``ENDURE_TEST_STORE``),
    not started, on a free port with its data and log in ``tmp_dir``; started again on the
    same data after a stop or kill.

    ``search_attributes`` (name -> type) are registered in every start-up namespace
    (``--search-attribute`` of both dev servers, ``server.search_attributes`` of Endure's
    production server); ``temporal_args`` are extra flags for the real dev server only.

    ``dynamic_config`` (key -> value, the value as the JSON text the flag takes: ``"20"``,
    ``"true"``, ``'"text"'``) goes to both dev servers as ``--dynamic-config-value KEY=VALUE``
    flags, and to Endure's production server as ``ENDURE_SERVER_DYNAMIC_CONFIG``, the ``KEY=VALUE``
    pairs joined by commas (so a value must not contain a comma there).

    ``env`` (name -> value, None to unset) is the server process's extra environment, applied
    last at every start (:attr:`~endure_testing.servers.ServerProcess.extra_env`), whichever
    the target: e.g. ``OTEL_EXPORTER_OTLP_ENDPOINT``.

    ``endure_args`` are extra flags for Endure's dev server only (``endure server start-dev``,
    after the harness's own; a ``--log-level`` there replaces the default ``warn``): e.g.
    ``["--log-format", "json"]``. Endure's production server takes no flags (its settings are
    ``ENDURE_*`` variables: pass them in ``env``), so they are refused with
    ``ENDURE_TEST_STORE=postgres``; the real dev server ignores them.

    Every server serves the HTTP API (``server.http_url``); with ``ui`` it also serves the Web
    UI (``server.ui_url``), else it runs headless.
    """
    server = _make_server(
        tmp_dir, name, search_attributes, temporal_args, dynamic_config, endure_args or [], ui
    )
    server.extra_env = dict(env or {})
    return server


def _make_server(
    tmp_dir: Path,
    name: str,
    search_attributes: dict[str, str] | None,
    temporal_args: list[str] | None,
    dynamic_config: dict[str, str] | None,
    endure_args: list[str],
    ui: bool,
) -> ServerProcess:
    db_path = tmp_dir / f"{name}.db"
    log_path = tmp_dir / f"{name}.log"
    declared = [f"{k}={v}" for k, v in (search_attributes or {}).items()]
    flags = [f for d in declared for f in ("--search-attribute", d)]
    dynamic = [f"{k}={v}" for k, v in (dynamic_config or {}).items()]
    flags += [f for d in dynamic for f in ("--dynamic-config-value", d)]
    if target() == "temporal":
        return TemporalDevServer(
            name, log_path, db_path, [EXTRA_NAMESPACE], flags + (temporal_args or []), ui=ui
        )
    if store() == "sqlite":
        return EndureDevServer(
            name, log_path, db_path, [EXTRA_NAMESPACE], flags + endure_args, ui=ui
        )
    if endure_args:
        raise ValueError(
            f"endure_args {endure_args} with ENDURE_TEST_STORE=postgres: the production server "
            "takes ENDURE_* variables (env=), not flags"
        )
    # One database per server, named after its would-be SQLite file: kept across restarts.
    db = Database(
        postgres_url(), name="endure_py_" + uuid.uuid5(uuid.NAMESPACE_URL, str(db_path)).hex[:16]
    )
    db.create_if_missing()
    settings = {
        "ENDURE_SERVER_NAMESPACES": f"default,{EXTRA_NAMESPACE}",
        "ENDURE_CLUSTER_SHARDS": "4",
        "ENDURE_LOG_LEVEL": "warn",
        "ENDURE_STORAGE_POSTGRES_MAX_CONNECTIONS": "8",
    }
    if declared:
        settings["ENDURE_SERVER_SEARCH_ATTRIBUTES"] = ",".join(declared)
    if dynamic:
        if any("," in d for d in dynamic):
            raise ValueError(f"ENDURE_SERVER_DYNAMIC_CONFIG cannot carry a value with a comma: {dynamic}")
        settings["ENDURE_SERVER_DYNAMIC_CONFIG"] = ",".join(dynamic)
    server = EndureServer(name, log_path, db, settings)
    if ui:
        server.ui_port = free_port()
        server.settings["ENDURE_UI_LISTEN"] = f"{server.host}:{server.ui_port}"
    return server
