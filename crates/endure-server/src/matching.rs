//! Matching: task queues in memory, backed by the durable outbox.
//!
//! Every dispatchable task is already persisted (a transfer task written with the transition
//! that produced it), so matching needs no backlog writes of its own: a new task is handed
//! straight to a waiting long-poll (sync match) or queued in memory. The task row is deleted by
//! the transition that records the task as started, and all rows are reloaded at start-up, so a
//! crash loses nothing. Query tasks are not durable: they live only as long as their caller.
//!
//! Matching does not know where a task came from or which replica owns its workflow: the
//! engine's router offers tasks to it, and the frontend records a taken task as started.

use crate::clock::Clock;
use endure_core::Task;
use endure_store::RunKey;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Workflow or activity queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// Workflow task queue.
    Workflow,
    /// Activity task queue.
    Activity,
}

/// A persisted task ready for dispatch.
#[derive(Debug, Clone)]
pub struct TaskRef {
    /// Id of its row in the task table.
    pub task_id: i64,
    /// Its run.
    pub run: RunKey,
    /// The task.
    pub task: Task,
}

/// A query waiting for a worker.
#[derive(Debug, Clone)]
pub struct QueryTask {
    /// Id the answer is routed by.
    pub query_id: String,
    /// The run queried.
    pub run: RunKey,
    /// The query.
    pub query: endure_api::temporal::api::query::v1::WorkflowQuery,
    /// Its caller waits on another replica (the workflow's owner), not here.
    pub remote: bool,
    /// Sent to the worker's sticky queue: the worker has the run cached, so the task carries no
    /// history.
    pub sticky: bool,
}

/// What a poller receives.
#[derive(Debug, Clone)]
pub enum Dispatch {
    /// A durable task.
    Task(TaskRef),
    /// A query.
    Query(QueryTask),
}

type QueueId = (String, String, QueueKind);

/// A poller seen on a queue, for DescribeTaskQueue.
#[derive(Debug, Clone)]
pub struct PollerSeen {
    /// Worker identity.
    pub identity: String,
    /// Last poll time.
    pub last_access: SystemTime,
}

#[derive(Default)]
struct Queue {
    ready: Backlog,
    /// Ids of the durable tasks in `ready`: a task offered again (its workflow's owner
    /// re-sends its tasks when queue ownership moves) is not queued twice.
    ready_ids: std::collections::HashSet<i64>,
    waiting: VecDeque<oneshot::Sender<Dispatch>>,
    pollers: HashMap<String, SystemTime>,
    /// A worker's sticky queue (it was offered sticky workflow tasks): metrics name it
    /// `__sticky__`, not by its name.
    sticky: bool,
}

/// How a poll got its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    /// It was waiting in the queue.
    Backlog,
    /// It was handed over as it was offered (sync match).
    Sync,
}

/// A queue's length, for the backlog gauge.
#[derive(Debug, Clone)]
pub struct QueueLength {
    /// Namespace id.
    pub namespace_id: String,
    /// The queue's name as matching keeps it (a versioned queue's physical name).
    pub queue: String,
    /// Workflow or activity.
    pub kind: QueueKind,
    /// A worker's sticky queue.
    pub sticky: bool,
    /// Items waiting for a poller.
    pub waiting: usize,
}

/// All task queues of this process.
pub struct Matching {
    queues: Mutex<HashMap<QueueId, Queue>>,
    clock: Clock,
}

impl Matching {
    /// Creates empty matching (`clock`: when pollers were last seen).
    pub fn new(clock: Clock) -> Arc<Self> {
        Arc::new(Matching { queues: Mutex::new(HashMap::new()), clock })
    }

    /// Offers a task: to the oldest waiting poller if any, else to the queue.
    pub fn add(&self, namespace_id: &str, queue: &str, kind: QueueKind, mut item: Dispatch) {
        let mut qs = self.queues.lock();
        let q = qs.entry((namespace_id.to_string(), queue.to_string(), kind)).or_default();
        if let Dispatch::Task(t) = &item {
            if q.ready_ids.contains(&t.task_id) {
                return;
            }
            q.sticky |= matches!(t.task, Task::WorkflowTask { sticky: true, .. });
        }
        while let Some(w) = q.waiting.pop_front() {
            match w.send(item) {
                Ok(()) => return,
                Err(back) => item = back,
            }
        }
        q.push(item, false);
    }

