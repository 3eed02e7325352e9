//! The shards' work: what the engine does when the cluster gives it a shard, takes one away
//! or moves task queues (`ShardEvents`), and the loading of task rows that must be retried
//! until the store answers — a row never loaded is never dispatched, since nobody else loads a
//! held shard's rows.

use super::codec;
use super::engine::Engine;
use crate::cluster::ShardEvents;
use endure_store::{RunKey, StoreError, TaskRow};
use std::time::Duration;

impl Engine {
    /// Forgets a shard this replica no longer holds: its cached runs, and its task queues (their
    /// waiting pollers are answered and poll again at the new owner; their queued tasks are
    /// offered to the new owner by their workflows' owners).
    pub(super) fn forget_shard(&self, shard: i32) {
        let ownership = self.ownership.clone();
        self.cache.forget_where(|k| ownership.shard_of(&k.namespace_id, &k.workflow_id) == shard);
        self.router.release_queues(shard);
    }

    /// Offers every pending transfer task of this replica's shards to its queue again.
    async fn redispatch_owned(&self) {
        let shards = self.ownership.owned_shards();
        if !shards.is_empty() {
            self.hand_out_loaded(Load::Transfer(shards)).await;
        }
    }

    /// Loads task rows and hands them out. If the store does not answer, tries again in the
    /// background, backing off, for as long as this replica holds the shards: rows it never
    /// loads would never be dispatched (nobody else loads a held shard's rows).
    async fn hand_out_loaded(&self, load: Load) {
        match self.load_rows(&load).await {
            Ok(rows) => codec::decode_tasks(rows).into_iter().for_each(|t| self.dispatch(t)),
            Err(e) => {
                tracing::warn!(?load, "loading task rows, will retry: {e}");
                let Some(engine) = self.me() else { return };
                tokio::spawn(async move {
                    let mut delay = Duration::from_millis(100);
                    while load.shards().iter().any(|s| engine.ownership.holds(*s)) && !engine.is_stopping() {
                        tokio::time::sleep(delay).await;
                        match engine.load_rows(&load).await {
                            Ok(rows) => {
                                codec::decode_tasks(rows).into_iter().for_each(|t| engine.dispatch(t));
                                return;
                            }
                            Err(e) => tracing::debug!(?load, "loading task rows: {e}"),
                        }
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                });
            }
        }
    }

    async fn load_rows(&self, load: &Load) -> Result<Vec<TaskRow>, StoreError> {
        match load {
            Load::Transfer(shards) => self.tasks.load_transfer_tasks(shards).await,
            Load::Timers(shard, horizon) => self.tasks.load_timer_tasks(&[*shard], i64::MIN, *horizon).await,
        }
    }

    /// Hands out every task row of `keys`' runs once the store answers (in the background,
    /// retried): after a commit whose outcome is unknown, its tasks may exist without having
    /// been handed to matching or the timer queue. Both drop a task they already hold, so
    /// handing out rows that were handed out before changes nothing.
    pub(super) fn hand_out_rows_of(&self, keys: Vec<RunKey>) {
        let Some(engine) = self.me() else { return };
        tokio::spawn(async move {
            for key in keys {
                let mut delay = Duration::from_millis(100);
                while engine.owns_run(&key) && !engine.is_stopping() {
                    match engine.tasks.run_tasks(&key).await {
                        Ok(rows) => {
                            codec::decode_tasks(rows).into_iter().for_each(|t| engine.dispatch(t));
                            break;
                        }
                        Err(e) => {
                            tracing::debug!(workflow_id = %key.workflow_id, "reading task rows after an unknown commit: {e}");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            }
        });
    }
}

/// Task rows to load.
#[derive(Debug, Clone)]
enum Load {
    /// The transfer tasks of these shards.
    Transfer(Vec<i32>),
    /// The timers of a shard due up to the horizon (ns).
    Timers(i32, i64),
}

impl Load {
    fn shards(&self) -> Vec<i32> {
        match self {
            Load::Transfer(s) => s.clone(),
            Load::Timers(s, _) => vec![*s],
        }
    }
}

#[async_trait::async_trait]
impl ShardEvents for Engine {
    /// Forgets anything cached about the shard's runs (another replica may have changed them),
    /// hands its transfer tasks to their queues and its timers due before the timer horizon to
    /// the timer queue.
    async fn shard_acquired(&self, shard: i32) {
        crate::metrics::shard_event(crate::metrics::ShardEvent::Taken, 1);
        let ownership = self.ownership.clone();
        self.cache.forget_where(|k| ownership.shard_of(&k.namespace_id, &k.workflow_id) == shard);
        self.hand_out_loaded(Load::Transfer(vec![shard])).await;
        let horizon = self.timers.horizon();
        if horizon > i64::MIN {
            self.hand_out_loaded(Load::Timers(shard, horizon)).await;
        }
        // Every row of the shard is offered now; check that every run has the rows it waits for.
        self.sweep_acquired_shard(shard);
    }

    /// Its queued tasks and timers fail their fence when used and are dropped; the new owner
    /// reloads them.
    fn shard_lost(&self, shard: i32) {
        crate::metrics::shard_event(crate::metrics::ShardEvent::Removed, 1);
        self.forget_shard(shard);
    }

    async fn owners_changed(&self) {
        self.redispatch_owned().await;
    }
}
