//! The engine: owns every run's transitions on the shards this replica holds.
//!
//! A transition runs under the workflow id's lock: load the mutable state (from the state
//! cache, else the store), apply a pure core transition, commit events + state + tasks +
//! visibility in one [`WriteBatch`], then cache the new state, hand the new tasks to the
//! router and wake watchers. Nothing is handed out before the commit returns, so nothing
//! acknowledged can be lost.
//!
//! The engine does not know what a task does once dispatched (matching and the executor do)
//! nor who asked for a transition (the frontend, the executor, another replica).

use super::cache::{LoadedRun, STATE_CACHE_RUNS, StateCache};
use super::codec::{self, run_key, visibility_of};
use super::routing::TaskRouter;
use super::watchers::{RunProgress, Watchers};
use crate::clock::Clock;
use crate::cluster::Ownership;
use crate::error::{ApiError, ApiResult};
use crate::ids::Ids;
use crate::matching::{Matching, TaskRef};
use crate::metrics;
use crate::namespaces::{DEV_RETENTION, Namespaces};
use crate::peer::Peers;
use crate::search_attributes::SearchAttributeRegistry;
use crate::timer_queue::TimerQueue;
use endure_api::temporal::api::enums::v1::WorkflowExecutionStatus;
use endure_api::temporal::api::history::v1::HistoryEvent;
use endure_api::temporal::api::history::v1::history_event::Attributes as HistoryAttributes;
use endure_api::temporal::api::workflow::v1::{ResetPointInfo, ResetPoints};
use endure_core::limits::Limits;
use endure_core::{CoreError, MutableState, Task, Txn};
use endure_store::{
    CurrentCondition, CurrentRun, CurrentWrite, ExecutionStore, Fence, RunKey, StoreError, TaskStore,
    WriteBatch,
};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

/// (namespace id, workflow id): the unit of locking.
type WorkflowKey = (String, String);

/// What the engine works with, given by whoever builds it.
pub struct EngineParts {
    /// Runs: their states, histories and current-run pointers.
    pub executions: Arc<dyn ExecutionStore>,
    /// The outbox: tasks committed with transitions.
    pub tasks: Arc<dyn TaskStore>,
    /// Namespaces (for a closing run's retention).
    pub namespaces: Arc<Namespaces>,
    /// Custom search attributes (a run's typed values for its visibility row).
    pub search_attributes: Arc<SearchAttributeRegistry>,
    /// Task queues of this replica.
    pub matching: Arc<Matching>,
    /// The routing of versioned task queues (worker deployments).
    pub versions: Arc<crate::versioning::VersionRouting>,
    /// Timer tasks of this replica.
    pub timers: Arc<TimerQueue>,
    /// Clients of the other replicas.
    pub peers: Arc<Peers>,
    /// Wall time.
    pub clock: Clock,
    /// Unique ids (successor runs' ids).
    pub ids: Ids,
    /// Which shards this replica holds.
    pub ownership: Arc<Ownership>,
    /// The limits runs are held to (dynamic config).
    pub limits: Limits,
}

/// Owner of all runs of the shards this replica holds.
pub struct Engine {
    me: Weak<Engine>,
    pub(super) executions: Arc<dyn ExecutionStore>,
    pub(super) tasks: Arc<dyn TaskStore>,
    namespaces: Arc<Namespaces>,
    search_attributes: Arc<SearchAttributeRegistry>,
    clock: Clock,
    ids: Ids,
    limits: Limits,
    pub(super) ownership: Arc<Ownership>,
    pub(super) timers: Arc<TimerQueue>,
    pub(super) router: Arc<TaskRouter>,
    locks: Mutex<HashMap<WorkflowKey, Arc<tokio::sync::Mutex<()>>>>,
    watchers: Watchers,
    pub(super) cache: StateCache,
    /// Missing task rows the outbox check re-created (`reconcile.rs`).
    pub(super) outbox_repairs: AtomicU64,
}

