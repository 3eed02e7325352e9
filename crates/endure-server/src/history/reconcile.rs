//! The outbox check, a safety net under "the outbox is the backlog": a run whose state waits
//! for a workflow or activity task that has no task row would wait forever — no owner ever
//! dispatches a row that does not exist. The check compares each open run's pending dispatch
//! (`endure_core::task::pending_dispatch`) with its rows, under the workflow lock (so no
//! transition runs between the two reads), re-creates what is missing and counts it: a repair
//! is a bug to report, never a normal path, so it is logged as a warning and counted in the
//! metric `outbox_repairs`.
//!
//! It runs over a shard's open runs when the shard is taken, and over every held shard's open
//! runs in a slow, continuous sweep (a page of runs a second). The sweep also offers again the
//! rows of tasks that have waited longer than a sweep's worth of time, in case an offer was lost
//! in memory (a queue drops an offer it already holds).

use super::engine::Engine;
use crate::clock;
use crate::error::ApiResult;
use endure_core::Task;
use endure_store::RunKey;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::Notify;

/// Open runs read per page of a sweep.
const PAGE: usize = 200;
/// The pause between two pages of the periodic sweep.
const PAGE_EVERY: Duration = Duration::from_secs(1);
/// A task whose row has waited this long is offered to its queue again by the periodic sweep.
const REOFFER_AFTER: Duration = Duration::from_secs(60);

/// What checking one run found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunCheck {
    /// Tasks the state waits for that had no row: re-created.
    pub recreated: usize,
    /// Tasks with a row that had waited long enough to be offered again.
    pub reoffered: usize,
}

impl Engine {
    /// Checks one open run's outbox against its state and repairs the difference (see the
    /// module docs). Rows of tasks scheduled before `reoffer_before` (ns) are offered again.
    pub async fn check_outbox(&self, key: &RunKey, reoffer_before: Option<i64>) -> ApiResult<RunCheck> {
        let _lock = self.lock(&key.namespace_id, &key.workflow_id).await;
        if !self.owns_run(key) {
            return Ok(RunCheck::default());
        }
        let ms = self.load_locked(key).await?.ms;
        let pending = endure_core::task::pending_dispatch(&ms);
        if pending.is_empty() {
            return Ok(RunCheck::default());
        }
        let rows = super::codec::decode_tasks(self.run_tasks(key).await?);
        let mut check = RunCheck::default();
        let mut missing = Vec::new();
        for task in pending {
            match rows.iter().find(|r| r.task.without_order() == task.without_order()) {
                Some(row) => {
                    if reoffer_before.is_some_and(|before| scheduled_time(&ms, &task) < before) {
                        self.dispatch(row.clone());
                        check.reoffered += 1;
                    }
                }
                None => missing.push(task),
            }
        }
        if !missing.is_empty() {
            // Logged and counted only once the re-created rows are committed: a replica whose
            // lease went stale while it was paused mid-check sees its last view of the run (the
            // task still pending) and the new owner's rows (the task already taken, its row
            // gone). That is no loss, and its commit is refused by the fence.
            let tasks = format!("{missing:?}");
            let count = missing.len();
            self.update_locked(key, None, move |x| {
                x.tasks.extend(missing);
                Ok(())
            })
            .await?;
            tracing::warn!(
                workflow_id = %key.workflow_id,
                run_id = %key.run_id,
                tasks,
                "outbox check: the run waited for tasks that had no task row; re-created them \
                 (this is a bug in Endure: please report it with this log)"
            );
            check.recreated = count;
            self.outbox_repairs.fetch_add(count as u64, Ordering::Relaxed);
            crate::metrics::count(&crate::metrics::OUTBOX_REPAIRS, count as u64);
        }
        Ok(check)
    }

    /// How many missing task rows the outbox check has re-created since start (each one a bug).
    pub fn outbox_repairs(&self) -> u64 {
        self.outbox_repairs.load(Ordering::Relaxed)
    }

    /// Checks the open runs of the held shards `pick` chooses, page by page, `pause` between
    /// pages; returns the totals. Stops early when this replica is stopping.
    pub async fn sweep_outbox(
        &self,
        pick: impl Fn(i32) -> bool,
        pause: Duration,
        reoffer_before: Option<i64>,
    ) -> ApiResult<RunCheck> {
        let mut total = RunCheck::default();
        let mut after = None;
        loop {
            let page = self.open_runs(after.clone(), PAGE).await?;
            let Some(last) = page.last() else { return Ok(total) };
            after = Some((last.namespace_id.clone(), last.workflow_id.clone()));
            for key in page {
                if !pick(self.shard_of(&key)) || !self.owns_run(&key) {
                    continue;
                }
                match self.check_outbox(&key, reoffer_before).await {
                    Ok(c) => {
                        total.recreated += c.recreated;
                        total.reoffered += c.reoffered;
                    }
                    Err(e) => tracing::debug!(workflow_id = %key.workflow_id, "outbox check: {e}"),
                }
            }
            if self.is_stopping() {
                return Ok(total);
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// Checks one shard just taken (in the background).
    pub(super) fn sweep_acquired_shard(&self, shard: i32) {
        let Some(engine) = self.me() else { return };
        tokio::spawn(async move {
            match engine.sweep_outbox(|s| s == shard, Duration::ZERO, None).await {
                Ok(c) if c.recreated > 0 => {
                    tracing::warn!(
                        shard,
                        recreated = c.recreated,
                        "outbox check of an acquired shard repaired runs"
                    )
                }
                Ok(_) => tracing::debug!(shard, "outbox check of an acquired shard: nothing missing"),
                Err(e) => tracing::warn!(shard, "outbox check of an acquired shard: {e}"),
            }
        });
    }

    /// The periodic sweep: every held shard's open runs, a page a second, over and over, until
    /// `stop` is notified.
    pub async fn run_outbox_sweeps(self: Arc<Self>, stop: Arc<Notify>) {
        loop {
            let reoffer_before = self.now().saturating_sub(REOFFER_AFTER.as_nanos() as i64);
            let sweep = self.sweep_outbox(|_| true, PAGE_EVERY, Some(reoffer_before));
            let started = clock::monotonic();
            tokio::select! {
                r = sweep => match r {
                    Ok(c) => tracing::debug!(recreated = c.recreated, reoffered = c.reoffered, "outbox sweep done"),
                    Err(e) => tracing::warn!("outbox sweep: {e}"),
                },
                _ = stop.notified() => return,
            }
            // A sweep of few runs is quick: do not start the next one sooner than a page's pause.
            let rest = PAGE_EVERY.saturating_sub(clock::monotonic().saturating_duration_since(started));
            tokio::select! {
                _ = tokio::time::sleep(rest) => {}
                _ = stop.notified() => return,
            }
        }
    }
}

/// When the pending `task` was scheduled (its workflow task's or activity attempt's time).
fn scheduled_time(ms: &endure_core::MutableState, task: &Task) -> i64 {
    match task {
        Task::ActivityTask { scheduled_event_id, .. } => {
            ms.activities.get(scheduled_event_id).map_or(0, |a| a.scheduled_time)
        }
        _ => ms.workflow_task.as_ref().map_or(0, |w| w.scheduled_time),
    }
}
