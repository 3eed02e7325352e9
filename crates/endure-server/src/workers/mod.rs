//! The worker registry: what ListWorkers, CountWorkers and DescribeWorker answer from.
//!
//! SDK workers report themselves (sdk-core sends one RecordWorkerHeartbeat per client and
//! namespace every `worker_heartbeat_interval`, and a stopping worker's last heartbeat rides on
//! its ShutdownWorker call). Per namespace, keyed by `worker_instance_key`, the registry keeps
//! the last heartbeat **exactly as sent**: a new one replaces the old one whole (no field is
//! merged), several in one request apply in order, and status SHUTDOWN removes the worker. A
//! worker that stops heartbeating is removed by a sweep every `eviction_interval` once its last
//! heartbeat is older than `ttl` (dynamic config `matching.workerRegistryEntryTTL`, 5 min, and
//! `matching.workerRegistryEvictionInterval`, 1 min): it goes between `ttl` and
//! `ttl + eviction_interval` after its last heartbeat, and is listed until then whatever its
//! status.
//!
//! **Not durable**, as on the real server (whose matching service keeps it in memory too): a
//! restart forgets every worker, and live SDK workers reappear with their next heartbeat. In a
//! cluster one replica holds a namespace's registry (the frontend routes the RPCs there); when
//! that role moves, the new holder starts empty and fills within one heartbeat interval.
//!
//! This module deliberately does not know: namespaces beyond their id (the frontend resolves
//! and validates them), the wire format of page tokens and summaries, the fields of a query
//! (that is [`query`]), where the TTL comes from, or routing between replicas. It validates
//! nothing in a heartbeat: the real server stores even one without a key (under `""`). Unlike
//! the real server it has no cap on the number of entries (`matching.workerRegistryMaxEntries`,
//! a million).

pub mod query;

use crate::clock;
use endure_api::temporal::api::enums::v1::WorkerStatus;
use endure_api::temporal::api::worker::v1::WorkerHeartbeat;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

pub use query::WorkerQuery;

/// Task queues of the server's own workers (the real server's per-namespace system worker polls
/// `temporal-sys-per-ns-tq`): hidden from listings unless asked for. Case-sensitive, and the
/// dash is part of it (`temporal-sys/x` is a user's queue).
pub const SYSTEM_TASK_QUEUE_PREFIX: &str = "temporal-sys-";

/// Whether `hb` is one of the server's own workers.
pub fn is_system_worker(hb: &WorkerHeartbeat) -> bool {
    hb.task_queue.starts_with(SYSTEM_TASK_QUEUE_PREFIX)
}

/// Which workers a listing or a count is about.
pub struct Selection<'a> {
    /// The filter.
    pub query: &'a WorkerQuery,
    /// Whether the server's own workers are included.
    pub include_system: bool,
}

impl Selection<'_> {
    fn selects(&self, hb: &WorkerHeartbeat) -> bool {
        (self.include_system || !is_system_worker(hb)) && self.query.matches(hb)
    }
}

/// One page of a listing.
#[derive(Debug, Default, PartialEq)]
pub struct Page {
    /// The selected workers' heartbeats, in `worker_instance_key` order.
    pub heartbeats: Vec<WorkerHeartbeat>,
    /// Whether more selected workers follow the last one.
    pub more: bool,
}

struct Entry {
    heartbeat: WorkerHeartbeat,
    /// When the last heartbeat arrived (monotonic: only its age matters).
    last_seen: Instant,
}

/// The registry of every namespace's workers, in memory.
pub struct Workers {
    /// Namespace id → worker instance key → entry (ordered: listings page by key).
    namespaces: Mutex<HashMap<String, BTreeMap<String, Entry>>>,
    ttl: Duration,
    eviction_interval: Duration,
}

impl Workers {
    /// An empty registry forgetting workers `ttl` after their last heartbeat, checked every
    /// `eviction_interval` (by [`Workers::run_sweeps`]).
    pub fn new(ttl: Duration, eviction_interval: Duration) -> Arc<Workers> {
        Arc::new(Workers { namespaces: Mutex::new(HashMap::new()), ttl, eviction_interval })
    }