/// One run's part of a transition about to be committed.
pub(super) struct Pending {
    pub(super) batch: WriteBatch,
    pub(super) ms: MutableState,
    pub(super) tasks: Vec<Task>,
    /// Whether this transition closed the run (counted in the `workflow_*` metrics once
    /// committed).
    pub(super) closed: bool,
}

/// A committed run's state, its tasks and whether the transition closed it.
type Published = (MutableState, Vec<Task>, bool);

/// What is published after a commit besides the tasks.
struct Summary {
    key: RunKey,
    next_event_id: i64,
    open: bool,
    history_size_bytes: i64,
}

impl Summary {
    fn of(ms: &MutableState) -> Summary {
        Summary {
            key: run_key(ms),
            next_event_id: ms.next_event_id,
            open: ms.is_open(),
            history_size_bytes: ms.history_size_bytes,
        }
    }
}

/// A fresh run to create.
pub struct NewRun<'a> {
    /// Its state after the start transition.
    pub ms: &'a MutableState,
    /// Events of the start transition.
    pub events: Vec<HistoryEvent>,
    /// Tasks of the start transition.
    pub tasks: Vec<Task>,
    /// Condition on the current-run pointer.
    pub condition: CurrentCondition,
}

impl Engine {
    /// A namespace's name for metrics' labels (its id if the registry has not seen it).
    pub fn namespace_name(&self, namespace_id: &str) -> String {
        self.namespaces.name_of(namespace_id).unwrap_or_else(|| namespace_id.to_owned())
    }

    /// Creates the engine (and the task that moves sticky tasks nobody polls for back to their
    /// normal queues).
    pub fn new(parts: EngineParts) -> Arc<Self> {
        let (fallback, mut fallbacks) = mpsc::unbounded_channel::<TaskRef>();
        let router = TaskRouter::new(
            parts.ownership.clone(),
            parts.matching,
            parts.timers.clone(),
            parts.peers,
            parts.versions,
            fallback,
        );
        let engine = Arc::new_cyclic(|me| Engine {
            me: me.clone(),
            executions: parts.executions,
            tasks: parts.tasks,
            namespaces: parts.namespaces,
            search_attributes: parts.search_attributes,
            clock: parts.clock,
            ids: parts.ids,
            limits: parts.limits,
            ownership: parts.ownership,
            timers: parts.timers,
            router,
            locks: Mutex::new(HashMap::new()),
            watchers: Watchers::default(),
            cache: StateCache::new(STATE_CACHE_RUNS),
            outbox_repairs: AtomicU64::new(0),
        });
        let me = Arc::downgrade(&engine);
        tokio::spawn(async move {
            while let Some(t) = fallbacks.recv().await {
                let Some(engine) = me.upgrade() else { return };
                tokio::spawn(async move {
                    if let Err(e) = engine.update(&t.run, Some(t.task_id), |x| x.reset_sticky()).await {
                        tracing::debug!("sticky fallback: {e}");
                    }
                });
            }
        });
        engine
    }

    /// Routes committed tasks and queries.
    pub fn router(&self) -> &Arc<TaskRouter> {
        &self.router
    }

    /// Hands a persisted task to its task queue or the timer queue.
    pub fn dispatch(&self, t: TaskRef) {
        self.router.dispatch(t)
    }

    /// This engine, shared (`None` while it is being dropped).
    pub(super) fn me(&self) -> Option<Arc<Engine>> {
        self.me.upgrade()
    }

    /// The history shard of `key`'s workflow.
    pub(super) fn shard_of(&self, key: &RunKey) -> i32 {
        self.ownership.shard_of(&key.namespace_id, &key.workflow_id)
    }

    /// Whether this replica is leaving the cluster.
    pub(super) fn is_stopping(&self) -> bool {
        self.ownership.is_stopping()
    }

