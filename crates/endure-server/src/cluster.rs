//! History shards and cluster membership.
//!
//! Every workflow id belongs to one of a fixed number of history shards (a hash of namespace id
//! and workflow id). A replica writes a run only while it holds the run's shard lease: every
//! commit carries the lease as a [`Fence`] and the store refuses it once another replica has
//! taken the shard (the shard's `range_id` moved on), so a replica that lost a shard — paused,
//! partitioned, slow — can never write to it again.
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

use crate::history::Engine;
use endure_store::{Fence, Member, ShardLease, Store, StoreError};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

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

/// The stable hash that places a workflow id in a shard (FNV-1a, 64 bit: the same on every
/// replica and every version, unlike std's hasher).
pub fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0xff;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in p.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// [`fnv1a`] with a final avalanche (MurmurHash3's fmix64), so every output bit depends on
/// every input bit: FNV alone leaves the high bits of short keys poorly mixed, which skews
/// rendezvous weights.
pub fn stable_hash(parts: &[&str]) -> u64 {
    let mut h = fnv1a(parts);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The shard of a workflow id among `shard_count` shards.
pub fn shard_of(shard_count: u32, namespace_id: &str, workflow_id: &str) -> i32 {
    (stable_hash(&[namespace_id, workflow_id]) % u64::from(shard_count.max(1))) as i32
}

/// The shard of a task queue among `shard_count` shards: the queue's matching lives on that
/// shard's owner (every kind of the queue, so a worker's workflow and activity polls go to one
/// replica).
pub fn queue_shard(shard_count: u32, namespace_id: &str, queue: &str) -> i32 {
    (stable_hash(&[namespace_id, "\u{1}task-queue", queue]) % u64::from(shard_count.max(1))) as i32
}

/// Rendezvous (highest random weight) choice of a shard's owner among `members`.
pub fn desired_owner(members: &[Member], shard: i32) -> Option<&Member> {
    let s = shard.to_string();
    members.iter().max_by_key(|m| (stable_hash(&[&m.id, &s]), m.id.clone()))
}

/// Who owns which shard, as this replica knows it.
pub struct Ownership {
    me: String,
    shard_count: AtomicU32,
    state: RwLock<Routing>,
    /// True once the first assignment round finished and the store answered recently.
    ready: AtomicBool,
    /// Unix ms of the last successful heartbeat (shared mode).
    last_heartbeat: AtomicI64,
    /// The member ttl in ms in a shared cluster (0: exclusive, no heartbeats).
    ttl_ms: AtomicI64,
    /// Woken when this replica should stop (shutdown).
    stop: Notify,
    /// Set when shutdown began.
    stopping: AtomicBool,
}

#[derive(Default)]
struct Routing {
    /// Shards this replica holds, with their lease's range.
    owned: HashMap<i32, i64>,
    /// The owner of every shard as last read: (member id, internal address).
    owners: HashMap<i32, (String, String)>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Ownership {
    /// Ownership of nothing yet, for member `me`.
    pub fn new(me: &str) -> Arc<Self> {
        Arc::new(Ownership {
            me: me.to_owned(),
            shard_count: AtomicU32::new(1),
            state: RwLock::new(Routing::default()),
            ready: AtomicBool::new(false),
            last_heartbeat: AtomicI64::new(0),
            ttl_ms: AtomicI64::new(0),
            stop: Notify::new(),
            stopping: AtomicBool::new(false),
        })
    }

    /// This replica's member id.
    pub fn member_id(&self) -> &str {
        &self.me
    }

    /// The number of history shards.
    pub fn shard_count(&self) -> u32 {
        self.shard_count.load(Ordering::Relaxed)
    }

    /// The shard of a workflow id ([`shard_of`]).
    pub fn shard_of(&self, namespace_id: &str, workflow_id: &str) -> i32 {
        shard_of(self.shard_count(), namespace_id, workflow_id)
    }

    /// The shard of a task queue ([`queue_shard`]).
    pub fn queue_shard(&self, namespace_id: &str, queue: &str) -> i32 {
        queue_shard(self.shard_count(), namespace_id, queue)
    }

    /// Whether this replica holds shard `shard`.
    pub fn holds(&self, shard: i32) -> bool {
        self.state.read().owned.contains_key(&shard)
    }

    /// Whether this replica is leaving (no more retries of hand-offs).
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// The lease to write shard `shard` under, if this replica holds it.
    pub fn fence(&self, shard: i32) -> Option<Fence> {
        self.state.read().owned.get(&shard).map(|&range_id| Fence { shard_id: shard, range_id })
    }

    /// The shards this replica holds.
    pub fn owned_shards(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.state.read().owned.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// The internal address of another replica that owns `shard`, if known.
    pub fn owner_address(&self, shard: i32) -> Option<String> {
        let s = self.state.read();
        match s.owners.get(&shard) {
            Some((id, addr)) if *id != self.me && !addr.is_empty() => Some(addr.clone()),
            _ => None,
        }
    }

    /// Whether this replica serves: it joined (first shard assignment done) and, in a shared
    /// cluster, the store took its heartbeat within the member ttl (the database is reachable
    /// and the others still count it as live).
    pub fn is_ready(&self) -> bool {
        if !self.ready.load(Ordering::Acquire) {
            return false;
        }
        match self.ttl_ms.load(Ordering::Relaxed) {
            0 => true,
            ttl => now_ms() - self.last_heartbeat.load(Ordering::Acquire) < ttl,
        }
    }

    /// Forgets shard `shard` if it is still held at `range_id` (a fenced write was refused).
    /// Returns whether it was held.
    pub fn lose(&self, shard: i32, range_id: i64) -> bool {
        let mut s = self.state.write();
        if s.owned.get(&shard) == Some(&range_id) {
            s.owned.remove(&shard);
            s.owners.remove(&shard);
            return true;
        }
        false
    }

    fn hold(&self, lease: &ShardLease, address: &str) {
        let mut s = self.state.write();
        s.owned.insert(lease.shard_id, lease.range_id);
        s.owners.insert(lease.shard_id, (self.me.clone(), address.to_owned()));
    }
}

/// Errors joining the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The store failed.
    #[error("cluster store: {0}")]
    Store(#[from] StoreError),
}

/// Joins the cluster: fixes the shard count, takes this replica's shards (loading their tasks
/// into the engine) and, in a shared cluster, keeps heartbeating and rebalancing until
/// [`leave`] is called. Returns the heartbeat task (none in exclusive mode).
pub async fn join(
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    ownership: Arc<Ownership>,
    mode: Mode,
    requested_shards: u32,
) -> Result<Option<tokio::task::JoinHandle<()>>, ClusterError> {
    let count = store.init_shard_count(requested_shards).await?;
    ownership.shard_count.store(count, Ordering::Relaxed);
    if count != requested_shards {
        tracing::info!(stored = count, requested = requested_shards, "the cluster's stored shard count wins");
    }
    match mode {
        Mode::Exclusive => {
            for lease in store.shard_leases().await? {
                let mut range = lease.range_id;
                let taken = loop {
                    match store.acquire_shard(lease.shard_id, &ownership.me, range).await {
                        Ok(l) => break l,
                        Err(StoreError::ConditionFailed(_)) => {
                            range = current_range(&*store, lease.shard_id).await?;
                        }
                        Err(e) => return Err(e.into()),
                    }
                };
                ownership.hold(&taken, "");
                engine.shard_acquired(taken.shard_id).await;
            }
            ownership.ready.store(true, Ordering::Release);
            Ok(None)
        }
        Mode::Shared(m) => {
            ownership.ttl_ms.store(m.member_ttl.as_millis().max(1) as i64, Ordering::Relaxed);
            let mut r = Rebalancer {
                store,
                engine,
                ownership: ownership.clone(),
                m,
                members: vec![],
                last_read: None,
                unsettled: true,
            };
            r.tick().await?;
            ownership.ready.store(true, Ordering::Release);
            Ok(Some(tokio::spawn(async move { r.run().await })))
        }
    }
}

async fn current_range(store: &dyn Store, shard: i32) -> Result<i64, StoreError> {
    store
        .shard_leases()
        .await?
        .into_iter()
        .find(|l| l.shard_id == shard)
        .map(|l| l.range_id)
        .ok_or_else(|| StoreError::Backend(format!("shard {shard} has no lease row")))
}

/// Hands this replica's shards over and leaves the membership (graceful shutdown). Stops the
/// heartbeat loop first so nothing is re-acquired.
pub async fn leave(
    store: &dyn Store,
    engine: &Engine,
    ownership: &Ownership,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
) {
    ownership.stopping.store(true, Ordering::Release);
    ownership.stop.notify_one();
    if let Some(h) = heartbeat {
        let _ = h.await;
    }
    ownership.ready.store(false, Ordering::Release);
    let held: Vec<(i32, i64)> = ownership.state.read().owned.iter().map(|(s, r)| (*s, *r)).collect();
    for (shard, range) in held {
        ownership.lose(shard, range);
        engine.shard_lost(shard);
        if let Err(e) = store.release_shard(shard, &ownership.me, range).await {
            tracing::warn!(shard, "releasing shard: {e}");
        }
    }
    if let Err(e) = store.remove_member(&ownership.me).await {
        tracing::warn!("leaving the membership: {e}");
    }
}

/// The heartbeat and shard-assignment loop of a shared-cluster replica.
struct Rebalancer {
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    ownership: Arc<Ownership>,
    m: Membership,
    members: Vec<Member>,
    /// When the leases were last read.
    last_read: Option<Instant>,
    /// Some shard's lease was not with its assigned owner at the last read (a takeover or a
    /// handover in progress): read again next round, so routing follows within a heartbeat.
    unsettled: bool,
}

/// Leases are re-read at least this often even when nothing seems to change (a lost shard
/// noticed without a failed write; an owner that gave a shard back).
const LEASE_REFRESH: Duration = Duration::from_secs(10);

impl Rebalancer {
    async fn run(&mut self) {
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
    async fn tick(&mut self) -> Result<(), StoreError> {
        let ttl = self.m.member_ttl.as_millis() as i64;
        let members = self.store.heartbeat_member(&self.m.member_id, &self.m.advertise_address, ttl).await?;
        self.ownership.last_heartbeat.store(now_ms(), Ordering::Release);
        let changed = members != self.members;
        self.members = members;
        let waiting = {
            let owned = self.ownership.state.read();
            (0..self.ownership.shard_count() as i32).any(|s| {
                desired_owner(&self.members, s).is_some_and(|m| m.id == self.m.member_id)
                    && !owned.owned.contains_key(&s)
            })
        };
        let stale = self.last_read.is_none_or(|t| t.elapsed() >= LEASE_REFRESH);
        if !(changed || waiting || stale || self.unsettled) {
            return Ok(());
        }
        let leases = self.store.shard_leases().await?;
        self.last_read = Some(Instant::now());
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
            let held = self.ownership.state.read().owned.get(&shard).copied();
            let owner_live = address_of.contains_key(lease.owner.as_str());
            if lease.owner == me && held == Some(lease.range_id) {
                // Ours. Hand it over if a live member should have it instead.
                if desired.as_deref().is_some_and(|d| d != me) {
                    self.ownership.lose(shard, lease.range_id);
                    self.engine.shard_lost(shard);
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
                self.engine.shard_lost(shard);
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
                        self.engine.shard_acquired(shard).await;
                        owners.insert(shard, (me.clone(), self.m.advertise_address.clone()));
                    }
                    Err(StoreError::ConditionFailed(_)) => {} // someone else moved first; next round
                    Err(e) => return Err(e),
                }
            } else if owner_live {
                let addr = address_of.get(lease.owner.as_str()).copied().unwrap_or_default();
                owners.insert(shard, (lease.owner.clone(), addr.to_owned()));
            }
        }
        self.unsettled = !settled;
        let moved = {
            let mut s = self.ownership.state.write();
            let moved = s.owners != owners;
            s.owners = owners;
            moved
        };
        if moved {
            // Task queues may have moved with their shards: offer every pending task of our
            // shards again so each reaches its queue's current owner (duplicates are dropped).
            self.engine.redispatch_owned().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(ids: &[&str]) -> Vec<Member> {
        ids.iter().map(|i| Member { id: (*i).into(), address: format!("{i}:7234") }).collect()
    }

    #[test]
    fn shards_spread_and_move_only_with_their_member() {
        let three = members(&["a", "b", "c"]);
        let mut counts = HashMap::new();
        for s in 0..64 {
            *counts.entry(desired_owner(&three, s).unwrap().id.clone()).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 3, "every member gets shards: {counts:?}");
        assert!(counts.values().all(|&n| n >= 10), "roughly even: {counts:?}");
        // When c leaves, only c's shards move.
        let two = members(&["a", "b"]);
        for s in 0..64 {
            let before = desired_owner(&three, s).unwrap().id.clone();
            let after = desired_owner(&two, s).unwrap().id.clone();
            if before != "c" {
                assert_eq!(before, after, "shard {s} moved although its owner stayed");
            }
        }
    }

    #[test]
    fn the_shard_hash_is_stable() {
        // Pinned: changing the hash would move every workflow of an existing cluster.
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(&["a"]), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fnv1a(&["ab", "c"]), fnv1a(&["a", "bc"]), "parts are separated");
        assert_eq!(stable_hash(&["ns", "wf"]) % 16, stable_hash(&["ns", "wf"]) % 16);
        let o = Ownership::new("x");
        o.shard_count.store(16, Ordering::Relaxed);
        let spread: std::collections::HashSet<i32> =
            (0..200).map(|i| o.shard_of("ns", &format!("wf-{i}"))).collect();
        assert_eq!(spread.len(), 16, "200 workflow ids reach every one of 16 shards");
    }
}
