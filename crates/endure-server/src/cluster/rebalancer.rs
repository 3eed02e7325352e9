//! The heartbeat and shard-assignment loop of a replica in a shared cluster: heartbeat into the
//! store, read the leases when something may have moved, and take, release or forget shards so
//! that each is held by its rendezvous owner among the live members.

use super::hash::desired_owner;
use super::{Membership, Ownership, ShardEvents};
use crate::clock;
use crate::metrics;
use endure_store::{ClusterStore, Member, ShardLease, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Leases are re-read at least this often even when nothing seems to change (a lost shard
/// noticed without a failed write; an owner that gave a shard back).
const LEASE_REFRESH: Duration = Duration::from_secs(10);

/// The heartbeat and shard-assignment loop of a shared-cluster replica.
pub(super) struct Rebalancer {
    pub(super) store: Arc<dyn ClusterStore>,
    pub(super) events: Arc<dyn ShardEvents>,
    pub(super) ownership: Arc<Ownership>,
    pub(super) m: Membership,
    pub(super) members: Vec<Member>,
    /// When the leases were last read.
    pub(super) last_read: Option<tokio::time::Instant>,
    /// Some shard's lease was not with its assigned owner at the last read (a takeover or a
    /// handover in progress): read again next round, so routing follows within a heartbeat.
    pub(super) unsettled: bool,
}

impl Rebalancer {
    pub(super) async fn run(&mut self) {
        let mut interval = tokio::time::interval(self.m.heartbeat_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = self.ownership.stop.notified() => return,
            }
            if let Err(e) = self.tick().await {
                tracing::warn!("cluster heartbeat: {e}");
            }
        }
    }

    /// One round: heartbeat; if membership changed, a shard waits for us, or it is time,
    /// read the leases and take, release or forget shards to match the assignment.
    pub(super) async fn tick(&mut self) -> Result<(), StoreError> {
        let ttl = self.m.member_ttl.as_millis() as i64;
        // A replica that could not heartbeat for a member ttl (paused, cut off) was counted
        // dead and its shards may have been taken: look at the leases now, not at the next
        // refresh, so it stops answering from state it no longer owns.
        let lapsed = self.ownership.since_heartbeat().is_some_and(|gap| gap >= self.m.member_ttl);
        let members = self.store.heartbeat_member(&self.m.member_id, &self.m.advertise_address, ttl).await?;
        self.ownership.heartbeat_taken();
        let changed = members != self.members;
        if changed {
            metrics::shard_event(metrics::ShardEvent::MembershipChanged, 1);
        }
        self.members = members;
        let waiting = (0..self.ownership.shard_count() as i32).any(|s| {
            desired_owner(&self.members, s).is_some_and(|m| m.id == self.m.member_id)
                && !self.ownership.holds(s)
        });
        let now = clock::monotonic();
        let stale = self.last_read.is_none_or(|t| now.saturating_duration_since(t) >= LEASE_REFRESH);
        if !(changed || waiting || stale || lapsed || self.unsettled) {
            return Ok(());
        }
        let leases = self.store.shard_leases().await?;
        metrics::shard_event(metrics::ShardEvent::AcquireRound, 1);
        self.last_read = Some(now);
        self.reconcile(leases).await
    }

    async fn reconcile(&mut self, leases: Vec<ShardLease>) -> Result<(), StoreError> {
        let me = self.m.member_id.clone();
        let address_of: HashMap<&str, &str> =
            self.members.iter().map(|m| (m.id.as_str(), m.address.as_str())).collect();
        let mut owners = HashMap::new();
        let mut settled = true;
        for lease in leases {
            let shard = lease.shard_id;
            let desired = desired_owner(&self.members, shard).map(|m| m.id.clone());
            if desired.as_deref() != Some(lease.owner.as_str()) {
                settled = false;
            }
            let held = self.ownership.held_range(shard);
            let owner_live = address_of.contains_key(lease.owner.as_str());
            if lease.owner == me && held == Some(lease.range_id) {
                // Ours. Hand it over if a live member should have it instead.
                if desired.as_deref().is_some_and(|d| d != me) {
                    self.ownership.lose(shard, lease.range_id);
                    self.events.shard_lost(shard);
                    self.store.release_shard(shard, &me, lease.range_id).await?;
                    tracing::info!(shard, to = ?desired, "handed shard over");
                } else {
                    owners.insert(shard, (me.clone(), self.m.advertise_address.clone()));
                }
                continue;
            }
            if let Some(range) = held {
                // We thought we held it, but the lease moved on: someone took it.
                self.ownership.lose(shard, range);
                self.events.shard_lost(shard);
                tracing::warn!(shard, owner = %lease.owner, "shard taken over by another member");
            }
            if lease.owner == me && desired.as_deref().is_some_and(|d| d != me) {
                // A lease under our name that we do not hold (an earlier process at this
                // address): give it back so the member that should have it can take it.
                self.store.release_shard(shard, &me, lease.range_id).await?;
                continue;
            }
            let free = lease.owner.is_empty() || !owner_live || lease.owner == me;
            if free && desired.as_deref() == Some(me.as_str()) {
                match self.store.acquire_shard(shard, &me, lease.range_id).await {
                    Ok(taken) => {
                        tracing::info!(shard, range = taken.range_id, from = %lease.owner, "acquired shard");
                        self.ownership.hold(&taken, &self.m.advertise_address);
                        self.events.shard_acquired(shard).await;
                        owners.insert(shard, (me.clone(), self.m.advertise_address.clone()));
                    }
                    Err(StoreError::Conflict { .. }) => {} // someone else moved first; next round
                    Err(e) => return Err(e),
                }
            } else if owner_live {
                let addr = address_of.get(lease.owner.as_str()).copied().unwrap_or_default();
                owners.insert(shard, (lease.owner.clone(), addr.to_owned()));
            }
        }
        self.unsettled = !settled;
        if self.ownership.set_owners(owners) {
            // Task queues may have moved with their shards: offer every pending task of our
            // shards again so each reaches its queue's current owner (duplicates are dropped).
            self.events.owners_changed().await;
        }
        Ok(())
    }
}
