-- Endure PostgreSQL schema, version 2: a cluster of replicas sharing the database.

-- One row: the number of history shards, fixed when the cluster is created.
CREATE TABLE cluster_metadata (
    id          integer PRIMARY KEY CHECK (id = 1),
    shard_count integer NOT NULL CHECK (shard_count > 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The lease of each history shard. Every acquisition increments range_id; every fenced write
-- checks it (SELECT ... FOR SHARE) inside its own transaction.
CREATE TABLE shards (
    shard_id integer PRIMARY KEY,
    owner    text COLLATE "C" NOT NULL DEFAULT '',
    range_id bigint NOT NULL DEFAULT 0
);

-- Live replicas: each heartbeat pushes expires_at (by the database's clock) forward.
CREATE TABLE cluster_members (
    id         text COLLATE "C" PRIMARY KEY,
    address    text NOT NULL,
    expires_at timestamptz NOT NULL
);
