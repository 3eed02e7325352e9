//! The timer queue: committed timer tasks due before a *horizon*, earliest first.
//!
//! A plain queue. It does not know what a task does when it fires (the executor, `executor/`,
//! maps each kind to the engine) nor where tasks come from (the engine adds what it commits;
//! the executor reads later ones from the store as the horizon moves). Tasks due after the
//! horizon are not held, so memory does not grow with far-off timers.

use crate::matching::TaskRef;
use parking_lot::Mutex;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use tokio::sync::Notify;

/// Timer tasks due before the horizon, earliest first.
pub struct TimerQueue {
    inner: Mutex<Inner>,
    added: Notify,
}

struct Inner {
    heap: BinaryHeap<Reverse<(i64, i64)>>,
    tasks: HashMap<i64, TaskRef>,
    /// Tasks due after this (ns) are not held; the executor reads them in later.
    horizon: i64,
}

impl Default for TimerQueue {
    fn default() -> Self {
        TimerQueue {
            inner: Mutex::new(Inner { heap: BinaryHeap::new(), tasks: HashMap::new(), horizon: i64::MIN }),
            added: Notify::new(),
        }
    }
}

impl TimerQueue {
    /// Creates an empty queue.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Adds a committed timer task (its `fire_at` must be set). A task due after the horizon is
    /// left in the store: it is read in when the horizon passes it. A task already held (same
    /// id) is not added twice.
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
        self.added.notify_one();
    }

    /// The horizon (ns): tasks due after it are not held.
    pub fn horizon(&self) -> i64 {
        self.inner.lock().horizon
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

    /// True when no timer is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pops every task due at `now`, and returns them with the next fire time, if any.
    pub fn due(&self, now: i64) -> (Vec<TaskRef>, Option<i64>) {
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

    /// Waits until a task is added (it may be due earlier than the one waited for).
    pub async fn added(&self) {
        self.added.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use endure_core::Task;
    use endure_store::RunKey;

    fn timer(task_id: i64, fire_at: i64) -> TaskRef {
        let run = RunKey { namespace_id: "ns".into(), workflow_id: "wf".into(), run_id: "run".into() };
        TaskRef { task_id, run, task: Task::DeleteClosedRun { fire_at } }
    }

    #[test]
    fn holds_only_tasks_before_the_horizon_and_pops_them_in_order() {
        let q = TimerQueue::default();
        q.add(timer(1, 10));
        assert!(q.is_empty(), "nothing is held before the horizon is set");
        assert_eq!(q.advance_horizon(100), i64::MIN);
        q.add(timer(2, 50));
        q.add(timer(3, 20));
        q.add(timer(3, 20));
        q.add(timer(4, 150));
        assert_eq!(q.len(), 2, "the duplicate and the task past the horizon are not held");
        let (due, next) = q.due(30);
        assert_eq!(due.iter().map(|t| t.task_id).collect::<Vec<_>>(), vec![3]);
        assert_eq!(next, Some(50));
        assert_eq!(q.advance_horizon(50), 100, "the horizon never moves back");
        assert_eq!(q.horizon(), 100);
        let (due, next) = q.due(1000);
        assert_eq!(due.iter().map(|t| t.task_id).collect::<Vec<_>>(), vec![2]);
        assert_eq!(next, None);
    }
}
