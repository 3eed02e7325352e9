//! The timer queue: persisted timer tasks ordered by fire time, and the loop that fires them.
//!
//! Only timers due before the *horizon* (about a minute ahead) are held in memory; later ones
//! stay in the store and are read in as the horizon moves forward, so memory does not grow with
//! the number of far-off timers (long user timers, retention deletes).

use crate::history::Engine;
use crate::matching::TaskRef;
use endure_api::temporal::api::enums::v1::TimeoutType;
use endure_core::Task;
use parking_lot::Mutex;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// How far ahead of now the in-memory part of the queue reaches.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How often the horizon moves forward (so it stays at least `WINDOW - SCAN_EVERY` ahead).
const SCAN_EVERY: Duration = Duration::from_secs(15);

/// Timer tasks due before the horizon, earliest first.
pub struct TimerQueue {
    inner: Mutex<Inner>,
    notify: Notify,
}

struct Inner {
    heap: BinaryHeap<Reverse<(i64, i64)>>,
    tasks: HashMap<i64, TaskRef>,
    /// Tasks due after this (ns) are not held; the scanner reads them in later.
    horizon: i64,
}

impl Default for TimerQueue {
    fn default() -> Self {
        TimerQueue {
            inner: Mutex::new(Inner { heap: BinaryHeap::new(), tasks: HashMap::new(), horizon: i64::MIN }),
            notify: Notify::new(),
        }
    }
}

impl TimerQueue {
    /// Creates an empty queue.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Adds a committed timer task (its `fire_at` must be set). A task due after the horizon is
    /// left in the store: the scanner reads it in when the horizon passes it.
    pub fn add(&self, t: TaskRef) {
        let fire_at = t.task.fire_at().unwrap_or(0);
        {
            let mut i = self.inner.lock();
            if fire_at > i.horizon {
                return;
            }
            if i.tasks.insert(t.task_id, t.clone()).is_some() {
                return;
            }
            i.heap.push(Reverse((fire_at, t.task_id)));
        }
        self.notify.notify_one();
    }

    /// Moves the horizon to `to` (never backwards) and returns the previous one. Call it before
    /// reading the store for `(previous, to]`, so a task committed meanwhile is either added
    /// directly or found by the read (a task found twice is deduplicated by id).
    pub fn advance_horizon(&self, to: i64) -> i64 {
        let mut i = self.inner.lock();
        let old = i.horizon;
        i.horizon = i.horizon.max(to);
        old
    }

    /// Number of timers held in memory.
    pub fn len(&self) -> usize {
        self.inner.lock().tasks.len()
    }

    /// True when no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pops every task due at `now`, or returns the next fire time.
    fn due(&self, now: i64) -> (Vec<TaskRef>, Option<i64>) {
        let mut i = self.inner.lock();
        let mut out = vec![];
        while let Some(Reverse((at, id))) = i.heap.peek().copied() {
            if at > now {
                return (out, Some(at));
            }
            i.heap.pop();
            if let Some(t) = i.tasks.remove(&id) {
                out.push(t);
            }
        }
        (out, None)
    }
}

/// Moves the horizon to `now + WINDOW` and reads the timers that come into it from the store.
pub async fn scan(engine: &Engine, queue: &TimerQueue) -> Result<usize, crate::error::ApiError> {
    let to = engine.now().saturating_add(WINDOW.as_nanos() as i64);
    let from = queue.advance_horizon(to);
    if from >= to {
        return Ok(0);
    }
    // Read after moving the horizon: a shard acquired meanwhile is either in this list or
    // loaded up to the new horizon by its acquisition.
    let shards = engine.ownership().owned_shards();
    if shards.is_empty() {
        return Ok(0);
    }
    let rows = engine.store().load_timer_tasks(&shards, from, to).await?;
    let n = rows.len();
    for row in rows {
        match serde_json::from_slice::<Task>(&row.data) {
            Ok(task) => queue.add(TaskRef { task_id: row.task_id, run: row.run, task }),
            Err(e) => tracing::error!(task_id = row.task_id, "skipping undecodable timer task: {e}"),
        }
    }
    Ok(n)
}