    /// Records heartbeats received now, in order: each replaces its worker's last one whole;
    /// status SHUTDOWN removes the worker instead.
    pub fn record(&self, namespace_id: &str, heartbeats: impl IntoIterator<Item = WorkerHeartbeat>) {
        let now = clock::monotonic();
        let mut namespaces = self.namespaces.lock();
        let workers = namespaces.entry(namespace_id.to_owned()).or_default();
        for heartbeat in heartbeats {
            if heartbeat.status == WorkerStatus::Shutdown as i32 {
                workers.remove(&heartbeat.worker_instance_key);
            } else {
                workers.insert(heartbeat.worker_instance_key.clone(), Entry { heartbeat, last_seen: now });
            }
        }
        if workers.is_empty() {
            namespaces.remove(namespace_id);
        }
    }

    /// A worker's last heartbeat, system workers included.
    pub fn describe(&self, namespace_id: &str, worker_instance_key: &str) -> Option<WorkerHeartbeat> {
        let namespaces = self.namespaces.lock();
        namespaces.get(namespace_id)?.get(worker_instance_key).map(|e| e.heartbeat.clone())
    }

    /// The selected workers with a key after `after`, in key order, at most `limit` of them
    /// (`None`: all).
    pub fn list(
        &self,
        namespace_id: &str,
        selection: &Selection<'_>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Page {
        let namespaces = self.namespaces.lock();
        let Some(workers) = namespaces.get(namespace_id) else { return Page::default() };
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut selected = workers
            .range::<str, _>((from, Bound::Unbounded))
            .map(|(_, e)| &e.heartbeat)
            .filter(|hb| selection.selects(hb));
        let limit = limit.unwrap_or(usize::MAX);
        let heartbeats: Vec<WorkerHeartbeat> = selected.by_ref().take(limit).cloned().collect();
        let more = heartbeats.len() == limit && selected.next().is_some();
        Page { heartbeats, more }
    }

    /// How many workers are selected.
    pub fn count(&self, namespace_id: &str, selection: &Selection<'_>) -> usize {
        let namespaces = self.namespaces.lock();
        namespaces
            .get(namespace_id)
            .map_or(0, |w| w.values().filter(|e| selection.selects(&e.heartbeat)).count())
    }

    /// Removes the workers whose last heartbeat is older than the TTL; how many.
    pub fn sweep(&self) -> usize {
        let now = clock::monotonic();
        let mut removed = 0;
        let mut namespaces = self.namespaces.lock();
        namespaces.retain(|_, workers| {
            let before = workers.len();
            workers.retain(|_, e| now.saturating_duration_since(e.last_seen) <= self.ttl);
            removed += before - workers.len();
            !workers.is_empty()
        });
        removed
    }

