//! Embedded SQLite backend for Endure's [`Store`](endure_store::Store) trait.
//!
//! One writer thread owns the write connection and applies batches with *group commit*: every
//! batch waiting when a transaction begins joins it, each inside its own savepoint (so one failed
//! batch does not abort the others), and one `COMMIT` (one fsync, `synchronous=FULL` in WAL
//! mode) makes them all durable before any caller is answered. Reads use a small pool of
//! read-only connections on the blocking thread pool; WAL lets them run beside the writer.

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
