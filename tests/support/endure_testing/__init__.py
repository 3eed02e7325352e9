"""What the Python test suites and the chaos soak (bench/chaos) share: the one way they launch
servers, ask about shards and check histories.

The suites put ``tests/support`` on ``sys.path`` (``pythonpath`` in their pytest.ini; the
soak's bench/chaos.sh sets PYTHONPATH):

* :mod:`endure_testing.servers`: server processes — Endure's dev server on SQLite
  (``endure server start-dev``), Endure's production server on PostgreSQL (``endure server
  start``, configured by ``ENDURE_*`` variables; also a cluster replica), and the real Temporal
  dev server (the oracle). Start-up with a readiness wait, the log, kill -9, SIGSTOP/SIGCONT,
  graceful stop.
* :mod:`endure_testing.postgres`: a database per server on the PostgreSQL server
  ``ENDURE_TEST_POSTGRES_URL`` names, through ``psql``.
* :mod:`endure_testing.shards`: the shard of a workflow id or task queue and the owner of a
  shard, answered by the binary itself (``endure debug shards``), never re-implemented here.
* :mod:`endure_testing.cluster`: replicas of one database, started together, with the wait
  for a settled shard assignment and the diagnostics (shard table, members, log tails).
* :mod:`endure_testing.netns`: hosts in network namespaces on a bridge, whose links can be
  cut (a server runs in one with ``netns=``).
* :mod:`endure_testing.histories`: what a valid workflow history looks like.
* :mod:`endure_testing.sdk`: the one worker factory; quieter SDK core logs.

A missing binary, CLI or PostgreSQL URL fails the test (``pytest.fail``): nothing is skipped.
"""
