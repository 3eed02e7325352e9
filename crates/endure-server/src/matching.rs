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
    ready: VecDeque<Dispatch>,
    /// When each item of `ready` was queued (monotonic time), in the same order.
    ready_since: VecDeque<tokio::time::Instant>,
    /// Ids of the durable tasks in `ready`: a task offered again (its workflow's owner
    /// re-sends its tasks when queue ownership moves) is not queued twice.
    ready_ids: std::collections::HashSet<i64>,
    waiting: VecDeque<oneshot::Sender<Dispatch>>,
    pollers: HashMap<String, SystemTime>,
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
        if let Dispatch::Task(t) = &item
            && q.ready_ids.contains(&t.task_id)
        {
            return;
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
    ) -> Option<Dispatch> {
        let id: QueueId = (namespace_id.to_string(), queue.to_string(), kind);
        let rx = {
            let mut qs = self.queues.lock();
            let q = qs.entry(id.clone()).or_default();
            if !identity.is_empty() {
                q.pollers.insert(identity.to_string(), self.clock.system_time());
            }
            if let Some(item) = q.pop() {
                return Some(item);
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
                Some(item)
            }
            _ => guard.take_late(),
        }
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
            .and_then(|q| q.ready_since.iter().min().copied())
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

    /// Removes and returns every task waiting in a queue (a sticky queue whose worker left).
    pub fn drain(&self, namespace_id: &str, queue: &str, kind: QueueKind) -> Vec<Dispatch> {
        let mut qs = self.queues.lock();
        qs.remove(&(namespace_id.to_string(), queue.to_string(), kind))
            .map(|q| q.ready.into_iter().collect())
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
        let now = crate::clock::monotonic();
        if front {
            self.ready.push_front(item);
            self.ready_since.push_front(now);
        } else {
            self.ready.push_back(item);
            self.ready_since.push_back(now);
        }
    }

    fn pop(&mut self) -> Option<Dispatch> {
        let item = self.ready.pop_front()?;
        self.ready_since.pop_front();
        if let Dispatch::Task(t) = &item {
            self.ready_ids.remove(&t.task_id);
        }
        Some(item)
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