    /// Sweeps every eviction interval until `stop` turns true.
    pub async fn run_sweeps(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.eviction_interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let removed = self.sweep();
            if removed > 0 {
                tracing::debug!(removed, "workers without a heartbeat within the ttl forgotten");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use endure_api::temporal::api::worker::v1::PluginInfo;

    const NS: &str = "ns-1";

    fn hb(key: &str, queue: &str, status: WorkerStatus) -> WorkerHeartbeat {
        WorkerHeartbeat {
            worker_instance_key: key.into(),
            task_queue: queue.into(),
            status: status as i32,
            ..Default::default()
        }
    }

    fn registry() -> Arc<Workers> {
        Workers::new(Duration::from_secs(300), Duration::from_secs(60))
    }

    fn everyone() -> WorkerQuery {
        WorkerQuery::all()
    }

    fn keys(page: &Page) -> Vec<&str> {
        page.heartbeats.iter().map(|h| h.worker_instance_key.as_str()).collect()
    }

    #[tokio::test]
    async fn a_heartbeat_is_kept_as_sent_and_replaced_whole() {
        let w = registry();
        let mut full = hb("a", "q", WorkerStatus::Running);
        full.sdk_name = "sdk".into();
        full.plugins = vec![PluginInfo { name: "p".into(), version: "1".into() }];
        w.record(NS, [full.clone()]);
        assert_eq!(w.describe(NS, "a"), Some(full));
        let smaller = hb("a", "q2", WorkerStatus::ShuttingDown);
        w.record(NS, [smaller.clone()]);
        assert_eq!(w.describe(NS, "a"), Some(smaller), "nothing of the old one is kept");
        // In order; the last of one key wins.
        w.record(NS, [hb("b", "first", WorkerStatus::Running), hb("b", "second", WorkerStatus::Running)]);
        assert_eq!(w.describe(NS, "b").map(|h| h.task_queue), Some("second".into()));
        // A heartbeat without a key is kept under "".
        w.record(NS, [hb("", "q", WorkerStatus::Running)]);
        assert!(w.describe(NS, "").is_some());
        assert_eq!(w.describe("other-ns", "a"), None, "namespaces are apart");
    }

    #[tokio::test]
    async fn shutdown_removes_and_a_later_heartbeat_brings_back() {
        let w = registry();
        w.record(NS, [hb("a", "q", WorkerStatus::Running)]);
        w.record(NS, [hb("a", "q", WorkerStatus::Shutdown)]);
        assert_eq!(w.describe(NS, "a"), None);
        w.record(NS, [hb("never", "q", WorkerStatus::Shutdown)]);
        assert_eq!(w.describe(NS, "never"), None);
        w.record(NS, [hb("a", "q", WorkerStatus::Running)]);
        assert!(w.describe(NS, "a").is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn workers_expire_by_sweep_after_the_ttl() {
        let w = Workers::new(Duration::from_secs(2), Duration::from_secs(1));
        let (stop_tx, stop) = watch::channel(false);
        let sweeps = tokio::spawn(w.clone().run_sweeps(stop));
        w.record(
            NS,
            [hb("kept", "q", WorkerStatus::Running), hb("dropped", "q", WorkerStatus::ShuttingDown)],
        );
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            w.record(NS, [hb("kept", "q", WorkerStatus::Running)]);
        }
        assert!(w.describe(NS, "kept").is_some());
        assert_eq!(w.describe(NS, "dropped"), None, "status does not matter");
        tokio::time::sleep(Duration::from_millis(3_100)).await;
        assert_eq!(w.describe(NS, "kept"), None);
        let _ = stop_tx.send(true);
        sweeps.await.expect("the sweeps stop");
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_worker_is_listed_until_the_sweep() {
        let w = Workers::new(Duration::from_secs(1), Duration::from_secs(60));
        w.record(NS, [hb("a", "q", WorkerStatus::Running)]);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(w.describe(NS, "a").is_some());
        assert_eq!(w.sweep(), 1);
        assert_eq!(w.describe(NS, "a"), None);
    }

    #[tokio::test]
    async fn pages_in_key_order() {
        let w = registry();
        w.record(NS, ["e", "c", "a", "d", "b"].map(|k| hb(k, "q", WorkerStatus::Running)));
        let q = everyone();
        let all = Selection { query: &q, include_system: false };
        let first = w.list(NS, &all, None, Some(2));
        assert_eq!((keys(&first), first.more), (vec!["a", "b"], true));
        let second = w.list(NS, &all, Some("b"), Some(2));
        assert_eq!((keys(&second), second.more), (vec!["c", "d"], true));
        let last = w.list(NS, &all, Some("d"), Some(2));
        assert_eq!((keys(&last), last.more), (vec!["e"], false));
        let whole = w.list(NS, &all, None, Some(5));
        assert_eq!((keys(&whole).len(), whole.more), (5, false));
        // A key no longer there still marks the place.
        assert_eq!(keys(&w.list(NS, &all, Some("bb"), None)), vec!["c", "d", "e"]);
        // More is about selected workers only.
        let q = WorkerQuery::parse("WorkerInstanceKey != 'e'").expect("parses");
        let not_e = Selection { query: &q, include_system: false };
        let page = w.list(NS, &not_e, Some("b"), Some(2));
        assert_eq!((keys(&page), page.more), (vec!["c", "d"], false));
        assert_eq!(w.count(NS, &not_e), 4);
        assert_eq!(w.list("no-such-ns", &all, None, None), Page::default());
    }

    #[tokio::test]
    async fn system_workers_only_when_asked_for() {
        let w = registry();
        let queues =
            ["temporal-sys-per-ns-tq", "temporal-sys/x", "temporal-sys_x", "Temporal-sys-x", "temporal-sys"];
        w.record(NS, queues.iter().enumerate().map(|(i, q)| hb(&i.to_string(), q, WorkerStatus::Running)));
        let q = everyone();
        let user = Selection { query: &q, include_system: false };
        let every = Selection { query: &q, include_system: true };
        assert_eq!(keys(&w.list(NS, &user, None, None)), vec!["1", "2", "3", "4"]);
        assert_eq!(w.count(NS, &every), 5);
        assert!(w.describe(NS, "0").is_some(), "described regardless");
    }
}
