//! The server's clock, injected so tests (and later time skipping) can control it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Source of "now" in nanoseconds since the Unix epoch.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system wall clock.
    pub fn system() -> Self {
        Clock(Arc::new(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
        }))
    }

    /// Current time in ns since the epoch.
    pub fn now(&self) -> i64 {
        (self.0)()
    }
}
