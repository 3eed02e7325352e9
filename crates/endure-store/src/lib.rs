//! Storage traits for Endure.
//!
//! The server talks to storage only through [`Store`]. A backend stores opaque blobs (the
//! serialized mutable state, encoded history events, serialized tasks) plus the few columns it
//! must index; it knows nothing of Temporal's semantics. Every state change of a workflow run is
//! one [`WriteBatch`] applied atomically by [`Store::commit`]: history events, the new mutable
//! state, the current-run pointer, the tasks produced and the visibility record all land
//! together or not at all, and the call returns only once the batch is durable.

use async_trait::async_trait;

/// Errors of a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found a different version than expected (a concurrent writer won).
    #[error("condition failed: {0}")]
    ConditionFailed(String),
    /// An insert collided with an existing row.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The backend failed (I/O, corruption, driver error).
    #[error("storage backend error: {0}")]
    Backend(String),
    /// A fenced write named a shard lease that is no longer current: another member took the
    /// shard (its `range_id` moved on), so this writer must stop writing to it.
    #[error("shard ownership lost: {0}")]
    ShardOwnershipLost(String),
}

/// Result alias for storage operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// A namespace row. `data` is the serialized namespace description owned by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceRow {
    /// Namespace id (a UUID string).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Serialized description/config.
    pub data: Vec<u8>,
}

/// Identifies one run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunKey {
    /// Namespace id.
    pub namespace_id: String,
    /// Workflow id.
    pub workflow_id: String,
    /// Run id.
    pub run_id: String,
}

/// The pointer from a workflow id to its current (latest) run.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentRun {
    /// Run id.
    pub run_id: String,
    /// `WorkflowExecutionStatus` number of that run.
    pub status: i32,
    /// Request id that started that run (for idempotent starts).
    pub start_request_id: String,
}

/// A stored run: its mutable state blob and the version used for optimistic concurrency.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    /// Serialized mutable state.
    pub state: Vec<u8>,
    /// Version, incremented on each write.
    pub db_version: i64,
}

/// One encoded history event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// Event id (1-based, contiguous per run).
    pub event_id: i64,
    /// Protobuf encoding of the event.
    pub data: Vec<u8>,
}

/// A task to persist. Timer tasks carry a fire time; transfer tasks have none.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    /// Fire time in ns since the epoch, or `None` for a transfer task (ready now).
    pub fire_at: Option<i64>,
    /// Serialized task.
    pub data: Vec<u8>,
}

/// A persisted task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    /// Task id, unique and increasing.
    pub task_id: i64,
    /// The history shard of the task's run (from the writing batch's [`Fence`], 0 without one).
    pub shard_id: i32,
    /// The run the task belongs to.
    pub run: RunKey,
    /// Fire time, `None` for transfer tasks.
    pub fire_at: Option<i64>,
    /// Serialized task.
    pub data: Vec<u8>,
}

/// The searchable summary of a run, written with every transition that changes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VisibilityRow {
    /// Namespace id.
    pub namespace_id: String,
    /// Workflow id.
    pub workflow_id: String,
    /// Run id.
    pub run_id: String,
    /// Workflow type name.
    pub workflow_type: String,
    /// Task queue.
    pub task_queue: String,
    /// `WorkflowExecutionStatus` number.
    pub status: i32,
    /// Start time (ns).
    pub start_time: i64,
    /// Execution time (ns).
    pub execution_time: i64,
    /// Close time (ns), 0 while open.
    pub close_time: i64,
    /// Number of events.
    pub history_length: i64,
    /// History size in bytes.
    pub history_size_bytes: i64,
    /// Number of transitions.
    pub state_transition_count: i64,
    /// Serialized memo.
    pub memo: Vec<u8>,
    /// Serialized search attributes.
    pub search_attributes: Vec<u8>,
    /// Parent's workflow id (empty without a parent).
    pub parent_workflow_id: String,
    /// Parent's run id (empty without a parent).
    pub parent_run_id: String,
    /// Root workflow id (the run's own for a top-level run).
    pub root_workflow_id: String,
    /// Root run id (the run's own for a top-level run).
    pub root_run_id: String,
    /// Values of the run's registered custom search attributes, typed, for filtering.
    pub custom: Vec<(String, visibility::SaValue)>,
}

/// A filter for listing runs: a namespace, an optional typed expression (the list-filter
/// language, resolved and type-checked by the caller) and an open/closed restriction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VisibilityFilter {
    /// Namespace id (required).
    pub namespace_id: String,
    /// The filter expression (`None`: every run of the namespace).
    pub expr: Option<visibility::FilterExpr>,
    /// Only open (`Some(true)`) or closed (`Some(false)`) runs.
    pub open: Option<bool>,
}

