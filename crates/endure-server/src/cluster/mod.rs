//! History shards and cluster membership.
//!
//! Every workflow id belongs to one of a fixed number of history shards (a hash of namespace id
//! and workflow id, [`hash`]). A replica writes a run only while it holds the run's shard
//! lease: every commit carries the lease as a [`Fence`](endure_store::Fence) and the store
//! refuses it once another replica has taken the shard (the shard's `range_id` moved on), so a
//! replica that lost a shard — paused, partitioned, slow — can never write to it again.
//!
//! Which replica owns which shard is decided by rendezvous hashing over the live members: every
//! member computes the same assignment from the same member list, so shards move only when
//! membership changes, and only the shards of the member that joined or left. Members heartbeat
//! into the store; a member whose heartbeat lapses is dead and its shards are taken over. A
//! member whose shards are wanted by a newcomer releases them (graceful handover), as does a
//! member that is shutting down.
//!
//! A dev server ([`Mode::Exclusive`]) is a cluster of one: it takes every shard at start without
//! waiting for leases to lapse and never heartbeats.
//!
//! This module does not know what a shard holds. It tells whoever owns the work (the history
//! engine) through [`ShardEvents`] when a shard was acquired or lost and when owners moved;
//! [`Ownership`] is what everyone else reads to route.

pub mod hash;
mod ownership;
mod rebalancer;

pub use hash::{desired_owner, fnv1a, queue_shard, shard_of, stable_hash};
pub use ownership::Ownership;

use endure_store::{ClusterStore, StoreError};
use rebalancer::Rebalancer;
use std::sync::Arc;
use std::time::Duration;

/// How a server takes part in the cluster.
#[derive(Debug, Clone)]
pub enum Mode {
    /// The only process on its store (dev server on SQLite): owns every shard at once.
    Exclusive,
    /// One of several replicas sharing the store.
    Shared(Membership),
}

/// Settings of a replica in a shared cluster.
#[derive(Debug, Clone)]
pub struct Membership {
    /// This replica's unique member id.
    pub member_id: String,
    /// `host:port` other replicas reach this one's internal API at.
    pub advertise_address: String,
    /// Heartbeat period.
    pub heartbeat_interval: Duration,
    /// A member whose last heartbeat is older than this is dead.
    pub member_ttl: Duration,
}

/// What the owner of the shards' work is told as ownership changes. Implemented by the history
/// engine; the cluster never names it.
#[async_trait::async_trait]
pub trait ShardEvents: Send + Sync {
    /// This replica just took `shard` (its lease is held): forget what is cached about its
    /// runs and load its pending tasks.
    async fn shard_acquired(&self, shard: i32);
    /// This replica no longer holds `shard`.
    fn shard_lost(&self, shard: i32);
    /// The owners of some shards changed (task queues may have moved with them): offer the
    /// pending tasks of the held shards again.
    async fn owners_changed(&self);
}

/// Errors joining the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The store failed.
    #[error("cluster store: {0}")]
    Store(#[from] StoreError),
}

/// Joins the cluster: fixes the shard count, takes this replica's shards (telling `events`)
/// and, in a shared cluster, keeps heartbeating and rebalancing until [`leave`] is called.
/// Returns the heartbeat task (none in exclusive mode).
pub async fn join(
    store: Arc<dyn ClusterStore>,
    events: Arc<dyn ShardEvents>,
    ownership: Arc<Ownership>,
    mode: Mode,
    requested_shards: u32,
) -> Result<Option<tokio::task::JoinHandle<()>>, ClusterError> {
    let count = store.init_shard_count(requested_shards).await?;
    ownership.set_shard_count(count);
    if count != requested_shards {
        tracing::info!(stored = count, requested = requested_shards, "the cluster's stored shard count wins");
    }
    match mode {
        Mode::Exclusive => {
            // Alone: one membership (this process) and one round of acquisition.
            crate::metrics::shard_event(crate::metrics::ShardEvent::MembershipChanged, 1);
            crate::metrics::shard_event(crate::metrics::ShardEvent::AcquireRound, 1);
            for lease in store.shard_leases().await? {
                let mut range = lease.range_id;
                let taken = loop {
                    match store.acquire_shard(lease.shard_id, ownership.member_id(), range).await {
                        Ok(l) => break l,
                        Err(StoreError::Conflict { .. }) => {
                            range = current_range(&*store, lease.shard_id).await?;
                        }
                        Err(e) => return Err(e.into()),
                    }
                };
                ownership.hold(&taken, "");
                events.shard_acquired(taken.shard_id).await;
            }
            ownership.set_ready(true);
            Ok(None)
        }
        Mode::Shared(m) => {
            ownership.expect_heartbeats(m.member_ttl.max(Duration::from_millis(1)));
            let mut r = Rebalancer {
                store,
                events,
                ownership: ownership.clone(),
                m,
                members: vec![],
                last_read: None,
                unsettled: true,
            };
            r.tick().await?;
            ownership.set_ready(true);
            Ok(Some(tokio::spawn(async move { r.run().await })))
        }
    }
}

async fn current_range(store: &dyn ClusterStore, shard: i32) -> Result<i64, StoreError> {
    store
        .shard_leases()
        .await?
        .into_iter()
        .find(|l| l.shard_id == shard)
        .map(|l| l.range_id)
        .ok_or_else(|| StoreError::corrupt(format!("shard {shard} has no lease row")))
}

/// Hands this replica's shards over and leaves the membership (graceful shutdown). Stops the
/// heartbeat loop first so nothing is re-acquired.
pub async fn leave(
    store: &dyn ClusterStore,
    events: &dyn ShardEvents,
    ownership: &Ownership,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
) {
    ownership.begin_stopping();
    if let Some(h) = heartbeat {
        let _ = h.await;
    }
    ownership.set_ready(false);
    for (shard, range) in ownership.held() {
        ownership.lose(shard, range);
        events.shard_lost(shard);
        if let Err(e) = store.release_shard(shard, ownership.member_id(), range).await {
            tracing::warn!(shard, "releasing shard: {e}");
        }
    }
    if let Err(e) = store.remove_member(ownership.member_id()).await {
        tracing::warn!("leaving the membership: {e}");
    }
}