    /// Open runs (their current pointer says Running), in key order, after `after`.
    pub(super) async fn open_runs(
        &self,
        after: Option<(String, String)>,
        limit: usize,
    ) -> ApiResult<Vec<RunKey>> {
        let running = WorkflowExecutionStatus::Running as i32;
        Ok(self.executions.current_runs_with_status(running, after, limit).await?)
    }

    /// The task rows of a run.
    pub(super) async fn run_tasks(&self, key: &RunKey) -> ApiResult<Vec<endure_store::TaskRow>> {
        Ok(self.tasks.run_tasks(key).await?)
    }

    /// Whether this replica holds the shard of `key`'s workflow.
    pub fn owns_run(&self, key: &RunKey) -> bool {
        self.ownership.holds_workflow(&key.namespace_id, &key.workflow_id)
    }

    /// The internal address of the replica holding the shard of workflow `workflow_id`
    /// (`ShardNotOwned` while nobody does).
    pub fn owner_of(&self, namespace_id: &str, workflow_id: &str) -> ApiResult<String> {
        let shard = self.ownership.shard_of(namespace_id, workflow_id);
        self.ownership
            .owner_address(shard)
            .ok_or_else(|| ApiError::ShardNotOwned(format!("shard {shard} has no owner right now; retry")))
    }

    /// The lease to write `key`'s run under; [`ApiError::ShardNotOwned`] if another replica
    /// holds its shard.
    pub(super) fn fence(&self, key: &RunKey) -> ApiResult<Fence> {
        let shard = self.ownership.shard_of(&key.namespace_id, &key.workflow_id);
        self.ownership
            .fence(shard)
            .ok_or_else(|| ApiError::ShardNotOwned(format!("shard {shard} is not held by this replica")))
    }

    /// A write under `fence` was refused: the shard was taken over. Forget it.
    fn fence_failed(&self, fence: Option<Fence>) {
        if let Some(f) = fence
            && self.ownership.lose(f.shard_id, f.range_id)
        {
            tracing::warn!(
                shard = f.shard_id,
                range = f.range_id,
                "write refused: another replica took the shard over; this replica's lease is stale"
            );
            self.forget_shard(f.shard_id);
        }
    }

    /// Forgets a run's cached state (as the cache's LRU eviction does).
    #[cfg(test)]
    pub(crate) fn evict(&self, key: &RunKey) {
        self.cache.forget(key);
    }

    /// A new unique id (request ids, update ids …; run ids come from [`Engine::new_run_id`]).
    pub fn new_id(&self) -> String {
        self.ids.next()
    }

    /// A delay drawn from `0..max` ns (jitter).
    pub fn jitter(&self, max: i64) -> i64 {
        self.ids.below(max.max(0) as u64) as i64
    }

    /// A started run's id (time-ordered, as the real server's frontend makes them).
    pub fn new_run_id(&self) -> String {
        self.ids.next_time_ordered()
    }