    /// Waits until `deadline` for a task of the queue. Returns `None` on expiry.
    pub async fn poll(
        self: &Arc<Self>,
        namespace_id: &str,
        queue: &str,
        kind: QueueKind,
        identity: &str,
        deadline: Instant,
    ) -> Option<(Dispatch, Matched)> {
        let id: QueueId = (namespace_id.to_string(), queue.to_string(), kind);
        let rx = {
            let mut qs = self.queues.lock();
            let q = qs.entry(id.clone()).or_default();
            if !identity.is_empty() {
                q.pollers.insert(identity.to_string(), self.clock.system_time());
            }
            if let Some(item) = q.pop() {
                return Some((item, Matched::Backlog));
            }
            let (tx, rx) = oneshot::channel();
            q.waiting.push_back(tx);
            rx
        };
        let mut guard = PollGuard { rx: Some(rx), matching: self.clone(), id };
        let rx = guard.rx.as_mut().expect("set above");
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(item)) => {
                guard.rx = None;
                Some((item, Matched::Sync))
            }
            _ => guard.take_late().map(|item| (item, Matched::Sync)),
        }
    }

    /// Every queue's length (for the backlog gauge).
    pub fn lengths(&self) -> Vec<QueueLength> {
        let qs = self.queues.lock();
        qs.iter()
            .map(|((namespace_id, queue, kind), q)| QueueLength {
                namespace_id: namespace_id.clone(),
                queue: queue.clone(),
                kind: *kind,
                sticky: q.sticky,
                waiting: q.ready.len(),
            })
            .collect()
    }

    /// Pollers seen on a queue.
    pub fn pollers(&self, namespace_id: &str, queue: &str, kind: QueueKind) -> Vec<PollerSeen> {
        let qs = self.queues.lock();
        qs.get(&(namespace_id.to_string(), queue.to_string(), kind))
            .map(|q| {
                q.pollers.iter().map(|(i, t)| PollerSeen { identity: i.clone(), last_access: *t }).collect()
            })
            .unwrap_or_default()
    }

    /// How long the longest-waiting task of a queue has waited (zero when none waits).
    pub fn backlog_age(&self, namespace_id: &str, queue: &str, kind: QueueKind) -> Duration {
        let qs = self.queues.lock();
        let now = crate::clock::monotonic();
        qs.get(&(namespace_id.to_string(), queue.to_string(), kind))
            .and_then(|q| q.ready.oldest())
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// Number of tasks waiting in a queue.
    pub fn backlog(&self, namespace_id: &str, queue: &str, kind: QueueKind) -> usize {
        let qs = self.queues.lock();
        qs.get(&(namespace_id.to_string(), queue.to_string(), kind)).map(|q| q.ready.len()).unwrap_or(0)
    }

    /// Whether a worker is polling a queue: one waits right now, or one polled recently.
    pub fn is_live(&self, namespace_id: &str, queue: &str, kind: QueueKind) -> bool {
        let qs = self.queues.lock();
        let Some(q) = qs.get(&(namespace_id.to_string(), queue.to_string(), kind)) else { return false };
        let now = self.clock.system_time();
        let recent = |t: &SystemTime| {
            now.duration_since(*t).map(|d| d < LONG_POLL + Duration::from_secs(10)).unwrap_or(true)
        };
        q.waiting.iter().any(|w| !w.is_closed()) || q.pollers.values().any(recent)
    }

    /// Whether a worker polls a queue now, or started a poll within `ttl`.
    pub fn polled_within(&self, namespace_id: &str, queue: &str, kind: QueueKind, ttl: Duration) -> bool {
        let qs = self.queues.lock();
        let Some(q) = qs.get(&(namespace_id.to_string(), queue.to_string(), kind)) else { return false };
        let now = self.clock.system_time();
        q.waiting.iter().any(|w| !w.is_closed())
            || q.pollers.values().any(|t| now.duration_since(*t).map(|d| d < ttl).unwrap_or(true))
    }

    /// Removes and returns every task waiting in a queue (a sticky queue whose worker left).
    pub fn drain(&self, namespace_id: &str, queue: &str, kind: QueueKind) -> Vec<Dispatch> {
        let mut qs = self.queues.lock();
        qs.remove(&(namespace_id.to_string(), queue.to_string(), kind))
            .map(|q| q.ready.drain())
            .unwrap_or_default()
    }

    /// Forgets the queues `pred` picks (their shard moved to another replica): their waiting
    /// pollers are answered with nothing and their queued items dropped.
    pub fn release_queues(&self, pred: impl Fn(&str, &str) -> bool) {
        let mut qs = self.queues.lock();
        qs.retain(|(ns, q, _), _| !pred(ns, q));
    }

    /// Answers every waiting poller with nothing (used at shutdown).
    pub fn release_all_pollers(&self) {
        let mut qs = self.queues.lock();
        for q in qs.values_mut() {
            q.waiting.clear();
        }
    }

    fn requeue_front(&self, id: &QueueId, item: Dispatch) {
        let mut qs = self.queues.lock();
        qs.entry(id.clone()).or_default().push(item, true);
    }
}

