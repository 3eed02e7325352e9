//! The server's clock, injected so tests (and later time skipping) can control it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

fn system_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// Source of "now" in nanoseconds since the Unix epoch.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system wall clock.
    pub fn system() -> Self {
        Clock(Arc::new(system_now))
    }

    /// The system clock plus `offset` nanoseconds, read at every call: moving the offset
    /// forward skips time (tests now, time skipping later).
    pub fn offset(offset: Arc<AtomicI64>) -> Self {
        Clock(Arc::new(move || system_now().saturating_add(offset.load(Ordering::Relaxed))))
    }

    /// Current time in ns since the epoch.
    pub fn now(&self) -> i64 {
        (self.0)()
    }
}
