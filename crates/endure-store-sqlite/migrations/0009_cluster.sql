-- Endure embedded schema, version 9: history shards. Every task belongs to the shard of its
-- run (so a shard's owner loads only its own), and the cluster tables hold the shard count,
-- the shard leases (owner, range_id) that fence writes, and the live members. A dev server is a
-- cluster of one that owns every shard.
ALTER TABLE tasks ADD COLUMN shard_id INTEGER NOT NULL DEFAULT 0;

CREATE TABLE cluster_metadata (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE shards (
    shard_id INTEGER PRIMARY KEY,
    owner    TEXT NOT NULL,
    range_id INTEGER NOT NULL
);

-- expires_at: unix milliseconds
CREATE TABLE cluster_members (
    id         TEXT PRIMARY KEY,
    address    TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