    /// The limits runs are held to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A transition of `ms` at `now`, held to the engine's limits.
    pub fn txn<'a>(&self, ms: &'a mut MutableState, now: i64) -> Txn<'a> {
        let mut t = Txn::new(ms, now);
        t.limits = self.limits;
        t
    }

    /// Wall time now (ns).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Locks a workflow id; all transitions of its runs are serialized under this lock.
    pub async fn lock(&self, namespace_id: &str, workflow_id: &str) -> WorkflowLock<'_> {
        let key = (namespace_id.to_string(), workflow_id.to_string());
        let m = self.locks.lock().entry(key.clone()).or_default().clone();
        let guard = m.clone().lock_owned().await;
        WorkflowLock { engine: self, key, _guard: Some(guard), _m: m }
    }

    /// The current run of a workflow id, if it has any.
    pub async fn current_run(&self, namespace_id: &str, workflow_id: &str) -> ApiResult<Option<CurrentRun>> {
        Ok(self.executions.current_run(namespace_id, workflow_id).await?)
    }

    /// Resolves an empty run id to the current run of the workflow id.
    pub async fn resolve_run(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> ApiResult<RunKey> {
        let key = |run_id: String| RunKey {
            namespace_id: namespace_id.into(),
            workflow_id: workflow_id.into(),
            run_id,
        };
        if !run_id.is_empty() {
            return Ok(key(run_id.into()));
        }
        match self.current_run(namespace_id, workflow_id).await? {
            Some(c) => Ok(key(c.run_id)),
            None => Err(workflow_not_found(workflow_id)),
        }
    }

    /// The lease range this replica holds `key`'s shard at, if it does.
    fn lease_range(&self, key: &RunKey) -> Option<i64> {
        self.ownership.fence(self.ownership.shard_of(&key.namespace_id, &key.workflow_id)).map(|f| f.range_id)
    }

    /// Loads a run's state (no lock taken: a snapshot for reads).
    pub async fn load(&self, key: &RunKey) -> ApiResult<LoadedRun> {
        let hit = self.lease_range(key).and_then(|range| self.cache.get(key, range));
        metrics::cache_lookup(hit.is_some());
        if let Some(hit) = hit {
            return Ok(hit);
        }
        self.read_run(key).await
    }

    /// [`Engine::load`] for the holder of the run's workflow lock: a state read from the store
    /// is remembered, as nothing can commit to the run meanwhile — tagged with the lease held
    /// when the read began, so that it never answers under a later lease.
    pub(super) async fn load_locked(&self, key: &RunKey) -> ApiResult<LoadedRun> {
        let range = self.lease_range(key);
        let hit = range.and_then(|range| self.cache.get(key, range));
        metrics::cache_lookup(hit.is_some());
        if let Some(hit) = hit {
            return Ok(hit);
        }
        let loaded = self.read_run(key).await?;
        if let Some(range) = range {
            self.cache.put(key.clone(), loaded.clone(), range);
        }
        Ok(loaded)
    }

    async fn read_run(&self, key: &RunKey) -> ApiResult<LoadedRun> {
        let row = self
            .executions
            .get_run(key)
            .await?
            .ok_or_else(|| run_not_found(&key.workflow_id, &key.run_id))?;
        Ok(LoadedRun { ms: codec::decode_state(&row.state)?, db_version: row.db_version })
    }

    /// Reads persisted history events `[first, end)`, at most `limit`.
    pub async fn read_events(
        &self,
        key: &RunKey,
        first: i64,
        end: i64,
        limit: usize,
    ) -> ApiResult<Vec<HistoryEvent>> {
        codec::decode_events(&self.executions.read_events(key, first, end, limit).await?)
    }

    /// Reads persisted history events before `before`, newest first, at most `limit`.
    pub async fn read_events_reverse(
        &self,
        key: &RunKey,
        before: i64,
        limit: usize,
    ) -> ApiResult<Vec<HistoryEvent>> {
        codec::decode_events(&self.executions.read_events_reverse(key, before, limit).await?)
    }

    /// Subscribes to progress of a run's history (for long polls).
    pub fn watch(&self, key: &RunKey, current: RunProgress) -> watch::Receiver<RunProgress> {
        self.watchers.watch(key, current)
    }

    /// Runs a transition on an existing run and commits it. `consumed` is the id of the task
    /// row that triggered it (deleted in the same commit; also deleted if the task was stale).
    pub async fn update<R>(
        &self,
        key: &RunKey,
        consumed: Option<i64>,
        f: impl FnOnce(&mut Txn<'_>) -> Result<R, CoreError>,
    ) -> ApiResult<R> {
        let _lock = self.lock(&key.namespace_id, &key.workflow_id).await;
        self.update_locked(key, consumed, f).await
    }

    /// [`Engine::update`] for a caller that already holds the workflow lock.
    pub async fn update_locked<R>(
        &self,
        key: &RunKey,
        consumed: Option<i64>,
        f: impl FnOnce(&mut Txn<'_>) -> Result<R, CoreError>,
    ) -> ApiResult<R> {
        let loaded = match self.load_locked(key).await {
            Ok(l) => l,
            Err(e) => {
                // The run is gone: its task is stale. Any other failure (the store did not
                // answer) says nothing about the task, which must stay.
                if matches!(e, ApiError::NotFound(_)) {
                    self.drop_stale(key, consumed).await;
                }
                return Err(e);
            }
        };
        let mut ms = loaded.ms;
        let old_status = ms.status;
        let size_before = ms.history_size_bytes;
        let now = self.clock.now();
        let mut txn = self.txn(&mut ms, now);
        // Successors' run ids are random (v4), as the real server's history service makes them;
        // only a start's run id is time-ordered.
        txn.next_run_id = self.new_id();
        let r = match f(&mut txn) {
            Ok(r) => r,
            Err(e) => {
                self.drop_stale(key, consumed).await;
                return Err(e.into());
            }
        };
        let (events, mut tasks) = (std::mem::take(&mut txn.events), std::mem::take(&mut txn.tasks));
        let successor = txn.new_run.take();
        drop(txn);
        if let Some(reason) = self.limits.history_over_limit(size_before, &ms) {
            // As the real server: the change is dropped and the run terminated instead.
            Box::pin(self.terminate_over_limit(key, consumed, reason)).await?;
            return Err(ApiError::HistoryLimitExceeded(reason.into()));
        }
        ms.state_transition_count += 1;
        let closed = old_status == WorkflowExecutionStatus::Running as i32 && !ms.is_open();
        if closed {
            tasks.push(self.retention_task(&ms).await?);
        }
        let current = (ms.status != old_status).then(|| CurrentWrite {
            condition: CurrentCondition::RunIs(ms.run_id.clone()),
            value: pointer_to(&ms),
        });
        if let Some(mut next) = successor {
            self.carry_reset_points(&ms, &mut next).await?;
            let old = self.batch(&ms, Some(loaded.db_version), None, &events, &tasks, consumed)?;
            let mut next_ms = next.ms;
            next_ms.state_transition_count = 1;
            let pointer = CurrentWrite {
                condition: CurrentCondition::RunIs(ms.run_id.clone()),
                value: pointer_to(&next_ms),
            };
            let new = self.batch(&next_ms, None, Some(pointer), &next.events, &next.tasks, None)?;
            self.commit_and_publish(vec![
                Pending { batch: old, ms, tasks, closed },
                Pending { batch: new, ms: next_ms, tasks: next.tasks, closed: false },
            ])
            .await?;
            return Ok(r);
        }
        // Only the current run's status is mirrored in the current-run pointer.
        let current = match current {
            Some(c) => match self.current_run(&key.namespace_id, &key.workflow_id).await? {
                Some(cur) if cur.run_id == key.run_id => Some(c),
                _ => None,
            },
            None => None,
        };
        let batch = self.batch(&ms, Some(loaded.db_version), current, &events, &tasks, consumed)?;
        self.commit_and_publish(vec![Pending { batch, ms, tasks, closed }]).await?;
        Ok(r)
    }

    /// Terminates a run whose change would take its history over the limits (a workflow task in
    /// flight is failed first), as the real server's history service does.
    async fn terminate_over_limit(
        &self,
        key: &RunKey,
        consumed: Option<i64>,
        reason: &'static str,
    ) -> ApiResult<()> {
        tracing::warn!(workflow_id = %key.workflow_id, run_id = %key.run_id, "{reason} The run is terminated.");
        self.update_locked(key, consumed, |t| t.terminate(reason, None, "history-service")).await
    }

    /// Creates a run (its first transition). The caller holds the workflow lock.
    pub async fn create_run(&self, run: NewRun<'_>) -> ApiResult<()> {
        let ms = run.ms;
        let current = CurrentWrite { condition: run.condition, value: pointer_to(ms) };
        let batch = self.batch(ms, None, Some(current), &run.events, &run.tasks, None)?;
        self.commit_and_publish(vec![Pending { batch, ms: ms.clone(), tasks: run.tasks, closed: false }])
            .await
    }

    /// Deletes the row of a task of `key`'s run found stale, if any.
    async fn drop_stale(&self, key: &RunKey, consumed: Option<i64>) {
        if let Some(id) = consumed
            && let Err(e) = self.drop_task(key, id).await
        {
            tracing::warn!(task_id = id, "deleting stale task: {e}");
        }
    }

    /// Deletes the row of a task of `key`'s run that turned out to have nothing left to do —
    /// under the shard's lease, like any write: a replica that lost the shard (and may have
    /// judged the task on a state it no longer owns) deletes nothing.
    pub async fn drop_task(&self, key: &RunKey, task_id: i64) -> ApiResult<()> {
        let fence = self.fence(key)?;
        match self.tasks.delete_tasks(Some(fence), vec![task_id]).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if matches!(e, StoreError::ShardOwnershipLost { .. }) {
                    self.fence_failed(Some(fence));
                }
                Err(e.into())
            }
        }
    }

    /// The retention task for a run that just closed: delete it once the namespace's retention
    /// period has passed since its close.
    pub(super) async fn retention_task(&self, ms: &MutableState) -> ApiResult<Task> {
        Ok(Task::DeleteClosedRun { fire_at: self.expiry(ms).await? })
    }

    /// When a closed run's retention ends.
    async fn expiry(&self, ms: &MutableState) -> ApiResult<i64> {
        let ns = self.namespaces.by_id(&ms.namespace_id).await?;
        let retention = ns
            .desc
            .config
            .as_ref()
            .and_then(|c| c.workflow_execution_retention_ttl.as_ref())
            .map(endure_core::time::from_duration)
            .unwrap_or(DEV_RETENTION);
        Ok(ms.close_time.saturating_add(retention.max(0)))
    }

    /// A successor inherits its predecessor's auto-reset points, each expiring with the
    /// predecessor's retention (the namespace's business, so done here rather than in the
    /// core): in its started event (`prev_auto_reset_points`) and its own state, as the real
    /// server does.
    async fn carry_reset_points(
        &self,
        ms: &MutableState,
        next: &mut endure_core::NewRunOut,
    ) -> ApiResult<()> {
        if ms.auto_reset_points.is_empty() {
            return Ok(());
        }
        let expire_time = Some(endure_core::time::to_timestamp(self.expiry(ms).await?));
        let points: Vec<_> =
            ms.auto_reset_points.iter().cloned().map(|p| ResetPointInfo { expire_time, ..p }).collect();
        if let Some(HistoryAttributes::WorkflowExecutionStartedEventAttributes(a)) =
            next.events.first_mut().and_then(|e| e.attributes.as_mut())
        {
            a.prev_auto_reset_points = Some(ResetPoints { points: points.clone() });
        }
        let mut carried = points;
        carried.append(&mut next.ms.auto_reset_points);
        next.ms.auto_reset_points = carried;
        Ok(())
    }

    /// The write batch of one run's transition.
    pub(super) fn batch(
        &self,
        ms: &MutableState,
        expected_version: Option<i64>,
        current: Option<CurrentWrite>,
        events: &[HistoryEvent],
        tasks: &[Task],
        consumed: Option<i64>,
    ) -> ApiResult<WriteBatch> {
        let run = run_key(ms);
        let search_attributes = ms.visible_search_attributes();
        Ok(WriteBatch {
            fence: Some(self.fence(&run)?),
            run,
            state: codec::encode_state(ms)?,
            expected_version,
            current,
            events: codec::encode_events(events),
            new_tasks: codec::encode_tasks(tasks)?,
            delete_tasks: consumed.into_iter().collect(),
            visibility: Some(visibility_of(
                ms,
                search_attributes.as_ref(),
                self.search_attributes.typed_values(&ms.namespace_id, search_attributes.as_ref()),
            )),
        })
    }

    /// Commits the batches of one transition (one run, or a run and its successor, atomically)
    /// and, once durable, caches the new states and hands out their tasks. This runs as a task
    /// of its own: a caller that goes away mid-commit (its client disconnected, the request was
    /// cancelled) cannot leave a committed transition whose tasks were never handed to matching
    /// and the timer queue, or whose cached state is behind the store.
    pub(super) async fn commit_and_publish(&self, runs: Vec<Pending>) -> ApiResult<()> {
        let engine =
            self.me.upgrade().ok_or_else(|| ApiError::Unavailable("the server is stopping".into()))?;
        // A child of whatever caused the transition (its RPC, timer or step), in its trace.
        let span = match runs.first() {
            Some(p) if crate::telemetry::enabled() => tracing::info_span!(
                "commit",
                "otel.kind" = "internal",
                "temporal.namespace" = self.namespace_name(&p.batch.run.namespace_id),
                "temporal.workflow_id" = p.batch.run.workflow_id.as_str(),
                "temporal.run_id" = p.batch.run.run_id.as_str(),
                "temporal.runs" = runs.len(),
                "temporal.events" = runs.iter().map(|p| p.batch.events.len()).sum::<usize>(),
            ),
            _ => tracing::Span::none(),
        };
        tokio::spawn(async move { engine.commit_and_publish_now(runs).await }.instrument(span))
            .await
            .map_err(|e| ApiError::Internal(format!("commit task failed: {e}")))?
    }

    async fn commit_and_publish_now(&self, runs: Vec<Pending>) -> ApiResult<()> {
        let began = crate::clock::monotonic();
        let keys: Vec<RunKey> = runs.iter().map(|p| p.batch.run.clone()).collect();
        let fence = runs.first().and_then(|p| p.batch.fence);
        let (mut batches, published): (Vec<WriteBatch>, Vec<Published>) =
            runs.into_iter().map(|p| (p.batch, (p.ms, p.tasks, p.closed))).unzip();
        let result = if batches.len() == 1
            && let Some(b) = batches.pop()
        {
            self.executions.commit(b).await.map(|r| vec![r])
        } else {
            self.executions.commit_all(batches).await
        };
        match result {
            Ok(results) => {
                for ((ms, tasks, closed), r) in published.into_iter().zip(results) {
                    let transfers: Vec<&'static str> = tasks
                        .iter()
                        .filter_map(|t| match t {
                            Task::WorkflowTask { .. } => Some("TransferActiveTaskWorkflowTask"),
                            Task::ActivityTask { .. } => Some("TransferActiveTaskActivity"),
                            _ => None,
                        })
                        .collect();
                    let summary = Summary::of(&ms);
                    let namespace = self.record_commit(&ms, closed);
                    if let Some(f) = fence {
                        let run = LoadedRun { ms, db_version: r.db_version };
                        self.cache.put(summary.key.clone(), run, f.range_id);
                    }
                    self.after_commit(&summary, tasks, r.task_ids);
                    // Transfer tasks are handed to matching as their transition commits: their
                    // latency is the commit's, from its start to the hand-over.
                    for t in &transfers {
                        metrics::task(&namespace, t, crate::clock::since(began));
                    }
                }
                Ok(())
            }
            Err(e) => {
                // The store may hold something else now: read it again next time.
                keys.iter().for_each(|k| self.cache.forget(k));
                if matches!(e, StoreError::ShardOwnershipLost { .. }) {
                    self.fence_failed(fence);
                } else if e.is_retryable() {
                    // The store may have committed and only its answer was lost: then the
                    // transition's tasks are in the outbox but were never handed out.
                    self.hand_out_rows_of(keys);
                }
                Err(e.into())
            }
        }
    }

    /// The metrics of a committed state: its transition count, and its close if this
    /// transition closed it (standalone activities are not workflows: not counted). Returns the
    /// run's namespace name.
    fn record_commit(&self, ms: &MutableState, closed: bool) -> String {
        let namespace = self.namespace_name(&ms.namespace_id);
        metrics::state_transitions(&namespace, ms.state_transition_count);
        if closed
            && ms.standalone.is_none()
            && let Some(outcome) = outcome(ms.status)
        {
            let workflow_type = ms.workflow_type.as_ref().map(|t| t.name.as_str()).unwrap_or_default();
            metrics::workflow_closed(outcome, &namespace, &ms.task_queue, workflow_type);
        }
        namespace
    }

    /// After a commit: hand the new tasks out and wake history watchers.
    fn after_commit(&self, ms: &Summary, tasks: Vec<Task>, task_ids: Vec<i64>) {
        let key = &ms.key;
        let l = &self.limits;
        if ms.open && l.history_over_warning(ms.history_size_bytes, ms.next_event_id) {
            tracing::warn!(
                workflow_id = %key.workflow_id,
                run_id = %key.run_id,
                events = ms.next_event_id - 1,
                bytes = ms.history_size_bytes,
                warn_events = l.history_count_warn,
                warn_bytes = l.history_size_warn,
                error_events = l.history_count_error,
                error_bytes = l.history_size_error,
                "history is over the warning limit; the run is terminated past the error limit"
            );
        }
        for (task, task_id) in tasks.into_iter().zip(task_ids) {
            self.dispatch(TaskRef { task_id, run: key.clone(), task });
        }
        // Waiters re-read the state on every commit (updates change it without new events).
        self.watchers.notify(key, (ms.next_event_id, !ms.open));
    }

    /// Deletes a run from the store and forgets its cached state (before and after, so a
    /// failed delete leaves nothing stale); wakes its history watchers. Caller holds the lock.
    pub(super) async fn remove_run(&self, key: &RunKey) -> ApiResult<()> {
        self.fence(key)?;
        self.cache.forget(key);
        let deleted = self.executions.delete_run(key).await;
        self.cache.forget(key);
        deleted?;
        self.watchers.notify(key, (0, true));
        Ok(())
    }
}

