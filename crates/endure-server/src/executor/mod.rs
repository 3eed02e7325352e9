//! The task executor: runs the timer queue's tasks when they are due.
//!
//! It maps each task kind to what it means — a transition of the task's run on the engine
//! (timers, timeouts, retries, backoff), a deletion (retention), or a cross-workflow step
//! ([`cross`]) — and moves the queue's horizon forward, reading the timers that come into it
//! from the store. Workflow and activity tasks never come here (they go to matching).

pub mod cross;

use crate::batcher::Batcher;
use crate::clock::{self, Clock};
use crate::cluster::Ownership;
use crate::error::{ApiError, ApiResult};
use crate::history::{Engine, codec};
use crate::matching::TaskRef;
use crate::metrics;
use crate::telemetry;
use crate::timer_queue::TimerQueue;
use cross::CrossWorkflow;
use endure_api::temporal::api::enums::v1::TimeoutType;
use endure_core::Task;
use endure_store::TaskStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tracing::Instrument;

/// How far ahead of now the in-memory part of the timer queue reaches.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How often the horizon moves forward (so it stays at least `WINDOW - SCAN_EVERY` ahead).
const SCAN_EVERY: Duration = Duration::from_secs(15);
/// Most timer tasks running at once. Many become due in the same instant (1,000 schedules
/// firing on the same second); they wait mostly on their commits, which the store groups, so a
/// large limit turns the burst into a few large group commits instead of a queue (with 64,
/// 1,000 one-second schedules started 3.3 s late at the median; with 512, 0.4 s: bench/README.md).
const CONCURRENCY: usize = 512;
/// How long a failed timer task waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Runs due timer tasks.
pub struct Executor {
    engine: Arc<Engine>,
    cross: Arc<CrossWorkflow>,
    batcher: Arc<Batcher>,
    queue: Arc<TimerQueue>,
    tasks: Arc<dyn TaskStore>,
    ownership: Arc<Ownership>,
    clock: Clock,
    /// Windows of the horizon whose timers a failed scan did not read (ns, `(after, until]`).
    unread: parking_lot::Mutex<Vec<(i64, i64)>>,
}

impl Executor {
    /// An executor of `queue`'s tasks.
    pub fn new(
        engine: Arc<Engine>,
        cross: Arc<CrossWorkflow>,
        batcher: Arc<Batcher>,
        queue: Arc<TimerQueue>,
        tasks: Arc<dyn TaskStore>,
        ownership: Arc<Ownership>,
        clock: Clock,
    ) -> Arc<Self> {
        Arc::new(Executor {
            engine,
            cross,
            batcher,
            queue,
            tasks,
            ownership,
            clock,
            unread: parking_lot::Mutex::new(vec![]),
        })
    }

