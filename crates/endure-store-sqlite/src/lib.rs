//! Embedded SQLite backend for Endure's storage traits ([`Store`](endure_store::Store) and
//! the traits it sums): one process, one database file (or `:memory:`).
//!
//! - **Connections** (`conn.rs`): the one place connections are opened (WAL,
//!   `synchronous=FULL`, a 10 s busy timeout, the SQL functions filters use). Reads run on the
//!   blocking thread pool, each on an idle read-only connection or a new one; up to 16 idle ones
//!   are kept, and those opened before the planner's statistics were last refreshed are
//!   retired. In memory there is only the writer's connection, which serves reads too.
//! - **Writer and group commit** (`writer.rs`): one writer thread owns the write connection
//!   and applies writes with *group commit*: every write waiting when a transaction begins
//!   joins it (up to 512), each inside its own savepoint (so one failed write does not abort
//!   the others), and one `COMMIT` (one fsync) makes them all durable before any caller is
//!   answered.
//! - **Schema** (`migrate.rs`): numbered migrations (`migrations/*.sql`, embedded) applied when
//!   the store opens, every pending one in a single transaction (all or nothing), recorded in
//!   `schema_version`; a database with a newer schema is refused.
//! - **Commits** (`commit.rs`): a [`WriteBatch`](endure_store::WriteBatch) checks its fence,
//!   the current-run condition and the run's `db_version`, then writes events, tasks and the
//!   visibility row. The writer runs one write at a time, so nothing changes between a check
//!   and the write that depends on it.
//! - **Visibility** (`filter.rs`): filters compile to SQL with positional parameters; custom
//!   search attributes live as JSON in `visibility.custom` with one expression index per
//!   attribute, and Text `=` is a registered word-match function.
//! - **Rows and statements**: `rows.rs` reads result rows back; the long statements are
//!   `sql/*.sql`; `store.rs` holds [`SqliteStore`] and the traits' implementations; `cluster.rs`
//!   the shard count, leases and heartbeats (a cluster of one, under the same rules).
//! - **Errors** (`error.rs`): SQLite errors become [`StoreError`](endure_store::StoreError)s
//!   in one place, by result code: busy or locked is `Unavailable` (retryable), a unique or
//!   primary-key violation `AlreadyExists`, a corrupt file or an unreadable value `Corrupt`,
//!   the rest `Backend`. The SQLite error stays the source.
//!
//! Tests: `tests/conformance.rs` runs the shared behavioural suite (one test per behaviour) on
//! a database file and in memory.

#![warn(missing_docs)]

mod cluster;
mod commit;
mod conn;
mod error;
mod filter;
mod migrate;
mod rows;
mod store;
mod writer;

pub use store::SqliteStore;

#[cfg(test)]
mod tests;
