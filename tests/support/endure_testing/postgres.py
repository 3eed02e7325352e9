"""Databases on the test PostgreSQL server, through the ``psql`` client.

``ENDURE_TEST_POSTGRES_URL`` names the server (``eval "$(bash scripts/postgres.sh start)"``
starts a throwaway one and sets it). Each Endure server under test gets a database of its own.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from urllib.parse import urlparse, urlunparse

import pytest


def postgres_url() -> str:
    """The PostgreSQL server the tests use; the test fails without one."""
    url = os.environ.get("ENDURE_TEST_POSTGRES_URL", "").strip()
    if not url:
        pytest.fail(
            "ENDURE_TEST_POSTGRES_URL is not set. Endure on PostgreSQL needs a PostgreSQL "
            'server: run `eval "$(bash scripts/postgres.sh start)"` first.',
            pytrace=False,
        )
    return url


class Database:
    """One database on the server ``server_url`` names (by default a new, unique name)."""

    def __init__(self, server_url: str, name: str | None = None):
        self.server_url = server_url
        self.name = name or f"endure_test_{uuid.uuid4().hex[:12]}"
        u = urlparse(server_url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 5432
        self.user = u.username or "postgres"
        self.url = urlunparse(u._replace(path="/" + self.name))

    def create(self) -> None:
        _psql(self.server_url, f'CREATE DATABASE "{self.name}"')

    def exists(self) -> bool:
        rows = _psql(self.server_url, f"SELECT 1 FROM pg_database WHERE datname = '{self.name}'")
        return bool(rows)

    def create_if_missing(self) -> None:
        if not self.exists():
            self.create()

    def drop(self) -> None:
        _psql(self.server_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)', check=False)

    def env(self) -> dict[str, str]:
        """The ``ENDURE_STORAGE_*`` settings of a server on this database."""
        return {
            "ENDURE_STORAGE_BACKEND": "postgres",
            "ENDURE_STORAGE_AUTO_MIGRATE": "true",
            "ENDURE_STORAGE_POSTGRES_HOST": self.host,
            "ENDURE_STORAGE_POSTGRES_PORT": str(self.port),
            "ENDURE_STORAGE_POSTGRES_USER": self.user,
            "ENDURE_STORAGE_POSTGRES_DATABASE": self.name,
        }

    def query(self, sql: str) -> list[list[str]]:
        """Rows of `sql` as lists of text (NULL is '')."""
        return _psql(self.url, sql)

    def scalar(self, sql: str) -> str:
        rows = self.query(sql)
        return rows[0][0] if rows and rows[0] else ""

    def execute(self, sql: str) -> None:
        _psql(self.url, sql)

    # -- Endure's cluster tables ----------------------------------------------

    def leases(self) -> dict[int, tuple[str, int]]:
        """shard -> (owner, range_id)."""
        return {
            int(s): (owner, int(r))
            for s, owner, r in self.query("SELECT shard_id, owner, range_id FROM shards ORDER BY shard_id")
        }

    def live_members(self) -> set[str]:
        return {
            r[0]
            for r in self.query("SELECT id FROM cluster_members WHERE expires_at > now()")
        }

    def namespace_id(self, name: str = "default") -> str:
        ns = self.scalar(f"SELECT id FROM namespaces WHERE name = '{name}'")
        assert ns, f"namespace {name!r} not found in {self.name}"
        return ns


_SEP = "\x1f"


def _psql(url: str, sql: str, check: bool = True) -> list[list[str]]:
    p = subprocess.run(
        ["psql", url, "-X", "-q", "-t", "-A", "-F", _SEP, "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if check and p.returncode != 0:
        raise RuntimeError(f"psql failed ({p.returncode}) on {sql!r}: {p.stderr.strip()}")
    return [line.split(_SEP) for line in p.stdout.splitlines() if line != ""]
