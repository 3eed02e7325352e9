//! The state cache: the last committed mutable state of recently used runs, so a transition
//! does not re-read and re-decode it.
//!
//! An LRU map whose entries carry the shard lease (`range_id`) under which they were read or
//! committed: an entry answers only a lookup made under that same lease. A state read or
//! committed under an earlier lease says nothing about the store once the shard was lost and
//! taken again (another replica may have written meanwhile), even when it reaches the cache
//! after the new acquisition forgot the shard's entries — a replica paused between a read and
//! caching it, or between a commit and publishing it, does exactly that.
//!
//! It does not decide when it may be filled; the engine does (only after a commit, or from a
//! store read made while holding the run's workflow lock).

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

/// Recently committed states, least recently used evicted, each with the lease range it was
/// read or committed under.
pub struct StateCache {
    runs: Mutex<lru::LruCache<RunKey, (LoadedRun, i64)>>,
}

impl StateCache {
    /// A cache of at most `capacity` runs.
    pub fn new(capacity: usize) -> Self {
        StateCache {
            runs: Mutex::new(lru::LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN))),
        }
    }

    /// The cached state of `key` if it was read or committed under lease range `range`; an
    /// entry from another lease is dropped.
    pub fn get(&self, key: &RunKey, range: i64) -> Option<LoadedRun> {
        let mut runs = self.runs.lock();
        match runs.get(key) {
            Some((run, at)) if *at == range => Some(run.clone()),
            Some(_) => {
                runs.pop(key);
                None
            }
            None => None,
        }
    }

    /// Remembers `key`'s state, read or committed under lease range `range`.
    pub fn put(&self, key: RunKey, run: LoadedRun, range: i64) {
        self.runs.lock().put(key, (run, range));
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
