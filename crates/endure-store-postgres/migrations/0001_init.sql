-- Endure PostgreSQL schema, version 1: namespaces, runs, history, the task outbox, visibility
-- and the custom search attribute registry.
--
-- Every identifier column is COLLATE "C": equality, ordering (listing order, keyset cursors,
-- STARTS_WITH ranges) are byte-wise, as in the SQLite backend, whatever the database's locale.

CREATE TABLE namespaces (
    id   text COLLATE "C" PRIMARY KEY,
    name text COLLATE "C" NOT NULL UNIQUE,
    data bytea NOT NULL
);

-- workflow id -> its latest run
CREATE TABLE current_runs (
    namespace_id     text COLLATE "C" NOT NULL,
    workflow_id      text COLLATE "C" NOT NULL,
    run_id           text COLLATE "C" NOT NULL,
    status           integer NOT NULL,
    start_request_id text NOT NULL,
    PRIMARY KEY (namespace_id, workflow_id)
);

-- mutable state of every run; db_version is the optimistic-concurrency version
CREATE TABLE runs (
    namespace_id text COLLATE "C" NOT NULL,
    workflow_id  text COLLATE "C" NOT NULL,
    run_id       text COLLATE "C" NOT NULL,
    state        bytea NOT NULL,
    db_version   bigint NOT NULL,
    PRIMARY KEY (namespace_id, workflow_id, run_id)
);

-- append-only history
CREATE TABLE events (
    namespace_id text COLLATE "C" NOT NULL,
    workflow_id  text COLLATE "C" NOT NULL,
    run_id       text COLLATE "C" NOT NULL,
    event_id     bigint NOT NULL,
    data         bytea NOT NULL,
    PRIMARY KEY (namespace_id, workflow_id, run_id, event_id)
);

-- transfer (fire_at NULL) and timer tasks: the outbox, per history shard
CREATE TABLE tasks (
    task_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shard_id     integer NOT NULL,
    namespace_id text COLLATE "C" NOT NULL,
    workflow_id  text COLLATE "C" NOT NULL,
    run_id       text COLLATE "C" NOT NULL,
    fire_at      bigint,
    data         bytea NOT NULL
);
-- load_transfer_tasks(shards): a shard's transfer tasks in id order
CREATE INDEX tasks_transfer ON tasks (shard_id, task_id) WHERE fire_at IS NULL;
-- load_timer_tasks(shards, after, until): a shard's timers by fire time
CREATE INDEX tasks_timer ON tasks (shard_id, fire_at, task_id) WHERE fire_at IS NOT NULL;
-- delete_run
CREATE INDEX tasks_by_run ON tasks (namespace_id, workflow_id, run_id);

-- searchable run summaries
CREATE TABLE visibility (
    namespace_id           text COLLATE "C" NOT NULL,
    run_id                 text COLLATE "C" NOT NULL,
    workflow_id            text COLLATE "C" NOT NULL,
    workflow_type          text COLLATE "C" NOT NULL,
    task_queue             text COLLATE "C" NOT NULL,
    status                 integer NOT NULL,
    start_time             bigint NOT NULL,
    execution_time         bigint NOT NULL,
    close_time             bigint NOT NULL,
    -- The first key of the listing order: open runs (close_time 0) after every closed one.
    close_key              bigint GENERATED ALWAYS AS
                               (CASE WHEN close_time = 0 THEN 9223372036854775807 ELSE close_time END) STORED,
    history_length         bigint NOT NULL,
    history_size_bytes     bigint NOT NULL,
    state_transition_count bigint NOT NULL,
    memo                   bytea NOT NULL,
    search_attributes      bytea NOT NULL,
    parent_workflow_id     text COLLATE "C" NOT NULL,
    parent_run_id          text COLLATE "C" NOT NULL,
    root_workflow_id       text COLLATE "C" NOT NULL,
    root_run_id            text COLLATE "C" NOT NULL,
    -- custom search attribute values: name -> value (KeywordList: an array of strings;
    -- Bool: 0/1; Datetime: ns since the epoch)
    custom                 jsonb NOT NULL DEFAULT '{}',
    -- for Text attributes' word match: name -> the value's distinct lower-cased words
    custom_words           jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (namespace_id, run_id)
);
-- The listing order (running first by start time, then closed by close time; ties by start
-- time, run id), newest first, and the same order under the usual equality filters, so a page
-- is an index range walk that stops after `limit` rows.
CREATE INDEX visibility_by_order ON visibility (namespace_id, close_key DESC, start_time DESC, run_id DESC);
CREATE INDEX visibility_by_status ON visibility
    (namespace_id, status, close_key DESC, start_time DESC, run_id DESC);
CREATE INDEX visibility_by_type ON visibility
    (namespace_id, workflow_type, status, close_key DESC, start_time DESC, run_id DESC);
CREATE INDEX visibility_by_workflow_id ON visibility (namespace_id, workflow_id);

-- custom search attributes registered per namespace (type: Temporal's IndexedValueType number)
CREATE TABLE search_attributes (
    namespace_id text COLLATE "C" NOT NULL,
    name         text COLLATE "C" NOT NULL,
    type         integer NOT NULL,
    PRIMARY KEY (namespace_id, name)
);
