//! Fault injection: a [`Faults`] policy is asked, at the start of every call on a store
//! handle, what to do with it ([`Fault`]), given a description of the call ([`Operation`]).
//!
//! A leaf: it describes calls and answers; `store.rs` carries the answers out.

use endure_store::visibility::SaType;
use endure_store::{Fence, NamespaceRow, RunKey, VisibilityFilter, WriteBatch};
use std::time::Duration;

/// What the store does with one call. Every answer is carried out exactly as written here, and
/// the call's own outcome (success, or an error such as `Conflict`) is what it would have been
/// without the fault except where this says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Carry the call out normally.
    Proceed,
    /// A time-out before the call reached the database: fail at once with
    /// [`StoreError::Unavailable`](endure_store::StoreError::Unavailable) (its source an
    /// [`InjectedFault`] with `applied: false`), having read and written nothing.
    TimeOut,
    /// A slow round trip: wait this long on tokio's clock (`tokio::time::sleep`, so a paused or
    /// simulated clock decides when it ends), then carry the call out. The call takes effect when
    /// the wait ends, against the state at that moment (a fenced commit delayed past a shard
    /// acquisition fails with `ShardOwnershipLost`), even if its handle was closed meanwhile
    /// (it was already sent); dropping the call's future during the wait (a crash at that await
    /// point) leaves it never applied.
    Delay(Duration),
    /// The answer was lost: carry the call out, then fail with
    /// [`StoreError::Unavailable`](endure_store::StoreError::Unavailable) (its source an
    /// [`InjectedFault`] with `applied: true`) whatever its outcome was. A write happened, or
    /// failed on its own conditions, and the caller cannot tell which; repeating it runs its
    /// version, current-run and fence checks again, so it cannot apply twice. On a read there
    /// is nothing to keep, so it is the same as [`Fault::TimeOut`].
    LoseAck,
}

