//! Endure's pure core.
//!
//! Everything here is deterministic: a transition takes the current [`MutableState`] of one
//! workflow run, a request (a command list, an activity result, a fired timer …) and the time
//! `now` given by the caller, and produces the history events to append and the [`Task`]s to
//! enqueue. No I/O, no clock, no randomness: ids that must be unique are passed in. The server
//! crate persists what a transition produced in one storage transaction (the outbox pattern).

#![warn(missing_docs)]

pub mod activity_ops;
pub mod batch;
pub mod batcher;
pub mod children;
pub mod commands;
pub mod deployer;
pub mod deployment;
pub mod error;
mod events;
pub mod limits;
pub mod options;
pub mod protobytes;
pub mod query;
pub mod rebuild;
pub mod retry;
pub mod schedule;
pub mod scheduler;
pub mod standalone;
pub mod standalone_runner;
pub mod state;
pub mod successor;
pub mod task;
pub mod time;
pub mod token;
pub mod transition;
pub mod updates;

pub use error::CoreError;
pub use state::{ActivityInfo, ActivityState, MutableState, TimerInfo, WorkflowTaskInfo};
pub use task::Task;
pub use transition::{NewRunOut, Txn};

/// Re-export of the API message types the core works with.
pub use endure_api::temporal::api;
