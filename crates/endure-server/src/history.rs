//! The history engine: owns every run's transitions.
//!
//! A transition runs under the workflow id's lock: load the mutable state, apply a pure core
//! transition, commit events + state + tasks + visibility in one [`WriteBatch`], then hand the
//! new tasks to matching and the timer queue and wake history long-polls. Nothing is handed out
//! before the commit returns, so nothing acknowledged can be lost.

use crate::clock::Clock;
use crate::cluster::Ownership;
use crate::error::{ApiError, ApiResult};
use crate::matching::{Dispatch, Matching, QueueKind, TaskRef};
use crate::namespaces::Namespaces;
use crate::search_attributes::SearchAttributeRegistry;
use crate::timers::TimerQueue;
use endure_api::temporal::api::enums::v1::WorkflowExecutionStatus;
use endure_api::temporal::api::history::v1::HistoryEvent;
use endure_core::{CoreError, MutableState, Task, Txn};
use endure_store::{
    CurrentCondition, CurrentRun, CurrentWrite, EventRow, NewTask, RunKey, Store, TaskRow, VisibilityRow,
    WriteBatch,
};
use parking_lot::Mutex;
use prost::Message;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;

/// The position of a run's history that long-polls watch: (next event id, closed).
pub type RunProgress = (i64, bool);

/// (namespace id, workflow id): the unit of locking.
type WorkflowKey = (String, String);

/// Most runs whose mutable state the engine keeps in memory (least recently used evicted).
const STATE_CACHE_RUNS: usize = 4096;

/// Shard-local owner of all runs (one shard in dev mode).
pub struct Engine {
    me: std::sync::Weak<Engine>,
    store: Arc<dyn Store>,
    namespaces: Arc<Namespaces>,
    search_attributes: Arc<SearchAttributeRegistry>,
    matching: Arc<Matching>,
    timers: Arc<TimerQueue>,
    clock: Clock,
    ownership: Arc<Ownership>,
    peers: Arc<crate::peer::Peers>,
    locks: Mutex<HashMap<WorkflowKey, Arc<tokio::sync::Mutex<()>>>>,
    watchers: Mutex<HashMap<RunKey, watch::Sender<RunProgress>>>,
    /// The last committed state of recently used runs, so a transition does not re-read and
    /// re-decode it. Filled only by the holder of the run's workflow lock (after a commit, or
    /// after reading the store under the lock), so it never goes behind the store.
    states: Mutex<lru::LruCache<RunKey, LoadedRun>>,
}

/// A loaded run: its state and the version to write against.
#[derive(Clone)]
pub struct LoadedRun {
    /// Mutable state.
    pub ms: MutableState,
    /// Row version.
    pub db_version: i64,
}

/// Decodes a stored mutable state.
pub fn decode_state(bytes: &[u8]) -> ApiResult<MutableState> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::Internal(format!("corrupt mutable state: {e}")))
}

fn encode_state(ms: &MutableState) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(ms).map_err(|e| ApiError::Internal(format!("encoding mutable state: {e}")))
}

/// The visibility row of a run, derived from its state (`custom`: its typed custom search
/// attribute values).
pub fn visibility_of(
    ms: &MutableState,
    custom: Vec<(String, endure_store::visibility::SaValue)>,
) -> VisibilityRow {
    let root = ms.root();
    VisibilityRow {
        namespace_id: ms.namespace_id.clone(),
        workflow_id: ms.workflow_id.clone(),
        run_id: ms.run_id.clone(),
        workflow_type: ms.workflow_type.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
        task_queue: ms.task_queue.clone(),
        status: ms.status,
        start_time: ms.start_time,
        execution_time: ms.execution_time,
        close_time: ms.close_time,
        history_length: ms.next_event_id - 1,
        history_size_bytes: ms.history_size_bytes,
        state_transition_count: ms.state_transition_count,
        memo: ms.memo.as_ref().map(|m| m.encode_to_vec()).unwrap_or_default(),
        search_attributes: ms.search_attributes.as_ref().map(|m| m.encode_to_vec()).unwrap_or_default(),
        parent_workflow_id: ms.parent.as_ref().map(|p| p.workflow_id.clone()).unwrap_or_default(),
        parent_run_id: ms.parent.as_ref().map(|p| p.run_id.clone()).unwrap_or_default(),
        root_workflow_id: root.0,
        root_run_id: root.1,
        custom,
    }
}

