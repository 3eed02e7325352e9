//! PostgreSQL backend for Endure's storage traits ([`Store`](endure_store::Store) and the
//! traits it sums): the database a cluster of Endure replicas shares.
//!
//! - **Connections** (`conn.rs`): a bounded [`deadpool_postgres`] pool of `tokio-postgres`
//!   connections ([`PostgresConfig::max_connections`]); statements are prepared once per
//!   connection and cached. Nothing polls: an idle store sends nothing.
//! - **Schema** (`migrate.rs`): numbered migrations (`migrations/*.sql`, embedded) applied by
//!   [`PostgresStore::migrate`] (what `endure migrate` runs), each in its own transaction,
//!   recorded in `schema_migrations`, serialized between replicas by an advisory lock.
//!   [`PostgresStore::connect`] refuses a database whose schema is older (run `endure migrate`)
//!   or newer (upgrade Endure) than [`SCHEMA_VERSION`].
//! - **Commits** (`commit.rs`, `pipeline.rs`): one READ COMMITTED transaction per
//!   [`commit`](endure_store::ExecutionStore::commit) whose statements are pipelined (sent
//!   together, one round trip), with conditional updates (`db_version`, the current-run
//!   pointer) instead of SERIALIZABLE retries; events and tasks are inserted with one multi-row
//!   statement each. The call returns once PostgreSQL has committed (`synchronous_commit` on).
//! - **Fencing** (`commit.rs`, `cluster.rs`): a batch with a [`Fence`](endure_store::Fence)
//!   first reads its shard's `range_id` with `SELECT … FOR SHARE` in the same transaction. A
//!   concurrent [`acquire_shard`](endure_store::ClusterStore::acquire_shard) (an `UPDATE` of
//!   that row) waits for in-flight fenced commits and every later one sees the new range and
//!   fails with [`ShardOwnershipLost`](endure_store::StoreError::ShardOwnershipLost), writing
//!   nothing.
//! - **Visibility** (`filter.rs`): filters compile to SQL with bind parameters; custom search
//!   attributes live in a JSONB column with an expression index per registered attribute.
//! - **Rows and statements**: `rows.rs` reads result rows back; the long statements are
//!   `sql/*.sql`; `store.rs` holds [`PostgresStore`] and the traits' implementations
//!   (`cluster.rs` the [`ClusterStore`](endure_store::ClusterStore) one).
//! - **Errors** (`error.rs`): driver and pool errors become
//!   [`StoreError`](endure_store::StoreError)s in one place, by SQLSTATE: connection
//!   exceptions, serialization failures, deadlocks, lock and connection limits, a pool
//!   time-out or a lost connection are `Unavailable` (retryable); unique violations
//!   `AlreadyExists`; data or index corruption `Corrupt`; the rest `Backend`. The driver's
//!   error stays the source. Connecting and migrating fail with [`PgError`].
//!
//! Tests: [`testing`] makes a scratch database per test on the server named by
//! `ENDURE_TEST_POSTGRES_URL`; `tests/conformance.rs` runs the shared behavioural suite (one
//! test per behaviour) with a pool of 8 connections and with a single one.

#![warn(missing_docs)]

mod cluster;
mod commit;
mod config;
mod conn;
mod error;
mod fence;
mod filter;
mod migrate;
mod pipeline;
mod rows;
mod store;
pub mod testing;

pub use config::PostgresConfig;
pub use error::PgError;
pub use migrate::{MigrationReport, SCHEMA_VERSION};
pub use store::PostgresStore;
