//! An in-memory, deterministic backend for Endure's storage traits ([`Store`](endure_store::Store)
//! and the traits it sums), with fault injection: the store behind a deterministic simulation
//! of the cluster, and a fast store for tests.
//!
//! **Not a production backend: nothing is persisted.** The data lives as long as a handle on
//! it, and is gone with the process.
//!
//! # What it does
//!
//! The semantics of the SQL backends (`endure-store-sqlite`, `endure-store-postgres`), checked
//! by the same behavioural suite (`endure_store::conformance_tests!`, `tests/conformance.rs`)
//! and by differential tests giving it and SQLite the same seeded random calls
//! (`tests/against_sqlite.rs`). Where the two SQL backends disagree it does what PostgreSQL,
//! the cluster's database, does (`tests/postgres_choices.rs`): a run without a KeywordList is
//! unknown to every test on it, even under `NOT`; list orderings test the elements; a value or
//! literal of another type than its attribute is NULL; a group checks every fence before any
//! other condition; deleting no tasks checks no fence. Two choices follow SQLite instead: a
//! stored shard count is returned whatever is requested (PostgreSQL first refuses a requested
//! 0), and custom values read back ordered by name.
//!
//! - **Commits** (`commit.rs`): a [`WriteBatch`](endure_store::WriteBatch), or a group of them
//!   (`commit_all`), applies all or nothing: the fences first, then per batch the current-run
//!   condition, the optimistic `db_version`, events (an id is taken once), tasks (ids from one
//!   increasing counter), consumed tasks' deletes and the visibility row. A failure takes every
//!   change back (an undo log, `tables.rs`).
//! - **Fencing** (`cluster.rs`): a fenced commit or a fenced `delete_tasks` applies only while
//!   its lease is the shard's current one, checked in the same atomic step as the write.
//! - **Cluster** (`cluster.rs`): the shard count fixed by the first `init_shard_count`, leases
//!   taken and released by compare-and-set on `range_id`, member heartbeats expiring by the
//!   database's [`Clock`] — injected (simulated time), the system clock by default.
//! - **Visibility** (`filter.rs`, `visibility.rs`): the whole typed filter language
//!   ([`FilterExpr`](endure_store::visibility::FilterExpr)) evaluated with SQL's NULL logic,
//!   Text word match, KeywordList membership, literal prefixes; the listing order and cursors;
//!   counts, by status too.
//! - **Handles** (`store.rs`): [`MemoryStore::new`] makes a database, [`MemoryStore::handle`]
//!   another handle on it — one per simulated replica, as each replica has its own pool on one
//!   PostgreSQL database. A handle has its own fault policy and its own `close` (after which
//!   every call on it fails with `Closed`).
//!
//! # Determinism
//!
//! No threads, no randomness, no hash maps (every table is an ordered map, strings ordered
//! byte-wise as in both SQL backends), and no wall clock unless the default clock is used: the
//! same calls in the same order give the same answers. Every call runs atomically under one
//! lock never held across an await, so calls are serializable; which of two concurrent calls
//! goes first is the async runtime's choice (a single-threaded runtime on a paused clock makes
//! it deterministic).
//!
//! # Fault injection
//!
//! A handle made [`with_faults`](MemoryStore::with_faults) asks its [`Faults`] policy, at the
//! start of every call, what to do with the call ([`Operation`]: the method and its arguments —
//! for commits the batches, hence their runs and fences): [`Fault::Proceed`],
//! [`Fault::TimeOut`] (fail with `Unavailable`, nothing done), [`Fault::Delay`] (wait on tokio's
//! clock, then proceed) or [`Fault::LoseAck`] (carry a write out, then fail with `Unavailable`).
//! The injected errors' source is an [`InjectedFault`].
//!
//! ```
//! use endure_store::{ClusterStore, StoreError};
//! use endure_store_memory::{Clock, Fault, MemoryStore, Operation};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // The database, on simulated time (here a fixed instant, in ns since the epoch).
//! let db = MemoryStore::with_clock(Clock::from_fn(|| 1_000_000_000));
//! db.init_shard_count(4).await.unwrap();
//! // A replica whose shard acquisitions lose their answers; other handles are healthy.
//! let replica = db.handle().with_faults(Arc::new(|op: &Operation<'_>| {
//!     if op.name() == "acquire_shard" { Fault::LoseAck } else { Fault::Proceed }
//! }));
//! let lost = replica.acquire_shard(0, "replica-1", 0).await;
//! assert!(matches!(lost, Err(StoreError::Unavailable { .. })));
//! // The acquisition happened all the same.
//! assert_eq!(db.shard_leases().await.unwrap()[0].owner, "replica-1");
//! # }
//! ```
//!
//! # What it deliberately does not do
//!
//! - Persist anything, survive its process, or model durability (every acknowledged write is
//!   simply there).
//! - Model the SQL backends' concurrency: no READ COMMITTED interleavings inside a commit, no
//!   connection pool to exhaust, no lock waits, no group commit. Slowness and failures of the
//!   database are what a fault policy injects, at call granularity: a call is never half
//!   applied.
//! - Fail on its own: without a fault policy no call answers `Unavailable`, and the only
//!   `Backend` errors are invalid arguments (a shard count out of range).
//! - Index anything: listings and task loads scan, fine for simulations and tests, not for
//!   load.
//! - Migrate or version a schema (there is none).

#![warn(missing_docs)]

mod clock;
mod cluster;
mod commit;
mod error;
mod faults;
mod filter;
mod store;
mod tables;
mod visibility;

pub use clock::Clock;
pub use faults::{Fault, Faults, InjectedFault, Operation};
pub use store::MemoryStore;
