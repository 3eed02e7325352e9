//! Cluster tables on SQLite: the shard count, shard leases and member heartbeats. A SQLite
//! database is used by one process, so this is a cluster of one, but the same rules apply as on
//! a shared database: the stored shard count wins, leases move only by compare-and-set on
//! `range_id`, and members expire by the clock of the database's host.

use crate::error::backend;
use endure_store::{Member, ShardLease, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, params};
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Stores `requested` as the shard count if none is stored (creating unowned leases) and returns
/// the stored count.
pub(crate) fn init_shard_count(c: &Connection, requested: u32) -> StoreResult<u32> {
    let stored: Option<i64> = c
        .query_row("SELECT value FROM cluster_metadata WHERE key = 'shard_count'", [], |r| r.get(0))
        .optional()
        .map_err(backend("reading the shard count"))?;
    if let Some(n) = stored {
        return u32::try_from(n)
            .map_err(|e| StoreError::corrupt(format!("stored shard count {n} is invalid")).with_source(e));
    }
    if requested == 0 {
        return Err(StoreError::backend("the shard count must be at least 1"));
    }
    c.execute("INSERT INTO cluster_metadata (key, value) VALUES ('shard_count', ?1)", params![requested])
        .map_err(backend("storing the shard count"))?;
    let mut s = c
        .prepare_cached("INSERT OR IGNORE INTO shards (shard_id, owner, range_id) VALUES (?1, '', 0)")
        .map_err(backend("creating the shard leases"))?;
    for shard in 0..requested {
        s.execute(params![shard]).map_err(backend("creating the shard leases"))?;
    }
    Ok(requested)
}

/// Records a heartbeat and returns the live members, ordered by id.
pub(crate) fn heartbeat(c: &Connection, id: &str, address: &str, ttl_ms: i64) -> StoreResult<Vec<Member>> {
    let now = now_ms();
    c.prepare_cached(
        "INSERT INTO cluster_members (id, address, expires_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (id) DO UPDATE SET address = excluded.address, expires_at = excluded.expires_at",
    )
    .and_then(|mut s| s.execute(params![id, address, now.saturating_add(ttl_ms)]))
    .map_err(backend("recording a heartbeat"))?;
    let mut s = c
        .prepare_cached("SELECT id, address FROM cluster_members WHERE expires_at > ?1 ORDER BY id")
        .map_err(backend("reading members"))?;
    let rows = s
        .query_map(params![now], |r| Ok(Member { id: r.get(0)?, address: r.get(1)? }))
        .map_err(backend("reading members"))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend("reading members"))
}

/// Every shard lease, by shard id.
pub(crate) fn leases(c: &Connection) -> StoreResult<Vec<ShardLease>> {
    let mut s = c
        .prepare_cached("SELECT shard_id, owner, range_id FROM shards ORDER BY shard_id")
        .map_err(backend("reading shard leases"))?;
    let rows = s
        .query_map([], |r| Ok(ShardLease { shard_id: r.get(0)?, owner: r.get(1)?, range_id: r.get(2)? }))
        .map_err(backend("reading shard leases"))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend("reading shard leases"))
}

/// Takes a shard by compare-and-set on its range.
pub(crate) fn acquire(c: &Connection, shard_id: i32, owner: &str, expected: i64) -> StoreResult<ShardLease> {
    let n = c
        .prepare_cached(
            "UPDATE shards SET owner = ?2, range_id = range_id + 1 WHERE shard_id = ?1 AND range_id = ?3",
        )
        .and_then(|mut s| s.execute(params![shard_id, owner, expected]))
        .map_err(backend("acquiring a shard"))?;
    if n != 1 {
        return Err(StoreError::conflict(format!("shard {shard_id} is no longer at range {expected}")));
    }
    Ok(ShardLease { shard_id, owner: owner.to_owned(), range_id: expected + 1 })
}
