//! Who owns which shard, as this replica knows it: the leases it holds (and the fences its
//! writes carry), the owner and address of every other shard, and whether it is ready.
//!
//! Knows no store and no engine: the cluster loop ([`super::join`]) fills it in, and the
//! engine, the frontend and matching read it to route work.

use super::hash;
use crate::clock;
use endure_store::{Fence, ShardLease};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// Who owns which shard, as this replica knows it.
pub struct Ownership {
    me: String,
    shard_count: AtomicU32,
    state: RwLock<Routing>,
    /// True once the first assignment round finished.
    ready: AtomicBool,
    /// When the store last took this replica's heartbeat (shared mode).
    last_heartbeat: Mutex<Option<tokio::time::Instant>>,
    /// The member ttl in a shared cluster (`None`: exclusive, no heartbeats).
    ttl: Mutex<Option<Duration>>,
    /// Woken when this replica should stop (shutdown).
    pub(super) stop: Notify,
    /// Set when shutdown began.
    stopping: AtomicBool,
}

/// What a replica knows of every shard's lease.
#[derive(Default)]
struct Routing {
    /// Shards this replica holds, with their lease's range.
    owned: HashMap<i32, i64>,
    /// The owner of every shard as last read: (member id, internal address).
    owners: HashMap<i32, (String, String)>,
}

impl Ownership {
    /// Ownership of nothing yet, for member `me`.
    pub fn new(me: &str) -> Arc<Self> {
        Arc::new(Ownership {
            me: me.to_owned(),
            shard_count: AtomicU32::new(1),
            state: RwLock::new(Routing::default()),
            ready: AtomicBool::new(false),
            last_heartbeat: Mutex::new(None),
            ttl: Mutex::new(None),
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

    pub(super) fn set_shard_count(&self, count: u32) {
        self.shard_count.store(count, Ordering::Relaxed);
    }

    /// The shard of a workflow id.
    pub fn shard_of(&self, namespace_id: &str, workflow_id: &str) -> i32 {
        hash::shard_of(self.shard_count(), namespace_id, workflow_id)
    }

    /// The shard of a task queue (see [`hash::queue_shard`]).
    pub fn queue_shard(&self, namespace_id: &str, queue: &str) -> i32 {
        hash::queue_shard(self.shard_count(), namespace_id, queue)
    }

    /// Whether this replica holds shard `shard`.
    pub fn holds(&self, shard: i32) -> bool {
        self.state.read().owned.contains_key(&shard)
    }

    /// Whether this replica holds the shard of a workflow id.
    pub fn holds_workflow(&self, namespace_id: &str, workflow_id: &str) -> bool {
        self.holds(self.shard_of(namespace_id, workflow_id))
    }

    /// Whether this replica is leaving (no more retries of hand-offs).
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    pub(super) fn begin_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
        self.stop.notify_one();
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

    /// The shards this replica holds, with their ranges.
    pub(super) fn held(&self) -> Vec<(i32, i64)> {
        self.state.read().owned.iter().map(|(s, r)| (*s, *r)).collect()
    }

    /// The range this replica holds `shard` at, if it does.
    pub(super) fn held_range(&self, shard: i32) -> Option<i64> {
        self.state.read().owned.get(&shard).copied()
    }

    /// The internal address of another replica that owns `shard`, if known.
    pub fn owner_address(&self, shard: i32) -> Option<String> {
        let s = self.state.read();
        match s.owners.get(&shard) {
            Some((id, addr)) if *id != self.me && !addr.is_empty() => Some(addr.clone()),
            _ => None,
        }
    }

    /// Replaces the known owners of every shard; returns whether they changed.
    pub(super) fn set_owners(&self, owners: HashMap<i32, (String, String)>) -> bool {
        let mut s = self.state.write();
        let moved = s.owners != owners;
        s.owners = owners;
        moved
    }

    /// Whether this replica serves: it joined (first shard assignment done) and, in a shared
    /// cluster, the store took its heartbeat within the member ttl (the database is reachable
    /// and the others still count it as live).
    pub fn is_ready(&self) -> bool {
        if !self.ready.load(Ordering::Acquire) {
            return false;
        }
        match *self.ttl.lock() {
            None => true,
            Some(ttl) => self
                .last_heartbeat
                .lock()
                .is_some_and(|at| clock::monotonic().saturating_duration_since(at) < ttl),
        }
    }

    pub(super) fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Heartbeats are expected at least every `ttl` (shared mode).
    pub(super) fn expect_heartbeats(&self, ttl: Duration) {
        *self.ttl.lock() = Some(ttl);
    }

    /// How long ago the store last took this replica's heartbeat (`None`: never).
    pub(super) fn since_heartbeat(&self) -> Option<Duration> {
        self.last_heartbeat.lock().map(|at| clock::monotonic().saturating_duration_since(at))
    }

    /// The store just took this replica's heartbeat.
    pub(super) fn heartbeat_taken(&self) {
        *self.last_heartbeat.lock() = Some(clock::monotonic());
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

    pub(super) fn hold(&self, lease: &ShardLease, address: &str) {
        let mut s = self.state.write();
        s.owned.insert(lease.shard_id, lease.range_id);
        s.owners.insert(lease.shard_id, (self.me.clone(), address.to_owned()));
    }
}
