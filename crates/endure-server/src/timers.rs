//! The timer queue: persisted timer tasks ordered by fire time, and the loop that fires them.

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

/// Timer tasks waiting to fire, earliest first.
#[derive(Default)]
pub struct TimerQueue {
    inner: Mutex<Inner>,
    notify: Notify,
}

#[derive(Default)]
struct Inner {
    heap: BinaryHeap<Reverse<(i64, i64)>>,
    tasks: HashMap<i64, TaskRef>,
}

impl TimerQueue {
    /// Creates an empty queue.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Adds a timer task (its `fire_at` must be set).
    pub fn add(&self, t: TaskRef) {
        let fire_at = t.task.fire_at().unwrap_or(0);
        {
            let mut i = self.inner.lock();
            if i.tasks.insert(t.task_id, t.clone()).is_some() {
                return;
            }
            i.heap.push(Reverse((fire_at, t.task_id)));
        }
        self.notify.notify_one();
    }

    /// Number of pending timers.
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

/// Fires due timers until `shutdown` is notified.
pub async fn run(engine: Arc<Engine>, queue: Arc<TimerQueue>, shutdown: Arc<Notify>) {
    let limit = Arc::new(Semaphore::new(64));
    loop {
        let (due, next) = queue.due(engine.now());
        for t in due {
            let Ok(permit) = limit.clone().acquire_owned().await else { return };
            let e = engine.clone();
            tokio::spawn(async move {
                fire(&e, t).await;
                drop(permit);
            });
        }
        let wait = match next {
            Some(at) => Duration::from_nanos((at - engine.now()).max(0) as u64),
            None => Duration::from_secs(3600),
        };
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
            e => {
                tracing::warn!(task_id = t.task_id, "timer task failed, retrying in 1s: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                engine.dispatch(t);
            }
        }
    }
}