fn run_key(ms: &MutableState) -> RunKey {
    RunKey {
        namespace_id: ms.namespace_id.clone(),
        workflow_id: ms.workflow_id.clone(),
        run_id: ms.run_id.clone(),
    }
}

fn store_conflict(e: endure_store::StoreError) -> ApiError {
    match e {
        endure_store::StoreError::ShardOwnershipLost { context: m, .. } => ApiError::ShardNotOwned(m),
        endure_store::StoreError::Conflict { context: m, .. } => {
            ApiError::Unavailable(format!("concurrent update, retry: {m}"))
        }
        e => e.into(),
    }
}

/// One run's part of a transition about to be committed.
struct Pending {
    batch: WriteBatch,
    ms: MutableState,
    tasks: Vec<Task>,
}

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
    /// Creates the engine.
    pub fn new(
        store: Arc<dyn Store>,
        namespaces: Arc<Namespaces>,
        search_attributes: Arc<SearchAttributeRegistry>,
        matching: Arc<Matching>,
        timers: Arc<TimerQueue>,
        clock: Clock,
        ownership: Arc<Ownership>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Engine {
            me: me.clone(),
            store,
            namespaces,
            search_attributes,
            matching,
            timers,
            clock,
            ownership,
            peers: Arc::new(crate::peer::Peers::default()),
            locks: Mutex::new(HashMap::new()),
            watchers: Mutex::new(HashMap::new()),
            states: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(STATE_CACHE_RUNS).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Which history shards this replica holds.
    pub fn ownership(&self) -> &Arc<Ownership> {
        &self.ownership
    }

    /// Clients of the other replicas.
    pub fn peers(&self) -> &Arc<crate::peer::Peers> {
        &self.peers
    }

    /// Whether this replica holds the shard of `key`'s workflow.
    pub fn owns_run(&self, key: &RunKey) -> bool {
        self.ownership.holds(self.ownership.shard_of(&key.namespace_id, &key.workflow_id))
    }

    /// The internal address of the replica holding the shard of workflow `workflow_id`
    /// (`ShardNotOwned` while nobody does).
    pub fn owner_of(&self, namespace_id: &str, workflow_id: &str) -> ApiResult<String> {
        let shard = self.ownership.shard_of(namespace_id, workflow_id);
        self.ownership
            .owner_address(shard)
            .ok_or_else(|| ApiError::ShardNotOwned(format!("shard {shard} has no owner right now; retry")))
    }

    /// Offers every pending transfer task of this replica's shards to its queue again (queue
    /// ownership moved; the queues drop tasks they already hold).
    pub async fn redispatch_owned(&self) {
        let shards = self.ownership.owned_shards();
        if shards.is_empty() {
            return;
        }
        match self.store.load_transfer_tasks(&shards).await {
            Ok(rows) => self.dispatch_rows(rows),
            Err(e) => tracing::warn!("reloading transfer tasks: {e}"),
        }
    }
    /// The lease to write `key`'s run under; [`ApiError::ShardNotOwned`] if another replica
    /// holds its shard.
    fn fence(&self, key: &RunKey) -> ApiResult<endure_store::Fence> {
        let shard = self.ownership.shard_of(&key.namespace_id, &key.workflow_id);
        self.ownership
            .fence(shard)
            .ok_or_else(|| ApiError::ShardNotOwned(format!("shard {shard} is not held by this replica")))
    }

    /// A write under `fence` was refused: the shard was taken over. Forget it.
    fn fence_failed(&self, fence: Option<endure_store::Fence>) {
        if let Some(f) = fence
            && self.ownership.lose(f.shard_id, f.range_id)
        {
            tracing::warn!(
                shard = f.shard_id,
                range = f.range_id,
                "write refused: another replica took the shard over; this replica's lease is stale"
            );
            self.shard_lost(f.shard_id);
        }
    }

    /// This replica just took shard `shard`: forget anything cached about its runs (another
    /// replica may have changed them), hand its transfer tasks to matching and its timers due
    /// before the timer horizon to the timer queue.
    pub async fn shard_acquired(&self, shard: i32) {
        self.forget_shard(shard);
        match self.store.load_transfer_tasks(&[shard]).await {
            Ok(rows) => self.dispatch_rows(rows),
            Err(e) => tracing::error!(shard, "loading transfer tasks: {e}"),
        }
        let horizon = self.timers.advance_horizon(i64::MIN);
        if horizon > i64::MIN {
            match self.store.load_timer_tasks(&[shard], i64::MIN, horizon).await {
                Ok(rows) => self.dispatch_rows(rows),
                Err(e) => tracing::error!(shard, "loading timer tasks: {e}"),
            }
        }
    }

    /// This replica no longer holds `shard`: forget its cached runs. Its queued tasks and
    /// timers fail their fence when used and are dropped; the new owner reloads them.
    pub fn shard_lost(&self, shard: i32) {
        self.forget_shard(shard);
        // Its task queues now live elsewhere: answer their waiting pollers (they poll again and
        // are routed to the new owner) and drop their queued tasks (their workflows' owners
        // offer them to the new owner).
        let ownership = self.ownership.clone();
        self.matching.release_queues(|ns, q| ownership.queue_shard(ns, q) == shard);
    }

    fn forget_shard(&self, shard: i32) {
        let mut states = self.states.lock();
        let keys: Vec<RunKey> = states
            .iter()
            .filter(|(k, _)| self.ownership.shard_of(&k.namespace_id, &k.workflow_id) == shard)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            states.pop(&k);
        }
    }

    fn dispatch_rows(&self, rows: Vec<TaskRow>) {
        for row in rows {
            match serde_json::from_slice::<Task>(&row.data) {
                Ok(task) => self.dispatch(TaskRef { task_id: row.task_id, run: row.run, task }),
                Err(e) => tracing::error!(task_id = row.task_id, "skipping undecodable task: {e}"),
            }
        }
    }

    /// The namespace registry.
    pub fn namespaces(&self) -> &Arc<Namespaces> {
        &self.namespaces
    }

    /// The custom search attributes of every namespace.
    pub fn search_attributes(&self) -> &Arc<SearchAttributeRegistry> {
        &self.search_attributes
    }

    /// ResetWorkflowExecution: a new run with the base run's history up to the workflow task
    /// that finished at `finish_event_id`, that task failed with cause ResetWorkflow, the
    /// signals received after it re-applied (unless `reapply_signals` is false); the workflow's
    /// current run (the base or a newer one) is terminated if still open and committed together
    /// with the new run. Returns the new run id.
    pub async fn reset(
        &self,
        base: &RunKey,
        finish_event_id: i64,
        reason: &str,
        reapply_signals: bool,
    ) -> ApiResult<String> {
        use endure_api::temporal::api::history::v1::history_event::Attributes as A;
        let _lock = self.lock(&base.namespace_id, &base.workflow_id).await;
        let loaded = self.load_locked(base).await?;
        let current = self
            .store
            .current_run(&base.namespace_id, &base.workflow_id)
            .await?
            .ok_or_else(|| workflow_not_found(&base.workflow_id))?;
        let events = self.read_events(base, 1, loaded.ms.next_event_id, usize::MAX).await?;
        let finish = events.iter().find(|e| e.event_id == finish_event_id);
        let valid = matches!(
            finish.and_then(|e| e.attributes.as_ref()),
            Some(A::WorkflowTaskCompletedEventAttributes(_))
                | Some(A::WorkflowTaskFailedEventAttributes(_))
                | Some(A::WorkflowTaskTimedOutEventAttributes(_))
        );
        if !valid || finish_event_id < 4 {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid WorkflowTaskFinishEventId {finish_event_id}: it must be the id of a WorkflowTaskCompleted, WorkflowTaskFailed or WorkflowTaskTimedOut event"
            )));
        }
        let prefix: Vec<HistoryEvent> =
            events.iter().filter(|e| e.event_id < finish_event_id).cloned().collect();
        let signals: Vec<HistoryEvent> = if reapply_signals {
            events
                .iter()
                .filter(|e| e.event_id > finish_event_id)
                .filter(|e| matches!(e.attributes, Some(A::WorkflowExecutionSignaledEventAttributes(_))))
                .cloned()
                .collect()
        } else {
            vec![]
        };
        let new_run_id = uuid::Uuid::new_v4().to_string();
        let mut new_ms = endure_core::rebuild::rebuild(&base.namespace_id, &new_run_id, &prefix);
        new_ms.start_request_id = uuid::Uuid::new_v4().to_string();
        let now = self.clock.now();
        let mut t = Txn::new(&mut new_ms, now);
        t.finish_reset(&base.run_id, reason, signals)?;
        let (tail, new_tasks) = (std::mem::take(&mut t.events), std::mem::take(&mut t.tasks));
        drop(t);
        new_ms.state_transition_count = 1;
        let mut new_events = prefix;
        new_events.extend(tail);

        // The current run (the base, or a newer run of the workflow) is terminated if still open;
        // its batch commits with the new run.
        let current_key = RunKey { run_id: current.run_id.clone(), ..base.clone() };
        let current_loaded =
            if current.run_id == base.run_id { loaded } else { self.load_locked(&current_key).await? };
        let mut base_ms = current_loaded.ms;
        let base_status = base_ms.status;
        let mut t = Txn::new(&mut base_ms, now);
        if t.ms.is_open() {
            t.terminate(reason, None, "history-resetter")?;
        }
        let (base_events, mut base_tasks) = (std::mem::take(&mut t.events), std::mem::take(&mut t.tasks));
        let terminated = t.ms.status != base_status;
        drop(t);
        base_ms.state_transition_count += 1;
        if terminated {
            base_tasks.push(self.retention_task(&base_ms).await?);
        }
        let old =
            self.batch(&base_ms, Some(current_loaded.db_version), None, &base_events, &base_tasks, None)?;
        let pointer = CurrentWrite {
            condition: CurrentCondition::RunIs(current.run_id.clone()),
            value: CurrentRun {
                run_id: new_run_id.clone(),
                status: new_ms.status,
                start_request_id: new_ms.start_request_id.clone(),
            },
        };
        let new = self.batch(&new_ms, None, Some(pointer), &new_events, &new_tasks, None)?;
        self.commit_and_publish(vec![
            Pending { batch: old, ms: base_ms, tasks: base_tasks },
            Pending { batch: new, ms: new_ms, tasks: new_tasks },
        ])
        .await?;
        Ok(new_run_id)
    }

    /// Deletes a run (terminating it first if it is still open), as DeleteWorkflowExecution.
    pub async fn delete_run(&self, key: &RunKey, identity: &str) -> ApiResult<()> {
        let _lock = self.lock(&key.namespace_id, &key.workflow_id).await;
        let ms = self.load_locked(key).await?.ms;
        if ms.is_open() {
            self.update_locked(key, None, |x| x.terminate("Delete workflow execution", None, identity))
                .await?;
        }
        self.remove_run(key).await
    }

    /// Deletes a run from the store and forgets its cached state (before and after, so a
    /// failed delete leaves nothing stale); wakes its history watchers. Caller holds the lock.
    async fn remove_run(&self, key: &RunKey) -> ApiResult<()> {
        self.fence(key)?;
        self.states.lock().pop(key);
        let deleted = self.store.delete_run(key).await;
        self.states.lock().pop(key);
        deleted?;
        self.notify(key, (0, true));
        Ok(())
    }

    /// Retention: deletes a closed run whose retention period ran out (`task_id`: the
    /// DeleteClosedRun task, removed with the run). A run found open again (reset cannot reopen
    /// one, but be safe) or already gone only drops the task.
    pub async fn delete_closed_run(&self, key: &RunKey, task_id: i64) -> ApiResult<()> {
        let _lock = self.lock(&key.namespace_id, &key.workflow_id).await;
        let open = match self.load_locked(key).await {
            Ok(l) => l.ms.is_open(),
            Err(ApiError::NotFound(_)) => return self.drop_task(task_id).await,
            Err(e) => return Err(e),
        };
        if open {
            return self.drop_task(task_id).await;
        }
        self.remove_run(key).await
    }

    /// The retention task for a run that just closed: delete it once the namespace's retention
    /// period has passed since its close.
    async fn retention_task(&self, ms: &MutableState) -> ApiResult<Task> {
        let ns = self.namespaces.by_id(&ms.namespace_id).await?;
        let retention = ns
            .desc
            .config
            .as_ref()
            .and_then(|c| c.workflow_execution_retention_ttl.as_ref())
            .map(endure_core::time::from_duration)
            .unwrap_or(crate::namespaces::DEV_RETENTION);
        Ok(Task::DeleteClosedRun { fire_at: ms.close_time.saturating_add(retention.max(0)) })
    }

    /// Deletes a task row that turned out to have nothing left to do.
    pub async fn drop_task(&self, task_id: i64) -> ApiResult<()> {
        self.store.delete_tasks(vec![task_id]).await.map_err(Into::into)
    }

    /// The clock.
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

    /// Resolves an empty run id to the current run of the workflow id.
    pub async fn resolve_run(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
    ) -> ApiResult<RunKey> {
        if !run_id.is_empty() {
            return Ok(RunKey {
                namespace_id: namespace_id.into(),
                workflow_id: workflow_id.into(),
                run_id: run_id.into(),
            });
        }
        match self.store.current_run(namespace_id, workflow_id).await? {
            Some(c) => Ok(RunKey {
                namespace_id: namespace_id.into(),
                workflow_id: workflow_id.into(),
                run_id: c.run_id,
            }),
            None => Err(workflow_not_found(workflow_id)),
        }
    }

    /// Loads a run's state (no lock taken: a snapshot for reads).
    pub async fn load(&self, key: &RunKey) -> ApiResult<LoadedRun> {
        if let Some(hit) = self.states.lock().get(key) {
            return Ok(hit.clone());
        }
        self.read_run(key).await
    }

    /// [`Engine::load`] for the holder of the run's workflow lock: a state read from the store
    /// is remembered, as nothing can commit to the run meanwhile.
    async fn load_locked(&self, key: &RunKey) -> ApiResult<LoadedRun> {
        if let Some(hit) = self.states.lock().get(key) {
            return Ok(hit.clone());
        }
        let loaded = self.read_run(key).await?;
        self.states.lock().put(key.clone(), loaded.clone());
        Ok(loaded)
    }

    async fn read_run(&self, key: &RunKey) -> ApiResult<LoadedRun> {
        let row =
            self.store.get_run(key).await?.ok_or_else(|| run_not_found(&key.workflow_id, &key.run_id))?;
        Ok(LoadedRun { ms: decode_state(&row.state)?, db_version: row.db_version })
    }

    /// Remembers a run's state as just committed at `db_version`.
    fn remember(&self, ms: MutableState, db_version: i64) {
        self.states.lock().put(run_key(&ms), LoadedRun { ms, db_version });
    }

    /// Commits the batches of one transition (one run, or a run and its successor, atomically)
    /// and, once durable, caches the new states and hands out their tasks. This runs as a task
    /// of its own: a caller that goes away mid-commit (its client disconnected, the request was
    /// cancelled) cannot leave a committed transition whose tasks were never handed to matching
    /// and the timer queue, or whose cached state is behind the store.
    async fn commit_and_publish(&self, runs: Vec<Pending>) -> ApiResult<()> {
        let engine =
            self.me.upgrade().ok_or_else(|| ApiError::Unavailable("the server is stopping".into()))?;
        tokio::spawn(async move { engine.commit_and_publish_now(runs).await })
            .await
            .map_err(|e| ApiError::Internal(format!("commit task failed: {e}")))?
    }

    async fn commit_and_publish_now(&self, runs: Vec<Pending>) -> ApiResult<()> {
        let keys: Vec<RunKey> = runs.iter().map(|p| p.batch.run.clone()).collect();
        let fence = runs.first().and_then(|p| p.batch.fence);
        let (mut batches, published): (Vec<WriteBatch>, Vec<(MutableState, Vec<Task>)>) =
            runs.into_iter().map(|p| (p.batch, (p.ms, p.tasks))).unzip();
        let result = if batches.len() == 1
            && let Some(b) = batches.pop()
        {
            self.store.commit(b).await.map(|r| vec![r])
        } else {
            self.store.commit_all(batches).await
        };
        match result {
            Ok(results) => {
                for ((ms, tasks), r) in published.into_iter().zip(results) {
                    let summary = Summary::of(&ms);
                    self.remember(ms, r.db_version);
                    self.after_commit(&summary, tasks, r.task_ids);
                }
                Ok(())
            }
            Err(e) => {
                {
                    // The store may hold something else now: read it again next time.
                    let mut states = self.states.lock();
                    for k in &keys {
                        states.pop(k);
                    }
                }
                if matches!(e, endure_store::StoreError::ShardOwnershipLost { .. }) {
                    self.fence_failed(fence);
                }
                Err(store_conflict(e))
            }
        }
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
                self.drop_stale(consumed).await;
                return Err(e);
            }
        };
        let mut ms = loaded.ms;
        let old_status = ms.status;
        let now = self.clock.now();
        let mut txn = Txn::new(&mut ms, now);
        txn.next_run_id = uuid::Uuid::new_v4().to_string();
        let r = match f(&mut txn) {
            Ok(r) => r,
            Err(e) => {
                self.drop_stale(consumed).await;
                return Err(e.into());
            }
        };
        let (events, mut tasks) = (std::mem::take(&mut txn.events), std::mem::take(&mut txn.tasks));
        let successor = txn.new_run.take();
        drop(txn);
        ms.state_transition_count += 1;
        if old_status == WorkflowExecutionStatus::Running as i32 && !ms.is_open() {
            tasks.push(self.retention_task(&ms).await?);
        }
        let current = (ms.status != old_status).then(|| CurrentWrite {
            condition: CurrentCondition::RunIs(ms.run_id.clone()),
            value: CurrentRun {
                run_id: ms.run_id.clone(),
                status: ms.status,
                start_request_id: ms.start_request_id.clone(),
            },
        });
        if let Some(next) = successor {
            let old = self.batch(&ms, Some(loaded.db_version), None, &events, &tasks, consumed)?;
            let mut next_ms = next.ms;
            next_ms.state_transition_count = 1;
            let pointer = CurrentWrite {
                condition: CurrentCondition::RunIs(ms.run_id.clone()),
                value: CurrentRun {
                    run_id: next_ms.run_id.clone(),
                    status: next_ms.status,
                    start_request_id: next_ms.start_request_id.clone(),
                },
            };
            let new = self.batch(&next_ms, None, Some(pointer), &next.events, &next.tasks, None)?;
            self.commit_and_publish(vec![
                Pending { batch: old, ms, tasks },
                Pending { batch: new, ms: next_ms, tasks: next.tasks },
            ])
            .await?;
            return Ok(r);
        }
        // Only the current run's status is mirrored in the current-run pointer.
        let current = match current {
            Some(c) => match self.store.current_run(&key.namespace_id, &key.workflow_id).await? {
                Some(cur) if cur.run_id == key.run_id => Some(c),
                _ => None,
            },
            None => None,
        };
        self.commit(&ms, Some(loaded.db_version), current, events, tasks, consumed).await?;
        Ok(r)
    }

    /// Creates a run (its first transition). The caller holds the workflow lock.
    pub async fn create_run(&self, run: NewRun<'_>) -> ApiResult<()> {
        let ms = run.ms;
        let current = CurrentWrite {
            condition: run.condition,
            value: CurrentRun {
                run_id: ms.run_id.clone(),
                status: ms.status,
                start_request_id: ms.start_request_id.clone(),
            },
        };
        self.commit(ms, None, Some(current), run.events, run.tasks, None).await
    }

    async fn drop_stale(&self, consumed: Option<i64>) {
        if let Some(id) = consumed
            && let Err(e) = self.store.delete_tasks(vec![id]).await
        {
            tracing::warn!(task_id = id, "deleting stale task: {e}");
        }
    }

    async fn commit(
        &self,
        ms: &MutableState,
        expected_version: Option<i64>,
        current: Option<CurrentWrite>,
        events: Vec<HistoryEvent>,
        tasks: Vec<Task>,
        consumed: Option<i64>,
    ) -> ApiResult<()> {
        let batch = self.batch(ms, expected_version, current, &events, &tasks, consumed)?;
        self.commit_and_publish(vec![Pending { batch, ms: ms.clone(), tasks }]).await
    }

    /// The write batch of one run's transition.
    fn batch(
        &self,
        ms: &MutableState,
        expected_version: Option<i64>,
        current: Option<CurrentWrite>,
        events: &[HistoryEvent],
        tasks: &[Task],
        consumed: Option<i64>,
    ) -> ApiResult<WriteBatch> {
        let new_tasks = tasks
            .iter()
            .map(|t| {
                Ok(NewTask {
                    fire_at: t.fire_at(),
                    data: serde_json::to_vec(t)
                        .map_err(|e| ApiError::Internal(format!("encoding task: {e}")))?,
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        let run = run_key(ms);
        Ok(WriteBatch {
            fence: Some(self.fence(&run)?),
            run,
            state: encode_state(ms)?,
            expected_version,
            current,
            events: events
                .iter()
                .map(|e| EventRow { event_id: e.event_id, data: e.encode_to_vec() })
                .collect(),
            new_tasks,
            delete_tasks: consumed.into_iter().collect(),
            visibility: Some(visibility_of(
                ms,
                self.search_attributes.typed_values(&ms.namespace_id, ms.search_attributes.as_ref()),
            )),
        })
    }

    /// After a commit: hand the new tasks out and wake history watchers.
    fn after_commit(&self, ms: &Summary, tasks: Vec<Task>, task_ids: Vec<i64>) {
        let key = ms.key.clone();
        use endure_core::limits::{HISTORY_COUNT_WARN, HISTORY_SIZE_WARN};
        if ms.open && (ms.history_size_bytes > HISTORY_SIZE_WARN || ms.next_event_id - 1 > HISTORY_COUNT_WARN)
        {
            tracing::warn!(
                workflow_id = %key.workflow_id,
                run_id = %key.run_id,
                events = ms.next_event_id - 1,
                bytes = ms.history_size_bytes,
                "history is over the warning limit (10,240 events or 10 MB); the run is terminated at 51,200 events or 50 MB"
            );
        }
        for (task, task_id) in tasks.into_iter().zip(task_ids) {
            self.dispatch(TaskRef { task_id, run: key.clone(), task });
        }
        // Waiters re-read the state on every commit (updates change it without new events).
        self.notify(&key, (ms.next_event_id, !ms.open));
    }

    /// Hands a persisted task to its task queue (transfer) or the timer queue (timer).
    pub fn dispatch(&self, t: TaskRef) {
        match &t.task {
            Task::WorkflowTask { task_queue, sticky, .. } => {
                let (ns, q, sticky) = (t.run.namespace_id.clone(), task_queue.clone(), *sticky);
                self.offer(&ns, &q, QueueKind::Workflow, sticky, Dispatch::Task(t));
            }
            Task::ActivityTask { task_queue, .. } => {
                let (ns, q) = (t.run.namespace_id.clone(), task_queue.clone());
                self.offer(&ns, &q, QueueKind::Activity, false, Dispatch::Task(t));
            }
            _ => self.timers.add(t),
        }
    }

    /// Offers a task or query to its queue: here if this replica owns the queue, else to the
    /// replica that does (in the background, retried until delivered or no longer ours).
    pub fn offer(&self, namespace_id: &str, queue: &str, kind: QueueKind, sticky: bool, item: Dispatch) {
        if self.ownership.holds(self.ownership.queue_shard(namespace_id, queue)) {
            self.offer_here(namespace_id, queue, kind, sticky, item);
            return;
        }
        let Some(engine) = self.me.upgrade() else { return };
        let (ns, q) = (namespace_id.to_owned(), queue.to_owned());
        tokio::spawn(async move { engine.offer_remote(ns, q, kind, sticky, item).await });
    }

    /// [`Engine::offer`] to a queue this replica owns. A sticky task whose queue nobody polls
    /// (the worker is gone, or we just restarted) goes to the normal queue now rather than
    /// after its timeout.
    fn offer_here(&self, namespace_id: &str, queue: &str, kind: QueueKind, sticky: bool, item: Dispatch) {
        if !self.accept_offer(namespace_id, queue, kind, sticky, item.clone())
            && let Dispatch::Task(t) = item
        {
            self.sticky_fallback(t);
        }
    }

    /// Queues an offered task or query here; false for a sticky task nobody polls for (not
    /// queued). Used for local offers and for offers from other replicas.
    pub fn accept_offer(
        &self,
        namespace_id: &str,
        queue: &str,
        kind: QueueKind,
        sticky: bool,
        item: Dispatch,
    ) -> bool {
        if sticky && !self.matching.is_live(namespace_id, queue, kind) {
            return false;
        }
        self.matching.add(namespace_id, queue, kind, item);
        true
    }

    fn sticky_fallback(&self, t: TaskRef) {
        if let Some(engine) = self.me.upgrade() {
            tokio::spawn(async move {
                if let Err(e) = engine.update(&t.run, Some(t.task_id), |x| x.reset_sticky()).await {
                    tracing::debug!("sticky fallback: {e}");
                }
            });
        }
    }

    /// Delivers an offer to the queue's owning replica, retrying with backoff while the queue's
    /// owner is unknown or unreachable. Gives up when the task's run is no longer ours (its new
    /// owner offers it again), when a query's caller must have given up, or at shutdown.
    async fn offer_remote(
        self: Arc<Self>,
        ns: String,
        queue: String,
        kind: QueueKind,
        sticky: bool,
        item: Dispatch,
    ) {
        use crate::peer::{AddTask, AddTaskReply, WireDispatch, json, parse};
        let started = std::time::Instant::now();
        let mut delay = std::time::Duration::from_millis(50);
        loop {
            let shard = self.ownership.queue_shard(&ns, &queue);
            if self.ownership.holds(shard) {
                self.offer_here(&ns, &queue, kind, sticky, item);
                return;
            }
            match &item {
                Dispatch::Task(t) if !self.owns_run(&t.run) => return,
                Dispatch::Query(_) if started.elapsed() > crate::matching::LONG_POLL => return,
                _ => {}
            }
            if self.ownership.is_stopping() {
                return;
            }
            if let Some(addr) = self.ownership.owner_address(shard) {
                let req = AddTask {
                    namespace_id: ns.clone(),
                    queue: queue.clone(),
                    activity: kind == QueueKind::Activity,
                    sticky,
                    item: WireDispatch::of(&item),
                };
                let sent = match (self.peers.cluster(&addr), json(&req)) {
                    (Ok(mut client), Ok(body)) => client.add_task(body).await.map_err(|s| s.to_string()),
                    (Err(e), _) => Err(e.to_string()),
                    (_, Err(e)) => Err(e.to_string()),
                };
                match sent.and_then(|r| parse::<AddTaskReply>(r.get_ref()).map_err(|s| s.to_string())) {
                    Ok(reply) => {
                        if !reply.accepted
                            && let Dispatch::Task(t) = item
                        {
                            self.sticky_fallback(t);
                        }
                        return;
                    }
                    Err(e) => tracing::debug!(queue = %queue, to = %addr, "offering a task: {e}"),
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(2));
        }
    }

    /// The timer queue.
    pub fn timer_queue(&self) -> &Arc<TimerQueue> {
        &self.timers
    }

    /// Subscribes to progress of a run's history (for long polls).
    pub fn watch(&self, key: &RunKey, current: RunProgress) -> watch::Receiver<RunProgress> {
        let mut w = self.watchers.lock();
        if w.len() > 1024 {
            w.retain(|_, tx| tx.receiver_count() > 0);
        }
        w.entry(key.clone()).or_insert_with(|| watch::channel(current).0).subscribe()
    }

    fn notify(&self, key: &RunKey, p: RunProgress) {
        let mut w = self.watchers.lock();
        if let Some(tx) = w.get(key) {
            if tx.receiver_count() == 0 {
                w.remove(key);
            } else {
                tx.send_replace(p);
            }
        }
    }

    /// Reads persisted history events `[first, end)`.
    pub async fn read_events(
        &self,
        key: &RunKey,
        first: i64,
        end: i64,
        limit: usize,
    ) -> ApiResult<Vec<HistoryEvent>> {
        let rows = self.store.read_events(key, first, end, limit).await?;
        rows.iter()
            .map(|r| {
                HistoryEvent::decode(r.data.as_slice())
                    .map_err(|e| ApiError::Internal(format!("corrupt event: {e}")))
            })
            .collect()
    }
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