/// A position in the listing order — open runs first (newest start first), then closed runs by
/// close time, newest first; ties by start time, then run id, descending — given by the last
/// row returned.
#[derive(Debug, Clone, PartialEq)]
pub struct PageCursor {
    /// Close time of the last row (0 while open).
    pub close_time: i64,
    /// Start time of the last row.
    pub start_time: i64,
    /// Run id of the last row.
    pub run_id: String,
}

impl PageCursor {
    /// The cursor after `row`.
    pub fn after(row: &VisibilityRow) -> PageCursor {
        PageCursor { close_time: row.close_time, start_time: row.start_time, run_id: row.run_id.clone() }
    }
}

/// Condition on the current-run pointer, checked inside the commit transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum CurrentCondition {
    /// No current row may exist.
    Absent,
    /// The current row must point at this run id.
    RunIs(String),
}

/// Update of the current-run pointer.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentWrite {
    /// Condition checked before writing.
    pub condition: CurrentCondition,
    /// New pointer value.
    pub value: CurrentRun,
}

/// The shard lease a write is made under. A fenced write commits only if the shard's stored
/// `range_id` still equals the lease's, checked inside the write's transaction; otherwise it
/// fails with [`StoreError::ShardOwnershipLost`] and writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fence {
    /// History shard of the run.
    pub shard_id: i32,
    /// The writer's lease on it.
    pub range_id: i64,
}

/// A live member of the cluster (a server replica), as its last heartbeat recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Unique id of the replica process.
    pub id: String,
    /// `host:port` of its internal gRPC API.
    pub address: String,
}

/// The ownership record of one history shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardLease {
    /// Shard id, `0..shard_count`.
    pub shard_id: i32,
    /// Member id of the owner; empty when released or never taken.
    pub owner: String,
    /// Incremented by every acquisition; writes are fenced by it.
    pub range_id: i64,
}

/// Everything one transition writes, applied atomically.
#[derive(Debug, Clone)]
pub struct WriteBatch {
    /// The run being written.
    pub run: RunKey,
    /// The shard lease of the writer (`None`: unfenced, shard 0 — single-process tools/tests).
    pub fence: Option<Fence>,
    /// New serialized mutable state.
    pub state: Vec<u8>,
    /// Expected current version: `None` creates the run (fails if it exists).
    pub expected_version: Option<i64>,
    /// Update of the current-run pointer, if any.
    pub current: Option<CurrentWrite>,
    /// History events to append.
    pub events: Vec<EventRow>,
    /// Tasks to create.
    pub new_tasks: Vec<NewTask>,
    /// Task ids to delete (tasks this transition consumed).
    pub delete_tasks: Vec<i64>,
    /// New visibility record, if it changed.
    pub visibility: Option<VisibilityRow>,
}

/// What a successful commit returns.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitResult {
    /// New version of the run row.
    pub db_version: i64,
    /// Ids given to the batch's new tasks, in order.
    pub task_ids: Vec<i64>,
}

