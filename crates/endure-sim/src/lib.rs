//! A deterministic simulation of an Endure cluster.
//!
//! Several replicas — real [`endure_server::Server`]s, started with `Server::start_in` — share an
//! in-memory store ([`endure_store_memory::MemoryStore`], one handle each with its own fault
//! policy) and talk over a simulated network ([`network::SimNet`]), all on one single-threaded
//! tokio runtime whose clock is paused (sleeps cost nothing) and whose random number generator
//! is seeded, with seeded ids. A seeded schedule injects faults — a replica paused (its store
//! calls and its connections wait), isolated from the others and the clients, cut off from
//! everything, its store calls timing out, crashed at whatever await point it was at and
//! restarted — while a workload starts workflows and workers run them. Invariants are checked as
//! it runs and at the end:
//!
//! - no two processes hold the same shard lease (so no two can write one shard);
//! - every workflow completes exactly once, with a valid history, and no open run is left;
//! - no task row was ever lost (the outbox check never had to re-create one).
//!
//! A seed reproduces a run exactly (`cargo run -p endure-sim -- --seed N`); the transcript of a
//! run says what happened when.
//!
//! What this does not simulate: disk and fsync (the store is in memory), real TCP, and the
//! SQL backends' own concurrency (the in-memory store passes the same conformance suite).

#![warn(missing_docs)]

pub mod network;
mod run;
pub mod workload;

pub use run::{Config, Report, Violation, run_seed};
