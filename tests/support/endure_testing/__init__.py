"""What the Python test suites share: the one way they launch servers and ask about shards.

Both suites put ``tests/support`` on ``sys.path`` (``pythonpath`` in their pytest.ini):

* :mod:`endure_testing.servers`: server processes — Endure's dev server on SQLite
  (``endure server start-dev``), Endure's production server on PostgreSQL (``endure server
  start``, configured by ``ENDURE_*`` variables; also a cluster replica), and the real Temporal
  dev server (the oracle). Start-up with a readiness wait, the log, kill -9, SIGSTOP/SIGCONT,
  graceful stop.
* :mod:`endure_testing.postgres`: a database per server on the PostgreSQL server
  ``ENDURE_TEST_POSTGRES_URL`` names, through ``psql``.
* :mod:`endure_testing.shards`: the shard of a workflow id or task queue and the owner of a
  shard, answered by the binary itself (``endure debug shards``), never re-implemented here.

A missing binary, CLI or PostgreSQL URL fails the test (``pytest.fail``): nothing is skipped.
"""
