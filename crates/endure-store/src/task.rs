//! The outbox: tasks written by commits, and [`TaskStore`], which loads and deletes them.

use crate::{Fence, RunKey, StoreResult};
use async_trait::async_trait;

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
    /// The history shard of the task's run (from the writing batch's
    /// [`Fence`](crate::Fence), 0 without one).
    pub shard_id: i32,
    /// The run the task belongs to.
    pub run: RunKey,
    /// Fire time, `None` for transfer tasks.
    pub fire_at: Option<i64>,
    /// Serialized task.
    pub data: Vec<u8>,
}

/// Outbox tasks: created by [`ExecutionStore::commit`](crate::ExecutionStore::commit), loaded
/// by shard and kind, deleted once consumed.
#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Deletes tasks that turned out stale (no other change). With a `fence`, only while that
    /// lease is current, checked in the deletion's transaction like a commit's
    /// ([`StoreError::ShardOwnershipLost`](crate::StoreError::ShardOwnershipLost) otherwise, and nothing is deleted): a replica that
    /// lost the shard must not judge its tasks.
    async fn delete_tasks(&self, fence: Option<Fence>, task_ids: Vec<i64>) -> StoreResult<()>;
    /// The tasks of one run, in id order.
    async fn run_tasks(&self, key: &RunKey) -> StoreResult<Vec<TaskRow>>;
    /// All persisted tasks (for tests and tools; the server loads them by kind below).
    async fn load_tasks(&self) -> StoreResult<Vec<TaskRow>>;
    /// Transfer tasks (no fire time) of the given shards, for loading the task queues when the
    /// shards are acquired.
    async fn load_transfer_tasks(&self, shards: &[i32]) -> StoreResult<Vec<TaskRow>>;
    /// Timer tasks of the given shards with `after < fire_at <= until`, earliest first.
    async fn load_timer_tasks(&self, shards: &[i32], after: i64, until: i64) -> StoreResult<Vec<TaskRow>>;
}