    /// Moves the horizon to `now + WINDOW` and reads the timers that come into it from the
    /// store (and any window an earlier scan failed to read). Returns how many were read.
    pub async fn scan(&self) -> ApiResult<usize> {
        let to = self.clock.now().saturating_add(WINDOW.as_nanos() as i64);
        let from = self.queue.advance_horizon(to);
        if from < to {
            self.unread.lock().push((from, to));
        }
        let windows = std::mem::take(&mut *self.unread.lock());
        let mut read = 0;
        let mut failed = None;
        for (i, &(from, to)) in windows.iter().enumerate() {
            // Read after moving the horizon: a shard acquired meanwhile is either in this list
            // or loaded up to the new horizon by its acquisition.
            let shards = self.ownership.owned_shards();
            if shards.is_empty() {
                continue;
            }
            match self.tasks.load_timer_tasks(&shards, from, to).await {
                Ok(rows) => {
                    read += rows.len();
                    codec::decode_tasks(rows).into_iter().for_each(|t| self.queue.add(t));
                }
                Err(e) => {
                    // The window's timers would never be read again: keep it for the next scan.
                    self.unread.lock().extend_from_slice(&windows[i..]);
                    failed = Some(e);
                    break;
                }
            }
        }
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(read),
        }
    }

    /// Fires due timers until `shutdown` is notified, moving the horizon forward every few
    /// seconds.
    pub async fn run(self: Arc<Self>, shutdown: Arc<Notify>) {
        let limit = Arc::new(Semaphore::new(CONCURRENCY));
        let mut next_scan = clock::monotonic() + SCAN_EVERY;
        loop {
            if clock::monotonic() >= next_scan {
                next_scan = clock::monotonic() + SCAN_EVERY;
                if let Err(e) = self.scan().await {
                    tracing::warn!("reading timer tasks, will retry: {e}");
                    next_scan = clock::monotonic() + RETRY_AFTER;
                }
            }
            let (due, next) = self.queue.due(self.clock.now());
            for t in due {
                let Ok(permit) = limit.clone().acquire_owned().await else { return };
                let me = self.clone();
                tokio::spawn(async move {
                    me.fire(t).await;
                    drop(permit);
                });
            }
            let until_scan = next_scan.saturating_duration_since(clock::monotonic());
            let wait = match next {
                Some(at) => Duration::from_nanos((at - self.clock.now()).max(0) as u64),
                None => until_scan,
            }
            .min(until_scan);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.queue.added() => {}
                _ = shutdown.notified() => return,
            }
        }
    }

    /// Runs one due task. Stale tasks are dropped by the engine; a failure is retried a second
    /// later unless the task's shard moved to another replica (which loaded the task itself).
    async fn fire(&self, t: TaskRef) {
        let now = self.clock.now();
        if let Some(due) = t.task.fire_at() {
            metrics::timer_lateness(Duration::from_nanos((now - due).max(0) as u64));
        }
        let started = clock::monotonic();
        let result = self.execute(&t).instrument(self.span(&t)).await;
        metrics::task(
            &self.engine.namespace_name(&t.run.namespace_id),
            task_type(&t.task),
            clock::since(started),
        );
        if let Err(e) = result {
            match e {
                ApiError::NotFound(_) => {} // stale: the engine deleted it
                ApiError::ShardNotOwned(_) if !self.engine.owns_run(&t.run) => {}
                e => {
                    tracing::warn!(task_id = t.task_id, "timer task failed, retrying in 1s: {e}");
                    tokio::time::sleep(RETRY_AFTER).await;
                    self.queue.add(t);
                }
            }
        }
    }

    /// The span of a timer task, a schedule's or a batch job's step (cross-workflow steps make
    /// theirs, under the context of the command that asked for them). Disabled unless tracing
    /// is on.
    fn span(&self, t: &TaskRef) -> tracing::Span {
        let name = match &t.task {
            _ if !telemetry::enabled() => return tracing::Span::none(),
            Task::StartChild { .. } | Task::SignalExternal { .. } => return tracing::Span::none(),
            Task::ScheduleWake { .. }
            | Task::ScheduleStart { .. }
            | Task::ScheduleStopRun { .. }
            | Task::ScheduleWorkflowClosed { .. } => "schedule action",
            Task::BatchStep { .. } => "batch action",
            Task::CancelExternal { .. } => "cancel external workflow",
            Task::RecordChildClosed { .. } | Task::ParentClosePolicy { .. } => "record child closed",
            Task::DeleteClosedRun { .. } => "delete run",
            _ => "fire timer",
        };
        tracing::info_span!(
            "task",
            "otel.name" = name,
            "otel.kind" = "internal",
            "temporal.namespace" = self.engine.namespace_name(&t.run.namespace_id),
            "temporal.workflow_id" = t.run.workflow_id.as_str(),
            "temporal.run_id" = t.run.run_id.as_str(),
            "temporal.task_type" = task_type(&t.task),
            "temporal.task_id" = t.task_id,
        )
    }

    /// What each kind of timer task does.
    async fn execute(&self, t: &TaskRef) -> ApiResult<()> {
        let (engine, run, id) = (&self.engine, &t.run, Some(t.task_id));
        match t.task.clone() {
            Task::UserTimer { timer_id, started_event_id, .. } => {
                engine.update(run, id, |x| x.timer_fired(&timer_id, started_event_id)).await
            }
            Task::ActivityTimeout { scheduled_event_id, attempt, timeout_type, .. } => {
                let tt = TimeoutType::try_from(timeout_type).unwrap_or(TimeoutType::Unspecified);
                engine.update(run, id, |x| x.activity_timeout_fired(scheduled_event_id, attempt, tt)).await
            }
            Task::ActivityRetry { scheduled_event_id, attempt, .. } => {
                engine.update(run, id, |x| x.activity_retry_fired(scheduled_event_id, attempt)).await
            }
            Task::WorkflowTaskTimeout { stamp, timeout_type, .. } => {
                let tt = TimeoutType::try_from(timeout_type).unwrap_or(TimeoutType::StartToClose);
                engine.update(run, id, |x| x.workflow_task_timed_out(stamp, tt)).await
            }
            Task::WorkflowBackoff { .. } => engine.update(run, id, |x| x.workflow_backoff_fired()).await,
            Task::WorkflowRunTimeout { .. } => engine.update(run, id, |x| x.workflow_timed_out(false)).await,
            Task::WorkflowExecutionTimeout { .. } => {
                engine.update(run, id, |x| x.workflow_timed_out(true)).await
            }
            Task::DeleteClosedRun { .. } => engine.delete_closed_run(run, t.task_id).await,
            Task::ScheduleWake { fire_at } => engine.update(run, id, |x| x.schedule_wake(fire_at)).await,
            Task::BatchStep { .. } => self.batcher.step(t).await,
            Task::StartChild { .. }
            | Task::SignalExternal { .. }
            | Task::CancelExternal { .. }
            | Task::RecordChildClosed { .. }
            | Task::ParentClosePolicy { .. }
            | Task::ScheduleStart { .. }
            | Task::ScheduleStopRun { .. }
            | Task::ScheduleWorkflowClosed { .. } => self.cross.run(t.clone()).await,
            Task::WorkflowTask { .. } | Task::ActivityTask { .. } => {
                tracing::error!(task_id = t.task_id, "transfer task in the timer queue");
                Ok(())
            }
        }
    }
}

