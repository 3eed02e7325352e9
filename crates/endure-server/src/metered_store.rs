//! A [`Store`] that records every call's latency and failure (`persistence_requests`,
//! `persistence_latency`, `persistence_errors`) and passes it on unchanged. The server wraps
//! whatever store it is given, so every backend is measured the same way, under the
//! operation names listed once below.
//!
//! It does not know what a call means or how a backend answers it; a not-found answer is an
//! answer, not an error (`error::store_error_type`).

use crate::clock;
use crate::error::store_error_type;
use crate::metrics;
use async_trait::async_trait;
use endure_store::visibility::SaType;
use endure_store::{
    ClusterStore, CommitResult, CurrentRun, EventRow, ExecutionStore, Fence, Member, NamespaceRow,
    NamespaceStore, PageCursor, RunKey, RunRow, SearchAttributeStore, ShardLease, Store, StoreResult,
    TaskRow, TaskStore, VisibilityFilter, VisibilityRow, VisibilityStore, WriteBatch,
};
use std::future::Future;
use std::sync::Arc;

/// The store, measured.
pub struct MeteredStore {
    inner: Arc<dyn Store>,
}

impl MeteredStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        MeteredStore { inner }
    }
}

async fn observe<T>(operation: &'static str, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let started = clock::monotonic();
    let r = call.await;
    let error = r.as_ref().err().and_then(store_error_type);
    metrics::persistence(operation, clock::since(started), error);
    r
}

macro_rules! metered {
    ($($trait:ident { $(fn $m:ident($($a:ident: $t:ty),*) -> $r:ty => $op:literal;)* })*) => {
        $(
            #[async_trait]
            impl $trait for MeteredStore {
                $(
                    async fn $m(&self $(, $a: $t)*) -> StoreResult<$r> {
                        observe($op, self.inner.$m($($a),*)).await
                    }
                )*
            }
        )*
    };
}

metered! {
    NamespaceStore {
        fn create_namespace(ns: NamespaceRow) -> () => "CreateNamespace";
        fn update_namespace(ns: NamespaceRow) -> () => "UpdateNamespace";
        fn namespace_by_name(name: &str) -> Option<NamespaceRow> => "GetNamespace";
        fn namespace_by_id(id: &str) -> Option<NamespaceRow> => "GetNamespaceById";
        fn list_namespaces() -> Vec<NamespaceRow> => "ListNamespaces";
    }
    ExecutionStore {
        fn current_run(namespace_id: &str, workflow_id: &str) -> Option<CurrentRun> => "GetCurrentExecution";
        fn current_runs_with_status(status: i32, after: Option<(String, String)>, limit: usize) -> Vec<RunKey>
            => "ListConcreteExecutions";
        fn get_run(key: &RunKey) -> Option<RunRow> => "GetWorkflowExecution";
        fn read_events(key: &RunKey, first: i64, end: i64, limit: usize) -> Vec<EventRow> => "ReadHistoryBranch";
        fn read_events_reverse(key: &RunKey, before: i64, limit: usize) -> Vec<EventRow>
            => "ReadHistoryBranchReverse";
        fn commit(batch: WriteBatch) -> CommitResult => "UpdateWorkflowExecution";
        fn commit_all(batches: Vec<WriteBatch>) -> Vec<CommitResult> => "ConflictResolveWorkflowExecution";
        fn delete_run(key: &RunKey) -> () => "DeleteWorkflowExecution";
    }
    TaskStore {
        fn delete_tasks(fence: Option<Fence>, task_ids: Vec<i64>) -> () => "CompleteHistoryTask";
        fn run_tasks(key: &RunKey) -> Vec<TaskRow> => "GetRunTasks";
        fn load_tasks() -> Vec<TaskRow> => "GetHistoryTasks";
        fn load_transfer_tasks(shards: &[i32]) -> Vec<TaskRow> => "GetTransferTasks";
        fn load_timer_tasks(shards: &[i32], after: i64, until: i64) -> Vec<TaskRow> => "GetTimerTasks";
    }
    VisibilityStore {
        fn list_runs(filter: &VisibilityFilter, cursor: Option<PageCursor>, limit: usize) -> Vec<VisibilityRow>
            => "ListWorkflowExecutions";
        fn count_runs(filter: &VisibilityFilter) -> i64 => "CountWorkflowExecutions";
        fn count_runs_by_status(filter: &VisibilityFilter) -> Vec<(i32, i64)> => "CountGroupByWorkflowExecutions";
    }
    SearchAttributeStore {
        fn search_attributes(namespace_id: &str) -> Vec<(String, SaType)> => "GetSearchAttributes";
        fn add_search_attributes(namespace_id: &str, attrs: Vec<(String, SaType)>) -> () => "AddSearchAttributes";
        fn remove_search_attributes(namespace_id: &str, names: Vec<String>) -> () => "RemoveSearchAttributes";
    }
    ClusterStore {
        fn init_shard_count(requested: u32) -> u32 => "InitShardCount";
        fn heartbeat_member(id: &str, address: &str, ttl_ms: i64) -> Vec<Member> => "UpsertClusterMembership";
        fn remove_member(id: &str) -> () => "PruneClusterMembership";
        fn shard_leases() -> Vec<ShardLease> => "GetShards";
        fn acquire_shard(shard_id: i32, owner: &str, expected_range_id: i64) -> ShardLease => "UpdateShard";
        fn release_shard(shard_id: i32, owner: &str, range_id: i64) -> () => "ReleaseShard";
    }
}

#[async_trait]
impl Store for MeteredStore {
    async fn close(&self) -> StoreResult<()> {
        self.inner.close().await
    }

    fn observe_writes(&self, observer: Arc<dyn endure_store::WriteObserver>) {
        self.inner.observe_writes(observer);
    }
}