/// Fires due timers until `shutdown` is notified, moving the horizon forward every few seconds.
pub async fn run(engine: Arc<Engine>, queue: Arc<TimerQueue>, shutdown: Arc<Notify>) {
    let limit = Arc::new(Semaphore::new(64));
    let mut next_scan = tokio::time::Instant::now() + SCAN_EVERY;
    loop {
        if tokio::time::Instant::now() >= next_scan {
            if let Err(e) = scan(&engine, &queue).await {
                tracing::warn!("reading timer tasks: {e}");
            }
            next_scan = tokio::time::Instant::now() + SCAN_EVERY;
        }
        let (due, next) = queue.due(engine.now());
        for t in due {
            let Ok(permit) = limit.clone().acquire_owned().await else { return };
            let e = engine.clone();
            tokio::spawn(async move {
                fire(&e, t).await;
                drop(permit);
            });
        }
        let until_scan = next_scan.saturating_duration_since(tokio::time::Instant::now());
        let wait = match next {
            Some(at) => Duration::from_nanos((at - engine.now()).max(0) as u64),
            None => until_scan,
        }
        .min(until_scan);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = queue.notify.notified() => {}
            _ = shutdown.notified() => return,
        }
    }
}

/// Applies one fired timer task to its run. Stale timers are dropped by the engine.
async fn fire(engine: &Engine, t: TaskRef) {
    let id = Some(t.task_id);
    let r = match t.task.clone() {
        Task::UserTimer { timer_id, started_event_id, .. } => {
            engine.update(&t.run, id, |x| x.timer_fired(&timer_id, started_event_id)).await
        }
        Task::ActivityTimeout { scheduled_event_id, attempt, timeout_type, .. } => {
            let tt = TimeoutType::try_from(timeout_type).unwrap_or(TimeoutType::Unspecified);
            engine.update(&t.run, id, |x| x.activity_timeout_fired(scheduled_event_id, attempt, tt)).await
        }
        Task::ActivityRetry { scheduled_event_id, attempt, .. } => {
            engine.update(&t.run, id, |x| x.activity_retry_fired(scheduled_event_id, attempt)).await
        }
        Task::WorkflowTaskTimeout { stamp, timeout_type, .. } => {
            let tt = TimeoutType::try_from(timeout_type).unwrap_or(TimeoutType::StartToClose);
            engine.update(&t.run, id, |x| x.workflow_task_timed_out(stamp, tt)).await
        }
        Task::WorkflowBackoff { .. } => engine.update(&t.run, id, |x| x.workflow_backoff_fired()).await,
        Task::WorkflowRunTimeout { .. } => engine.update(&t.run, id, |x| x.workflow_timed_out(false)).await,
        Task::WorkflowExecutionTimeout { .. } => {
            engine.update(&t.run, id, |x| x.workflow_timed_out(true)).await
        }
        Task::DeleteClosedRun { .. } => engine.delete_closed_run(&t.run, t.task_id).await,
        Task::StartChild { .. }
        | Task::SignalExternal { .. }
        | Task::CancelExternal { .. }
        | Task::RecordChildClosed { .. }
        | Task::ParentClosePolicy { .. } => crate::cross::run(engine, t.clone()).await,
        Task::WorkflowTask { .. } | Task::ActivityTask { .. } => {
            tracing::error!(task_id = t.task_id, "transfer task in the timer queue");
            return;
        }
    };
    if let Err(e) = r {
        match e {
            crate::error::ApiError::NotFound(_) => {} // stale: the engine deleted it
            // Its shard moved to another replica, which loaded the task itself.
            crate::error::ApiError::ShardNotOwned(_) if !engine.owns_run(&t.run) => {}
            e => {
                tracing::warn!(task_id = t.task_id, "timer task failed, retrying in 1s: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                engine.dispatch(t);
            }
        }
    }
}