/// A fault policy, consulted once at the start of every call on a store handle it was given to
/// ([`MemoryStore::with_faults`](crate::MemoryStore::with_faults)), after the closed check and
/// before anything else; never by [`Store::close`](endure_store::Store::close).
///
/// The store calls it in the order the calls arrive, so a policy that is itself deterministic
/// (a seeded generator, a schedule) gives the same faults to the same calls. It is called
/// without any lock of the store held. Any `Fn(&Operation<'_>) -> Fault` is a policy.
pub trait Faults: Send + Sync {
    /// What to do with the call described by `operation`.
    fn decide(&self, operation: &Operation<'_>) -> Fault;
}

impl<F> Faults for F
where
    F: Fn(&Operation<'_>) -> Fault + Send + Sync,
{
    fn decide(&self, operation: &Operation<'_>) -> Fault {
        self(operation)
    }
}

/// The cause of an [`Unavailable`](endure_store::StoreError::Unavailable) error the store
/// made up for a [`Fault`]: the source of that error, so a test can tell an injected failure
/// from another and whether the call was carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} {}", if *.applied { "was carried out, its answer lost" } else { "timed out, nothing done" })]
pub struct InjectedFault {
    /// The call's [`Operation::name`].
    pub operation: &'static str,
    /// Whether the call was carried out before the answer was lost ([`Fault::LoseAck`] on a
    /// write).
    pub applied: bool,
}

/// One call on the store, with its arguments, as a [`Faults`] policy sees it. Each variant is
/// named after the trait method it describes; its fields are that method's arguments, named as
/// there.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
#[allow(missing_docs)] // only the variants' fields: the trait method's arguments
pub enum Operation<'a> {
    /// `create_namespace` of this namespace.
    CreateNamespace(&'a NamespaceRow),
    /// `update_namespace` to this namespace.
    UpdateNamespace(&'a NamespaceRow),
    /// `namespace_by_name` of this name.
    NamespaceByName(&'a str),
    /// `namespace_by_id` of this id.
    NamespaceById(&'a str),
    /// `list_namespaces`.
    ListNamespaces,
    /// `current_run` of a workflow.
    CurrentRun { namespace_id: &'a str, workflow_id: &'a str },
    /// `current_runs_with_status` (a page of them).
    CurrentRunsWithStatus { status: i32, limit: usize },
    /// `get_run` of this run.
    GetRun(&'a RunKey),
    /// `read_events` of this run.
    ReadEvents(&'a RunKey),
    /// `read_events_reverse` of this run.
    ReadEventsReverse(&'a RunKey),
    /// `commit` of this batch.
    Commit(&'a WriteBatch),
    /// `commit_all` of these batches.
    CommitAll(&'a [WriteBatch]),
    /// `delete_run` of this run.
    DeleteRun(&'a RunKey),
    /// `delete_tasks` of these ids, under this fence.
    DeleteTasks { fence: Option<Fence>, task_ids: &'a [i64] },
    /// `run_tasks` of this run.
    RunTasks(&'a RunKey),
    /// `load_tasks`.
    LoadTasks,
    /// `load_transfer_tasks` of these shards.
    LoadTransferTasks { shards: &'a [i32] },
    /// `load_timer_tasks` of these shards, in this window.
    LoadTimerTasks { shards: &'a [i32], after: i64, until: i64 },
    /// `list_runs` under this filter.
    ListRuns(&'a VisibilityFilter),
    /// `count_runs` under this filter.
    CountRuns(&'a VisibilityFilter),
    /// `count_runs_by_status` under this filter.
    CountRunsByStatus(&'a VisibilityFilter),
    /// `search_attributes` of a namespace.
    SearchAttributes { namespace_id: &'a str },
    /// `add_search_attributes` of these attributes to a namespace.
    AddSearchAttributes { namespace_id: &'a str, attrs: &'a [(String, SaType)] },
    /// `remove_search_attributes` of these names from a namespace.
    RemoveSearchAttributes { namespace_id: &'a str, names: &'a [String] },
    /// `init_shard_count` with this request.
    InitShardCount { requested: u32 },
    /// `heartbeat_member` of this member.
    HeartbeatMember { id: &'a str, address: &'a str, ttl_ms: i64 },
    /// `remove_member` of this member.
    RemoveMember { id: &'a str },
    /// `shard_leases`.
    ShardLeases,
    /// `acquire_shard` of a shard, for an owner, at an expected range.
    AcquireShard { shard_id: i32, owner: &'a str, expected_range_id: i64 },
    /// `release_shard` of a shard held by an owner at a range.
    ReleaseShard { shard_id: i32, owner: &'a str, range_id: i64 },
}

impl<'a> Operation<'a> {
    /// The name of the trait method (`"commit"`, `"acquire_shard"` …).
    pub fn name(&self) -> &'static str {
        match self {
            Operation::CreateNamespace(_) => "create_namespace",
            Operation::UpdateNamespace(_) => "update_namespace",
            Operation::NamespaceByName(_) => "namespace_by_name",
            Operation::NamespaceById(_) => "namespace_by_id",
            Operation::ListNamespaces => "list_namespaces",
            Operation::CurrentRun { .. } => "current_run",
            Operation::CurrentRunsWithStatus { .. } => "current_runs_with_status",
            Operation::GetRun(_) => "get_run",
            Operation::ReadEvents(_) => "read_events",
            Operation::ReadEventsReverse(_) => "read_events_reverse",
            Operation::Commit(_) => "commit",
            Operation::CommitAll(_) => "commit_all",
            Operation::DeleteRun(_) => "delete_run",
            Operation::DeleteTasks { .. } => "delete_tasks",
            Operation::RunTasks(_) => "run_tasks",
            Operation::LoadTasks => "load_tasks",
            Operation::LoadTransferTasks { .. } => "load_transfer_tasks",
            Operation::LoadTimerTasks { .. } => "load_timer_tasks",
            Operation::ListRuns(_) => "list_runs",
            Operation::CountRuns(_) => "count_runs",
            Operation::CountRunsByStatus(_) => "count_runs_by_status",
            Operation::SearchAttributes { .. } => "search_attributes",
            Operation::AddSearchAttributes { .. } => "add_search_attributes",
            Operation::RemoveSearchAttributes { .. } => "remove_search_attributes",
            Operation::InitShardCount { .. } => "init_shard_count",
            Operation::HeartbeatMember { .. } => "heartbeat_member",
            Operation::RemoveMember { .. } => "remove_member",
            Operation::ShardLeases => "shard_leases",
            Operation::AcquireShard { .. } => "acquire_shard",
            Operation::ReleaseShard { .. } => "release_shard",
        }
    }

    /// Whether the call may change the database (a heartbeat does: it records the member).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Operation::CreateNamespace(_)
                | Operation::UpdateNamespace(_)
                | Operation::Commit(_)
                | Operation::CommitAll(_)
                | Operation::DeleteRun(_)
                | Operation::DeleteTasks { .. }
                | Operation::AddSearchAttributes { .. }
                | Operation::RemoveSearchAttributes { .. }
                | Operation::InitShardCount { .. }
                | Operation::HeartbeatMember { .. }
                | Operation::RemoveMember { .. }
                | Operation::AcquireShard { .. }
                | Operation::ReleaseShard { .. }
        )
    }

    /// The batches of a `commit` (one) or `commit_all`; none for other calls.
    pub fn batches(&self) -> &'a [WriteBatch] {
        match *self {
            Operation::Commit(b) => std::slice::from_ref(b),
            Operation::CommitAll(bs) => bs,
            _ => &[],
        }
    }

    /// The runs the call writes: its batches' runs, or the run `delete_run` deletes.
    pub fn runs(&self) -> Vec<&'a RunKey> {
        match *self {
            Operation::DeleteRun(k) => vec![k],
            _ => self.batches().iter().map(|b| &b.run).collect(),
        }
    }

    /// The leases the call is fenced by: its batches' fences, or `delete_tasks`' fence.
    pub fn fences(&self) -> Vec<Fence> {
        match *self {
            Operation::DeleteTasks { fence, .. } => fence.into_iter().collect(),
            _ => self.batches().iter().filter_map(|b| b.fence).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(wf: &str, fence: Option<Fence>) -> WriteBatch {
        WriteBatch {
            fence,
            ..WriteBatch::for_run(RunKey {
                namespace_id: "ns".into(),
                workflow_id: wf.into(),
                run_id: "r".into(),
            })
        }
    }

    #[test]
    fn operations_describe_their_runs_and_fences() {
        let f = Fence { shard_id: 2, range_id: 7 };
        let one = batch("a", Some(f));
        let op = Operation::Commit(&one);
        assert_eq!((op.name(), op.is_write()), ("commit", true));
        assert_eq!(op.runs(), vec![&one.run]);
        assert_eq!(op.fences(), vec![f]);

        let group = [batch("b", None), batch("c", Some(f))];
        let op = Operation::CommitAll(&group);
        assert_eq!(op.runs().iter().map(|k| k.workflow_id.as_str()).collect::<Vec<_>>(), vec!["b", "c"]);
        assert_eq!(op.fences(), vec![f]);

        let op = Operation::DeleteTasks { fence: Some(f), task_ids: &[1, 2] };
        assert_eq!((op.name(), op.is_write(), op.fences()), ("delete_tasks", true, vec![f]));
        assert!(op.runs().is_empty());

        let op = Operation::LoadTransferTasks { shards: &[1] };
        assert_eq!((op.name(), op.is_write()), ("load_transfer_tasks", false));
        assert!(op.batches().is_empty() && op.fences().is_empty());
    }

    #[test]
    fn a_closure_is_a_policy() {
        let policy = |op: &Operation<'_>| if op.is_write() { Fault::TimeOut } else { Fault::Proceed };
        assert_eq!(policy.decide(&Operation::ShardLeases), Fault::Proceed);
        assert_eq!(policy.decide(&Operation::RemoveMember { id: "m" }), Fault::TimeOut);
    }

    #[test]
    fn the_injected_cause_says_whether_the_call_was_carried_out() {
        let lost = InjectedFault { operation: "commit", applied: true };
        assert_eq!(lost.to_string(), "commit was carried out, its answer lost");
        let timed_out = InjectedFault { operation: "get_run", applied: false };
        assert_eq!(timed_out.to_string(), "get_run timed out, nothing done");
    }
}
