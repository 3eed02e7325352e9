-- Endure embedded schema, version 1.
CREATE TABLE IF NOT EXISTS namespaces (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    data BLOB NOT NULL
);

-- workflow id -> its latest run
CREATE TABLE IF NOT EXISTS current_runs (
    namespace_id     TEXT NOT NULL,
    workflow_id      TEXT NOT NULL,
    run_id           TEXT NOT NULL,
    status           INTEGER NOT NULL,
    start_request_id TEXT NOT NULL,
    PRIMARY KEY (namespace_id, workflow_id)
) WITHOUT ROWID;

-- mutable state of every run
CREATE TABLE IF NOT EXISTS runs (
    namespace_id TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    state        BLOB NOT NULL,
    db_version   INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, workflow_id, run_id)
) WITHOUT ROWID;

-- append-only history
CREATE TABLE IF NOT EXISTS events (
    namespace_id TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    event_id     INTEGER NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (namespace_id, workflow_id, run_id, event_id)
) WITHOUT ROWID;

-- transfer (fire_at NULL) and timer tasks: the outbox
CREATE TABLE IF NOT EXISTS tasks (
    task_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace_id TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    fire_at      INTEGER,
    data         BLOB NOT NULL
);

-- searchable run summaries
CREATE TABLE IF NOT EXISTS visibility (
    namespace_id           TEXT NOT NULL,
    run_id                 TEXT NOT NULL,
    workflow_id            TEXT NOT NULL,
    workflow_type          TEXT NOT NULL,
    task_queue             TEXT NOT NULL,
    status                 INTEGER NOT NULL,
    start_time             INTEGER NOT NULL,
    execution_time         INTEGER NOT NULL,
    close_time             INTEGER NOT NULL,
    history_length         INTEGER NOT NULL,
    history_size_bytes     INTEGER NOT NULL,
    state_transition_count INTEGER NOT NULL,
    memo                   BLOB NOT NULL,
    search_attributes      BLOB NOT NULL,
    PRIMARY KEY (namespace_id, run_id)
);
CREATE INDEX IF NOT EXISTS visibility_by_start ON visibility (namespace_id, start_time DESC, run_id DESC);
CREATE INDEX IF NOT EXISTS visibility_by_workflow_id ON visibility (namespace_id, workflow_id);
CREATE INDEX IF NOT EXISTS visibility_by_type ON visibility (namespace_id, workflow_type, start_time DESC);
CREATE INDEX IF NOT EXISTS visibility_by_status ON visibility (namespace_id, status, start_time DESC);
