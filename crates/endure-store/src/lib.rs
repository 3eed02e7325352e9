//! Storage traits for Endure: the seam every backend (SQLite, PostgreSQL) implements.
//!
//! The server talks to storage only through these traits, one per concern:
//!
//! | trait | what it stores | module |
//! |---|---|---|
//! | [`NamespaceStore`] | namespaces | `namespace` |
//! | [`ExecutionStore`] | runs: mutable state, history, current-run pointers; commits | `execution` |
//! | [`TaskStore`] | the outbox of transfer and timer tasks | `task` |
//! | [`VisibilityStore`] | listing and counting runs | [`visibility`] |
//! | [`SearchAttributeStore`] | each namespace's custom search attributes | `search_attributes` |
//! | [`ClusterStore`] | shard count, member heartbeats, shard leases | `cluster` |
//!
//! [`Store`] is their sum plus [`Store::close`]: a backend implements all of them, and a
//! consumer holds the narrowest view it needs — an `Arc<dyn Store>` coerces to
//! `Arc<dyn NamespaceStore>` and the others (trait upcasting):
//!
//! ```
//! use endure_store::{NamespaceStore, Store};
//! use std::sync::Arc;
//!
//! fn namespaces_only(store: &Arc<dyn Store>) -> Arc<dyn NamespaceStore> {
//!     store.clone()
//! }
//! ```
//!
//! A backend stores opaque blobs (the serialized mutable state, encoded history events,
//! serialized tasks) plus the few columns it must index; it knows nothing of Temporal's wire
//! format. Every state change of a workflow run is one [`WriteBatch`] applied atomically by
//! [`ExecutionStore::commit`]: history events, the new mutable state, the current-run pointer,
//! the tasks produced and the visibility record all land together or not at all, and the call
//! returns only once the batch is durable.
//!
//! Failures are [`StoreError`]s sorted by what the caller must decide (retry, re-read, report
//! a duplicate or a missing thing, give up a shard, report corruption), each keeping its
//! driver error as its source.
//!
//! With the `conformance` feature (enabled only by the backends' dev-dependencies),
//! [`conformance`] holds the behaviours every backend must show and
//! [`conformance_tests!`] turns them into one test per behaviour.

#![warn(missing_docs)]

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

mod cluster;
mod error;
mod execution;
mod namespace;
mod search_attributes;
mod task;
pub mod visibility;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use cluster::{ClusterStore, Fence, Member, ShardLease};
pub use error::{BoxError, StoreError, StoreResult};
pub use execution::{
    CommitResult, CurrentCondition, CurrentRun, CurrentWrite, EventRow, ExecutionStore, RunKey, RunRow,
    WriteBatch,
};
pub use namespace::{NamespaceRow, NamespaceStore};
pub use search_attributes::SearchAttributeStore;
pub use task::{NewTask, TaskRow, TaskStore};
pub use visibility::{PageCursor, VisibilityFilter, VisibilityRow, VisibilityStore};

/// The whole storage seam: every concern's trait, plus closing. Every backend implements it
/// and passes the same behavioural tests ([`conformance`] with the `conformance` feature).
#[async_trait]
pub trait Store:
    NamespaceStore + ExecutionStore + TaskStore + VisibilityStore + SearchAttributeStore + ClusterStore + 'static
{
    /// Flushes and closes the store. Later writes fail with [`StoreError::Closed`] (reads may
    /// too: on PostgreSQL every later call does; SQLite still answers reads of a file).
    /// Closing again does nothing.
    async fn close(&self) -> StoreResult<()>;

    /// Tells `observer` about this store's writes from now on (group commits and the writes
    /// waiting for them); a backend without a writer of its own reports nothing. Set once.
    fn observe_writes(&self, observer: Arc<dyn WriteObserver>) {
        let _ = observer;
    }
}

/// What a backend reports of its writes, for the server's metrics: the backend measures, the
/// server names and records (no backend knows a metric's name).
pub trait WriteObserver: Send + Sync {
    /// One group commit of `backend` (`sqlite`, `postgres`): `transactions` writes made durable
    /// together in `elapsed`, its fsync or round trip included.
    fn group_committed(&self, backend: &'static str, transactions: usize, elapsed: Duration);
    /// Writes waiting for `backend`'s writer (or for a connection) right now.
    fn waiting(&self, backend: &'static str, writes: usize);
}
