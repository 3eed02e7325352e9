//! The cluster's tables: the shard count, shard leases and member heartbeats, under the rules
//! of both SQL backends — the stored shard count wins, leases move only by compare-and-set on
//! `range_id`, members expire by the database's clock — and the fence check every fenced write
//! makes.

use crate::tables::{MemberRow, Tables};
use endure_store::{Fence, Member, ShardLease, StoreError, StoreResult};

/// Stores `requested` as the shard count if none is stored (creating unowned leases at range 0)
/// and returns the stored count. A count to store must be `1..=i32::MAX` (shard ids are `i32`);
/// once one is stored, any request returns it (as SQLite; PostgreSQL refuses an invalid
/// request first).
pub(crate) fn init_shard_count(t: &mut Tables, requested: u32) -> StoreResult<u32> {
    if let Some(n) = t.shard_count {
        return Ok(n);
    }
    let last =
        i32::try_from(requested).ok().and_then(|n| n.checked_sub(1)).filter(|last| *last >= 0).ok_or_else(
            || StoreError::backend(format!("invalid shard count {requested}: must be 1..=2^31-1")),
        )?;
    t.shard_count = Some(requested);
    for shard in 0..=last {
        t.shards.entry(shard).or_insert_with(|| (String::new(), 0));
    }
    Ok(requested)
}

/// Records a heartbeat of `id`, live for `ttl_ms` from `now` (ns), and returns the live
/// members (this one only if its ttl has not already run out), ordered by id.
pub(crate) fn heartbeat(t: &mut Tables, now: i64, id: &str, address: &str, ttl_ms: i64) -> Vec<Member> {
    let expires_at = now.saturating_add(ttl_ms.saturating_mul(1_000_000));
    t.members.insert(id.to_owned(), MemberRow { address: address.to_owned(), expires_at });
    t.members
        .iter()
        .filter(|(_, m)| m.expires_at > now)
        .map(|(id, m)| Member { id: id.clone(), address: m.address.clone() })
        .collect()
}

/// Every shard lease, ordered by shard id.
pub(crate) fn leases(t: &Tables) -> Vec<ShardLease> {
    t.shards
        .iter()
        .map(|(&shard_id, (owner, range_id))| ShardLease {
            shard_id,
            owner: owner.clone(),
            range_id: *range_id,
        })
        .collect()
}

/// Takes a shard by compare-and-set on its range: `Conflict` if the range moved on or the shard
/// does not exist.
pub(crate) fn acquire(t: &mut Tables, shard_id: i32, owner: &str, expected: i64) -> StoreResult<ShardLease> {
    match t.shards.get_mut(&shard_id) {
        Some((o, range)) if *range == expected => {
            let next = range
                .checked_add(1)
                .ok_or_else(|| StoreError::backend(format!("shard {shard_id}'s range is at its maximum")))?;
            *o = owner.to_owned();
            *range = next;
            Ok(ShardLease { shard_id, owner: owner.to_owned(), range_id: next })
        }
        _ => Err(StoreError::conflict(format!(
            "shard {shard_id} is no longer at range {expected} (or does not exist)"
        ))),
    }
}

/// Clears the owner (keeping the range) if `owner` still holds the shard at `range_id`; a no-op
/// otherwise.
pub(crate) fn release(t: &mut Tables, shard_id: i32, owner: &str, range_id: i64) {
    if let Some((o, range)) = t.shards.get_mut(&shard_id)
        && o == owner
        && *range == range_id
    {
        o.clear();
    }
}

/// Fails with `ShardOwnershipLost` unless `fence` is its shard's current lease.
pub(crate) fn check_fence(t: &Tables, fence: &Fence) -> StoreResult<()> {
    match t.shards.get(&fence.shard_id) {
        Some((_, range)) if *range == fence.range_id => Ok(()),
        Some((_, range)) => Err(StoreError::ownership_lost(format!(
            "shard {} is at range {range}, this writer's lease is range {}",
            fence.shard_id, fence.range_id
        ))),
        None => Err(StoreError::ownership_lost(format!("shard {} has no lease row", fence.shard_id))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_counts_outside_the_shard_id_range_are_refused() {
        let mut t = Tables::new();
        for bad in [0, u32::MAX, 1 << 31] {
            let e = init_shard_count(&mut t, bad).expect_err("an invalid count");
            assert!(matches!(e, StoreError::Backend { .. }), "{e:?}");
        }
        assert!(t.shards.is_empty() && t.shard_count.is_none(), "nothing stored");
        assert_eq!(init_shard_count(&mut t, 3).ok(), Some(3));
        assert_eq!(init_shard_count(&mut t, 0).ok(), Some(3), "the stored count wins");
    }

    #[test]
    fn heartbeats_expire_by_the_given_time() {
        let mut t = Tables::new();
        heartbeat(&mut t, 0, "a", "x:1", 10);
        let live = heartbeat(&mut t, 5_000_000, "b", "x:2", 10);
        assert_eq!(live.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
        let live = heartbeat(&mut t, 10_000_000, "b", "x:2", 10);
        assert_eq!(live.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), vec!["b"], "a expired at 10 ms");
        let live = heartbeat(&mut t, 10_000_000, "c", "x:3", i64::MAX);
        assert_eq!(live.len(), 2, "a huge ttl saturates");
    }

    #[test]
    fn fences_hold_only_at_the_current_range() {
        let mut t = Tables::new();
        assert!(matches!(
            check_fence(&t, &Fence { shard_id: 0, range_id: 0 }),
            Err(StoreError::ShardOwnershipLost { .. })
        ));
        init_shard_count(&mut t, 1).expect("a count");
        check_fence(&t, &Fence { shard_id: 0, range_id: 0 }).expect("range 0 before any acquisition");
        let lease = acquire(&mut t, 0, "m", 0).expect("acquired");
        assert!(check_fence(&t, &Fence { shard_id: 0, range_id: 0 }).is_err());
        check_fence(&t, &Fence { shard_id: 0, range_id: lease.range_id }).expect("the new lease");
        release(&mut t, 0, "m", lease.range_id);
        check_fence(&t, &Fence { shard_id: 0, range_id: lease.range_id }).expect("release keeps the range");
    }
}
