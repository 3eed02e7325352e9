//! The cluster's records: the shard count, member heartbeats and shard leases, and
//! [`ClusterStore`]. A [`Fence`] carries a lease into a commit.

use crate::StoreResult;
use async_trait::async_trait;

/// The shard lease a write is made under. A fenced write commits only if the shard's stored
/// `range_id` still equals the lease's, checked inside the write's transaction; otherwise it
/// fails with [`StoreError::ShardOwnershipLost`](crate::StoreError::ShardOwnershipLost) and
/// writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fence {
    /// History shard of the run.
    pub shard_id: i32,
    /// The writer's lease on it.
    pub range_id: i64,
}

/// A live member of the cluster (a server replica), as its last heartbeat recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Unique id of the replica process.
    pub id: String,
    /// `host:port` of its internal gRPC API.
    pub address: String,
}

/// The ownership record of one history shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardLease {
    /// Shard id, `0..shard_count`.
    pub shard_id: i32,
    /// Member id of the owner; empty when released or never taken.
    pub owner: String,
    /// Incremented by every acquisition; writes are fenced by it.
    pub range_id: i64,
}

/// Membership and shard ownership, shared by every replica through the database.
#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// The cluster's history shard count: stores `requested` if no count is stored yet (and
    /// creates the shards' lease rows, unowned, range 0), then returns the stored count — the
    /// count is fixed when the cluster is created.
    async fn init_shard_count(&self, requested: u32) -> StoreResult<u32>;
    /// Records a heartbeat of member `id` (reachable at `address`), live for `ttl_ms` by the
    /// database's clock, and returns every live member (this one included), ordered by id.
    async fn heartbeat_member(&self, id: &str, address: &str, ttl_ms: i64) -> StoreResult<Vec<Member>>;
    /// Removes a member's row (graceful leave); unknown ids are ignored.
    async fn remove_member(&self, id: &str) -> StoreResult<()>;
    /// Every shard's lease, ordered by shard id.
    async fn shard_leases(&self) -> StoreResult<Vec<ShardLease>>;
    /// Takes shard `shard_id` for `owner` if its `range_id` is still `expected_range_id`: sets
    /// the owner and increments the range, fencing out every earlier lease (in-flight fenced
    /// writes of the previous owner either commit before this or fail after it). Returns the
    /// new lease; [`StoreError::Conflict`](crate::StoreError::Conflict) if the range moved on
    /// (or the shard does not exist).
    async fn acquire_shard(
        &self,
        shard_id: i32,
        owner: &str,
        expected_range_id: i64,
    ) -> StoreResult<ShardLease>;
    /// Gives a shard up (owner cleared, range kept) if `owner` still holds it at `range_id`;
    /// a no-op otherwise.
    async fn release_shard(&self, shard_id: i32, owner: &str, range_id: i64) -> StoreResult<()>;
}
