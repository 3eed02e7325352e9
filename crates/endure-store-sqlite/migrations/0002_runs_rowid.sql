-- Endure embedded schema, version 2.
--
-- `runs` moves from a WITHOUT ROWID table to an ordinary rowid table with a unique key index.
-- A WITHOUT ROWID table keeps at most about 1 KB of a row on its b-tree page (4 KiB pages); a
-- mutable state is larger, so every run spilled into its own overflow page: 4 KiB on disk per
-- run and an extra page written by every transition. A rowid table keeps rows up to a page
-- long inline.
CREATE TABLE runs_v2 (
    id           INTEGER PRIMARY KEY,
    namespace_id TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    state        BLOB NOT NULL,
    db_version   INTEGER NOT NULL
);
INSERT INTO runs_v2 (namespace_id, workflow_id, run_id, state, db_version)
    SELECT namespace_id, workflow_id, run_id, state, db_version FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v2 RENAME TO runs;
CREATE UNIQUE INDEX runs_by_key ON runs (namespace_id, workflow_id, run_id);
