//! PostgreSQL backend for Endure's [`Store`](endure_store::Store) trait: the database a cluster
//! of Endure replicas shares.
//!
//! - **Connections**: a bounded [`deadpool_postgres`] pool of `tokio-postgres` connections
//!   ([`PostgresConfig::max_connections`]); statements are prepared once per connection and
//!   cached. Nothing polls: an idle store sends nothing.
//! - **Schema**: numbered migrations (`migrations/*.sql`, embedded) applied by
//!   [`PostgresStore::migrate`] (what `endure migrate` runs), each in its own transaction,
//!   recorded in `schema_migrations`, serialized between replicas by an advisory lock.
//!   [`PostgresStore::connect`] refuses a database whose schema is older (run `endure migrate`)
//!   or newer (upgrade Endure) than [`SCHEMA_VERSION`].
//! - **Commits**: one READ COMMITTED transaction per [`Store::commit`](endure_store::Store::commit)
//!   whose statements are pipelined (sent together, one round trip), with conditional updates
//!   (`db_version`, the current-run pointer) instead of SERIALIZABLE retries; events and tasks
//!   are inserted with one multi-row statement each. The call returns once PostgreSQL has
//!   committed (`synchronous_commit` on).
//! - **Fencing**: a batch with a [`Fence`](endure_store::Fence) first reads its shard's
//!   `range_id` with `SELECT … FOR SHARE` in the same transaction. A concurrent
//!   [`acquire_shard`](endure_store::Store::acquire_shard) (an `UPDATE` of that row) waits for
//!   in-flight fenced commits and every later one sees the new range and fails with
//!   [`ShardOwnershipLost`](endure_store::StoreError::ShardOwnershipLost), writing nothing.
//! - **Visibility**: filters compile to SQL with bind parameters (`filter.rs`); custom search
//!   attributes live in a JSONB column with an expression index per registered attribute.

#![warn(missing_docs)]

mod cluster;
mod commit;
mod config;
mod conn;
mod error;
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