/// The storage seam. Every backend passes the same behavioural tests.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a namespace; `AlreadyExists` if the name or id is taken.
    async fn create_namespace(&self, ns: NamespaceRow) -> StoreResult<()>;
    /// Replaces a namespace's data (by id).
    async fn update_namespace(&self, ns: NamespaceRow) -> StoreResult<()>;
    /// Looks a namespace up by name.
    async fn namespace_by_name(&self, name: &str) -> StoreResult<Option<NamespaceRow>>;
    /// Looks a namespace up by id.
    async fn namespace_by_id(&self, id: &str) -> StoreResult<Option<NamespaceRow>>;
    /// Lists all namespaces ordered by name.
    async fn list_namespaces(&self) -> StoreResult<Vec<NamespaceRow>>;

    /// The current run of a workflow id.
    async fn current_run(&self, namespace_id: &str, workflow_id: &str) -> StoreResult<Option<CurrentRun>>;
    /// A run's mutable state.
    async fn get_run(&self, key: &RunKey) -> StoreResult<Option<RunRow>>;
    /// History events with `first <= event_id < end`, at most `limit`, in order.
    async fn read_events(
        &self,
        key: &RunKey,
        first: i64,
        end: i64,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>>;
    /// History events with `event_id < before`, newest first, at most `limit`.
    async fn read_events_reverse(
        &self,
        key: &RunKey,
        before: i64,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>>;
    /// Applies a batch atomically and durably.
    async fn commit(&self, batch: WriteBatch) -> StoreResult<CommitResult>;
    /// Applies several batches (of different runs) as one atomic, durable transaction: used when
    /// one transition closes a run and creates its successor (continue-as-new, retry, cron).
    async fn commit_all(&self, batches: Vec<WriteBatch>) -> StoreResult<Vec<CommitResult>>;
    /// Deletes a run entirely: history, mutable state, its tasks, its visibility row, and the
    /// current-run pointer if it points at this run.
    async fn delete_run(&self, key: &RunKey) -> StoreResult<()>;
    /// Deletes tasks that turned out stale (no other change).
    async fn delete_tasks(&self, task_ids: Vec<i64>) -> StoreResult<()>;
    /// All persisted tasks (for tests and tools; the server loads them by kind below).
    async fn load_tasks(&self) -> StoreResult<Vec<TaskRow>>;
    /// Transfer tasks (no fire time) of the given shards, for loading the task queues when the
    /// shards are acquired.
    async fn load_transfer_tasks(&self, shards: &[i32]) -> StoreResult<Vec<TaskRow>>;
    /// Timer tasks of the given shards with `after < fire_at <= until`, earliest first.
    async fn load_timer_tasks(&self, shards: &[i32], after: i64, until: i64) -> StoreResult<Vec<TaskRow>>;

    /// Lists runs newest first (by start time, then run id), after `cursor`, at most `limit`.
    async fn list_runs(
        &self,
        filter: &VisibilityFilter,
        cursor: Option<PageCursor>,
        limit: usize,
    ) -> StoreResult<Vec<VisibilityRow>>;
    /// Counts runs matching a filter.
    async fn count_runs(&self, filter: &VisibilityFilter) -> StoreResult<i64>;
    /// Counts matching runs grouped by status.
    async fn count_runs_by_status(&self, filter: &VisibilityFilter) -> StoreResult<Vec<(i32, i64)>>;
    /// The custom search attributes registered in a namespace, by name.
    async fn search_attributes(&self, namespace_id: &str) -> StoreResult<Vec<(String, visibility::SaType)>>;
    /// Registers custom search attributes in a namespace (all or none; an existing name is a
    /// [`StoreError::ConditionFailed`] naming it).
    async fn add_search_attributes(
        &self,
        namespace_id: &str,
        attrs: Vec<(String, visibility::SaType)>,
    ) -> StoreResult<()>;
    /// Unregisters custom search attributes (all or none; a missing name is a
    /// [`StoreError::ConditionFailed`] naming it). Values already stored stay in the runs.
    async fn remove_search_attributes(&self, namespace_id: &str, names: Vec<String>) -> StoreResult<()>;

    /// The cluster's history shard count: stores `requested` if no count is stored yet (and
    /// creates the shards' lease rows, unowned, range 0), then returns the stored count — the
    /// count is fixed when the cluster is created.
    async fn init_shard_count(&self, requested: u32) -> StoreResult<u32>;
    /// Records a heartbeat of member `id` (reachable at `address`), live for `ttl_ms` by the
    /// database's clock, and returns every live member (this one included), ordered by id.
    async fn heartbeat_member(&self, id: &str, address: &str, ttl_ms: i64) -> StoreResult<Vec<Member>>;
    /// Removes a member's row (graceful leave); unknown ids are ignored.
    async fn remove_member(&self, id: &str) -> StoreResult<()>;
    /// Every shard's lease, ordered by shard id.
    async fn shard_leases(&self) -> StoreResult<Vec<ShardLease>>;
    /// Takes shard `shard_id` for `owner` if its `range_id` is still `expected_range_id`: sets
    /// the owner and increments the range, fencing out every earlier lease (in-flight fenced
    /// writes of the previous owner either commit before this or fail after it). Returns the
    /// new lease; [`StoreError::ConditionFailed`] if the range moved on.
    async fn acquire_shard(
        &self,
        shard_id: i32,
        owner: &str,
        expected_range_id: i64,
    ) -> StoreResult<ShardLease>;
    /// Gives a shard up (owner cleared, range kept) if `owner` still holds it at `range_id`;
    /// a no-op otherwise.
    async fn release_shard(&self, shard_id: i32, owner: &str, range_id: i64) -> StoreResult<()>;

    /// Flushes and closes the store; later calls fail.
    async fn close(&self) -> StoreResult<()>;
}

pub mod conformance;
pub mod visibility;
