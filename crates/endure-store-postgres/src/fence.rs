//! Fencing: how a write proves its shard lease is current. Every fenced write takes the
//! per-shard advisory lock *shared* ([`FENCE_LOCK_SQL`]; acquisitions and releases take it
//! exclusive in `cluster.rs`, so an acquisition waits only for the writes already in flight —
//! see there for why a row lock alone is not fair), then reads the shards' rows `FOR SHARE`
//! ([`FENCE_SQL`]) and [`check`]s each lease against them, inside the write's transaction.
//!
//! A leaf: it knows the lock's key and the check, not which writes use them (commits in
//! `commit.rs`, stale-task deletions in `store.rs`).

use crate::error::unreadable;
use endure_store::{Fence, StoreError, StoreResult};
use std::collections::HashMap;

/// First key of the per-shard advisory locks ("Endu"); the second is the shard id.
pub(crate) const SHARD_LOCK_CLASS: i32 = 0x456E_6475;

/// Shared advisory locks on the fenced shards, in shard order (`$1`: [`SHARD_LOCK_CLASS`],
/// `$2`: the shard ids).
pub(crate) const FENCE_LOCK_SQL: &str = "SELECT pg_advisory_xact_lock_shared($1::integer, s) \
     FROM unnest($2::integer[]) AS s ORDER BY s";

/// The fenced shards' leases, locked against acquisition until the transaction ends (`$1`: the
/// shard ids).
pub(crate) const FENCE_SQL: &str = "SELECT shard_id, range_id FROM shards WHERE shard_id = ANY($1::integer[]) \
     ORDER BY shard_id FOR SHARE";

/// Checks every lease of `fences` against the `shards` rows [`FENCE_SQL`] returned.
pub(crate) fn check(
    fences: impl IntoIterator<Item = Fence>,
    rows: &[tokio_postgres::Row],
) -> StoreResult<()> {
    let mut ranges: HashMap<i32, i64> = HashMap::with_capacity(rows.len());
    for r in rows {
        let shard: i32 = r.try_get(0).map_err(|e| unreadable("shard leases", e))?;
        let range: i64 = r.try_get(1).map_err(|e| unreadable("shard leases", e))?;
        ranges.insert(shard, range);
    }
    for f in fences {
        match ranges.get(&f.shard_id) {
            Some(&range) if range == f.range_id => {}
            Some(&range) => {
                return Err(StoreError::ownership_lost(format!(
                    "shard {} is at range {range}, this writer's lease is range {}",
                    f.shard_id, f.range_id
                )));
            }
            None => {
                return Err(StoreError::ownership_lost(format!("shard {} has no lease row", f.shard_id)));
            }
        }
    }
    Ok(())
}
