//! The history service: every run's transitions, on the shards this replica holds.
//!
//! - [`engine`]: lock a workflow id, load the run, apply a core transition, commit and publish;
//! - [`cache`]: the last committed state of recently used runs;
//! - [`codec`]: how states, events, tasks and visibility rows are written down;
//! - [`reset`] and [`retention`]: operations built on the engine (reset; delete and retention);
//! - [`reconcile`]: the outbox check, which re-creates a task row a run waits for and lacks;
//! - [`shards`]: taking and losing shards (`ShardEvents`), and loading task rows until the store
//!   answers;
//! - [`watchers`]: long polls on a run's progress;
//! - [`routing`]: where a committed task goes (a task queue here or on another replica, or the
//!   timer queue).
//!
//! History does not know who calls it (frontend, executor, other replicas) nor what a task does
//! once handed out.

pub mod cache;
pub mod codec;
mod engine;
mod reconcile;
mod reset;
mod retention;
pub mod routing;
mod shards;
pub mod watchers;

pub use cache::LoadedRun;
pub use codec::{decode_state, visibility_of};
pub use engine::{Engine, EngineParts, NewRun, WorkflowLock, run_not_found, workflow_not_found};
pub use reconcile::RunCheck;
pub use watchers::RunProgress;