impl Queue {
    fn push(&mut self, item: Dispatch, front: bool) {
        if let Dispatch::Task(t) = &item
            && !self.ready_ids.insert(t.task_id)
        {
            return;
        }
        self.ready.push(item, front);
    }

    fn pop(&mut self) -> Option<Dispatch> {
        let item = self.ready.pop()?;
        if let Dispatch::Task(t) = &item {
            self.ready_ids.remove(&t.task_id);
        }
        Some(item)
    }
}

/// The tasks of a queue waiting for a poller, in dispatch order: the lowest priority key first
/// (queries before any task); within a key, fairness keys take turns in proportion to their
/// weights (stride scheduling: each key has a pass that grows by 1/weight per task taken, and
/// the key with the lowest pass goes next; a key that was idle joins at the current pass, so
/// it cannot claim the turns it missed); within a fairness key, first in, first out.
#[derive(Default)]
struct Backlog {
    levels: std::collections::BTreeMap<i32, Level>,
    len: usize,
    seq: u64,
}

#[derive(Default)]
struct Level {
    keys: HashMap<String, FairKey>,
    /// The pass of the last key served: where an idle key joins.
    pass: f64,
}

#[derive(Default)]
struct FairKey {
    items: VecDeque<Waiting>,
    pass: f64,
}

struct Waiting {
    item: Dispatch,
    since: Instant,
    seq: u64,
    weight: f64,
}

impl Backlog {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, item: Dispatch, front: bool) {
        let (priority, key, weight) = match &item {
            // A query's caller waits on the line: it goes before every task.
            Dispatch::Query(_) => (0, String::new(), 1.0),
            Dispatch::Task(t) => {
                let o = t.task.order();
                (o.effective_priority_key(), o.fairness_key.clone(), f64::from(o.effective_fairness_weight()))
            }
        };
        self.seq += 1;
        let w = Waiting { item, since: crate::clock::monotonic(), seq: self.seq, weight };
        let level = self.levels.entry(priority).or_default();
        let joined = level.pass;
        let k = level.keys.entry(key).or_default();
        if k.items.is_empty() {
            k.pass = k.pass.max(joined);
        }
        if front {
            k.items.push_front(w);
        } else {
            k.items.push_back(w);
        }
        self.len += 1;
    }

    fn pop(&mut self) -> Option<Dispatch> {
        let (&priority, level) = self.levels.iter_mut().next()?;
        let (_, k) =
            level.keys.iter_mut().filter(|(_, k)| !k.items.is_empty()).min_by(|(_, a), (_, b)| {
                let (sa, sb) = (a.items.front().map_or(0, |w| w.seq), b.items.front().map_or(0, |w| w.seq));
                a.pass.total_cmp(&b.pass).then(sa.cmp(&sb))
            })?;
        let w = k.items.pop_front()?;
        level.pass = k.pass;
        k.pass += 1.0 / w.weight;
        // A key gone idle keeps its pass while it is ahead of the level's (so it cannot come
        // back and claim the turns it missed); one that has fallen behind would rejoin at the
        // level's pass anyway, and is forgotten. So is an empty level.
        let now = level.pass;
        level.keys.retain(|_, k| !k.items.is_empty() || k.pass > now);
        if level.keys.values().all(|k| k.items.is_empty()) {
            self.levels.remove(&priority);
        }
        self.len -= 1;
        Some(w.item)
    }

    /// When the longest-waiting item was queued.
    fn oldest(&self) -> Option<Instant> {
        self.levels.values().flat_map(|l| l.keys.values()).flat_map(|k| k.items.iter().map(|w| w.since)).min()
    }

    /// Every item, in dispatch order.
    fn drain(mut self) -> Vec<Dispatch> {
        std::iter::from_fn(|| self.pop()).collect()
    }
}

/// Makes sure a task handed to a poll that is abandoned (timeout, client gone) is not lost.
struct PollGuard {
    rx: Option<oneshot::Receiver<Dispatch>>,
    matching: Arc<Matching>,
    id: QueueId,
}

