//! Workflow runs: mutable state, history events, the current-run pointer, and
//! [`ExecutionStore`], which writes them all in one [`WriteBatch`].

use crate::{Fence, NewTask, StoreResult, VisibilityRow};
use async_trait::async_trait;

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

impl WriteBatch {
    /// A batch for `run` that writes nothing else: unfenced, creating the run (no expected
    /// version), no events, tasks or visibility. Tests and tools start from it.
    pub fn for_run(run: RunKey) -> WriteBatch {
        WriteBatch {
            run,
            fence: None,
            state: vec![],
            expected_version: None,
            current: None,
            events: vec![],
            new_tasks: vec![],
            delete_tasks: vec![],
            visibility: None,
        }
    }
}

/// What a successful commit returns.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitResult {
    /// New version of the run row.
    pub db_version: i64,
    /// Ids given to the batch's new tasks, in order.
    pub task_ids: Vec<i64>,
}

/// Runs: reading state and history, and committing transitions.
///
/// A commit fails, writing nothing, with
/// [`StoreError::AlreadyExists`](crate::StoreError::AlreadyExists) when it creates a run that
/// exists, [`StoreError::Conflict`](crate::StoreError::Conflict) when the run is not at
/// `expected_version` or the current-run pointer does not meet its condition, and
/// [`StoreError::ShardOwnershipLost`](crate::StoreError::ShardOwnershipLost) when its fence is
/// no longer the shard's lease.
#[async_trait]
pub trait ExecutionStore: Send + Sync {
    /// The current run of a workflow id.
    async fn current_run(&self, namespace_id: &str, workflow_id: &str) -> StoreResult<Option<CurrentRun>>;
    /// Current runs whose pointer has status `status`, ordered by (namespace id, workflow id),
    /// those after `after` (a namespace id and workflow id), at most `limit`: a walk over the
    /// open runs (status Running) in pages.
    async fn current_runs_with_status(
        &self,
        status: i32,
        after: Option<(String, String)>,
        limit: usize,
    ) -> StoreResult<Vec<RunKey>>;
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
}
