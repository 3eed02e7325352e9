//! The state cache: the last committed mutable state of recently used runs, so a transition
//! does not re-read and re-decode it.
//!
//! A plain LRU map. It does not decide when it may be filled; the engine does (only after a
//! commit, or from a store read made while holding the run's workflow lock, so it never runs
//! ahead of or behind the store).

use endure_core::MutableState;
use endure_store::RunKey;
use parking_lot::Mutex;
use std::num::NonZeroUsize;

/// Most runs whose mutable state the engine keeps in memory (least recently used evicted).
pub const STATE_CACHE_RUNS: usize = 4096;

/// A loaded run: its state and the version to write against.
#[derive(Clone)]
pub struct LoadedRun {
    /// Mutable state.
    pub ms: MutableState,
    /// Row version.
    pub db_version: i64,
}

/// Recently committed states, least recently used evicted.
pub struct StateCache {
    runs: Mutex<lru::LruCache<RunKey, LoadedRun>>,
}

impl StateCache {
    /// A cache of at most `capacity` runs.
    pub fn new(capacity: usize) -> Self {
        StateCache {
            runs: Mutex::new(lru::LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN))),
        }
    }

    /// The cached state of `key`, if any.
    pub fn get(&self, key: &RunKey) -> Option<LoadedRun> {
        self.runs.lock().get(key).cloned()
    }

    /// Remembers `key`'s state.
    pub fn put(&self, key: RunKey, run: LoadedRun) {
        self.runs.lock().put(key, run);
    }

    /// Forgets `key`'s state.
    pub fn forget(&self, key: &RunKey) {
        self.runs.lock().pop(key);
    }

    /// Forgets every run `pick` chooses.
    pub fn forget_where(&self, pick: impl Fn(&RunKey) -> bool) {
        let mut runs = self.runs.lock();
        let keys: Vec<RunKey> = runs.iter().filter(|(k, _)| pick(k)).map(|(k, _)| k.clone()).collect();
        for k in keys {
            runs.pop(&k);
        }
    }
}