impl PollGuard {
    fn take_late(&mut self) -> Option<Dispatch> {
        let mut rx = self.rx.take()?;
        rx.close();
        rx.try_recv().ok()
    }
}

impl Drop for PollGuard {
    fn drop(&mut self) {
        if let Some(item) = self.take_late() {
            self.matching.requeue_front(&self.id, item);
        }
    }
}

/// The long-poll duration for task polls.
pub const LONG_POLL: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;
    use endure_core::task::DispatchOrder;

    fn run() -> RunKey {
        RunKey { namespace_id: "ns".into(), workflow_id: "w".into(), run_id: "r".into() }
    }

    fn task(id: i64, priority_key: i32, fairness_key: &str, fairness_weight: f32) -> Dispatch {
        Dispatch::Task(TaskRef {
            task_id: id,
            run: run(),
            task: Task::ActivityTask {
                task_queue: "q".into(),
                scheduled_event_id: id,
                attempt: 1,
                stamp: 0,
                order: DispatchOrder { priority_key, fairness_key: fairness_key.into(), fairness_weight },
                version: String::new(),
            },
        })
    }

    fn ids(items: Vec<Dispatch>) -> Vec<i64> {
        items
            .into_iter()
            .map(|d| match d {
                Dispatch::Task(t) => t.task_id,
                Dispatch::Query(_) => -1,
            })
            .collect()
    }

    fn fairness_keys(items: Vec<Dispatch>) -> String {
        items
            .into_iter()
            .map(|d| match d {
                Dispatch::Task(t) => t.task.order().fairness_key,
                Dispatch::Query(_) => "?".into(),
            })
            .collect()
    }

    #[test]
    fn lower_priority_key_first_and_fifo_within_a_key() {
        let mut b = Backlog::default();
        for (id, key) in [(1, 0), (2, 5), (3, 1), (4, 0), (5, 1), (6, 3), (7, 2)] {
            b.push(task(id, key, "", 0.0), false);
        }
        assert_eq!(b.len(), 7);
        // Unset is 3, the real server's default of five levels.
        assert_eq!(ids(b.drain()), vec![3, 5, 7, 1, 4, 6, 2]);
    }

    #[test]
    fn queries_go_first_and_a_requeued_task_goes_back_to_the_front() {
        let mut b = Backlog::default();
        b.push(task(1, 1, "", 0.0), false);
        b.push(task(2, 1, "", 0.0), false);
        b.push(
            Dispatch::Query(QueryTask {
                query_id: "q".into(),
                run: run(),
                query: Default::default(),
                remote: false,
                sticky: false,
            }),
            false,
        );
        let first = b.pop();
        assert!(matches!(first, Some(Dispatch::Query(_))));
        let one = b.pop().expect("task 1");
        b.push(one, true);
        assert_eq!(ids(b.drain()), vec![1, 2]);
    }

    #[test]
    fn fairness_keys_take_turns_by_weight() {
        let mut b = Backlog::default();
        // A burst of one tenant's tasks does not starve another queued after it.
        for i in 0..6 {
            b.push(task(i, 0, "a", 0.0), false);
        }
        for i in 6..9 {
            b.push(task(i, 0, "b", 0.0), false);
        }
        assert_eq!(fairness_keys(b.drain()), "abababaaa");
        // Weight 2 takes two turns for each of weight 1.
        let mut b = Backlog::default();
        for i in 0..6 {
            b.push(task(i, 0, "h", 2.0), false);
            b.push(task(10 + i, 0, "l", 1.0), false);
        }
        let order = fairness_keys(b.drain());
        assert_eq!(order[..9].matches('h').count(), 6, "{order}");
        assert_eq!(order[..3].matches('h').count(), 2, "{order}");
    }

    #[test]
    fn an_idle_fairness_key_does_not_claim_missed_turns() {
        let mut b = Backlog::default();
        for i in 0..4 {
            b.push(task(i, 0, "a", 0.0), false);
        }
        assert_eq!(ids(vec![b.pop().unwrap(), b.pop().unwrap(), b.pop().unwrap()]), vec![0, 1, 2]);
        // "b" arrives late: it shares from now on rather than taking three turns in a row.
        for i in 10..14 {
            b.push(task(i, 0, "b", 0.0), false);
        }
        b.push(task(4, 0, "a", 0.0), false);
        let order = fairness_keys(b.drain());
        assert!(order.starts_with("ba") || order.starts_with("ab"), "{order}");
        assert!(!order.contains("bbb"), "{order}");
    }
}