/// The real server's name of a task's type (`task_type` label); Endure's own kinds are named
/// in the same style.
fn task_type(task: &Task) -> &'static str {
    match task {
        Task::UserTimer { .. } => "TimerActiveTaskUserTimer",
        Task::ActivityTimeout { .. } => "TimerActiveTaskActivityTimeout",
        Task::ActivityRetry { .. } => "TimerActiveTaskActivityRetryTimer",
        Task::WorkflowTaskTimeout { .. } => "TimerActiveTaskWorkflowTaskTimeout",
        Task::WorkflowBackoff { .. } => "TimerActiveTaskWorkflowBackoffTimer",
        Task::WorkflowRunTimeout { .. } | Task::WorkflowExecutionTimeout { .. } => {
            "TimerActiveTaskWorkflowTimeout"
        }
        Task::DeleteClosedRun { .. } => "TimerActiveTaskDeleteHistoryEvent",
        Task::ScheduleWake { .. } => "TimerActiveTaskScheduleWake",
        Task::BatchStep { .. } => "TransferActiveTaskBatchStep",
        Task::StartChild { .. } => "TransferActiveTaskStartChildExecution",
        Task::SignalExternal { .. } => "TransferActiveTaskSignalExecution",
        Task::CancelExternal { .. } => "TransferActiveTaskCancelExecution",
        Task::RecordChildClosed { .. } | Task::ParentClosePolicy { .. } => "TransferActiveTaskCloseExecution",
        Task::ScheduleStart { .. } => "TransferActiveTaskScheduleStart",
        Task::ScheduleStopRun { .. } => "TransferActiveTaskScheduleStopRun",
        Task::ScheduleWorkflowClosed { .. } => "TransferActiveTaskScheduleWorkflowClosed",
        Task::WorkflowTask { .. } => "TransferActiveTaskWorkflowTask",
        Task::ActivityTask { .. } => "TransferActiveTaskActivity",
    }
}