/// The current-run pointer naming `ms`'s run.
/// The `workflow_*` counter of a closed status.
fn outcome(status: i32) -> Option<metrics::Outcome> {
    use metrics::Outcome;
    Some(match WorkflowExecutionStatus::try_from(status).ok()? {
        WorkflowExecutionStatus::Completed => Outcome::Success,
        WorkflowExecutionStatus::Failed => Outcome::Failed,
        WorkflowExecutionStatus::TimedOut => Outcome::Timeout,
        WorkflowExecutionStatus::Canceled => Outcome::Cancel,
        WorkflowExecutionStatus::Terminated => Outcome::Terminate,
        WorkflowExecutionStatus::ContinuedAsNew => Outcome::ContinuedAsNew,
        _ => return None,
    })
}

fn pointer_to(ms: &MutableState) -> CurrentRun {
    CurrentRun { run_id: ms.run_id.clone(), status: ms.status, start_request_id: ms.start_request_id.clone() }
}

/// Held while a workflow id is locked; cleans the lock table up when dropped.
pub struct WorkflowLock<'a> {
    engine: &'a Engine,
    key: WorkflowKey,
    _guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    _m: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for WorkflowLock<'_> {
    fn drop(&mut self) {
        self._guard = None;
        let mut locks = self.engine.locks.lock();
        // Two references left (the table's and ours) means nobody else waits: remove it.
        if locks.get(&self.key).is_some_and(|m| Arc::strong_count(m) <= 2) {
            locks.remove(&self.key);
        }
    }
}

/// The NotFound error for a workflow id without any run (the real server's wording).
pub fn workflow_not_found(workflow_id: &str) -> ApiError {
    ApiError::NotFound(format!("workflow not found for ID: {workflow_id}"))
}

/// The NotFound error for a run id that does not exist (the real server's wording).
pub fn run_not_found(workflow_id: &str, run_id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "workflow execution not found for workflow ID \"{workflow_id}\" and run ID \"{run_id}\""
    ))
}
