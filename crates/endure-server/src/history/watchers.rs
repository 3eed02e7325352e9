//! Watchers of runs' progress, for long polls (history with `wait_new_event`, update results):
//! a watch channel per watched run, told after every commit.
//!
//! Knows nothing of what changed: waiters re-read the state when woken.

use endure_store::RunKey;
use parking_lot::Mutex;
use std::collections::HashMap;
use tokio::sync::watch;

/// The position of a run's history that long-polls watch: (next event id, closed).
pub type RunProgress = (i64, bool);

/// Watch channels of the runs someone waits on.
#[derive(Default)]
pub struct Watchers {
    runs: Mutex<HashMap<RunKey, watch::Sender<RunProgress>>>,
}

impl Watchers {
    /// Subscribes to progress of a run (`current`: its progress as the caller last read it).
    pub fn watch(&self, key: &RunKey, current: RunProgress) -> watch::Receiver<RunProgress> {
        let mut w = self.runs.lock();
        if w.len() > 1024 {
            w.retain(|_, tx| tx.receiver_count() > 0);
        }
        w.entry(key.clone()).or_insert_with(|| watch::channel(current).0).subscribe()
    }

    /// Tells a run's watchers it moved to `p`.
    pub fn notify(&self, key: &RunKey, p: RunProgress) {
        let mut w = self.runs.lock();
        if let Some(tx) = w.get(key) {
            if tx.receiver_count() == 0 {
                w.remove(key);
            } else {
                tx.send_replace(p);
            }
        }
    }
}
