//! Time, the only place the server reads it.
//!
//! Two kinds of time, kept apart:
//! - wall time ([`Clock`]), injected so tests (and later time skipping) can move it: event
//!   times, timer fire times, poller last-access times — anything recorded or compared with
//!   recorded times;
//! - monotonic time ([`monotonic`]), for deadlines and the age of cached entries, read from
//!   tokio's clock so a test can pause and advance it.
//!
//! Nothing else in the crate calls `SystemTime::now` or `Instant::now` (a test checks).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn system_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// Source of wall time in nanoseconds since the Unix epoch.
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

    /// Time from `now` (ns since the epoch): a simulation's clock.
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// Current time in ns since the epoch.
    pub fn now(&self) -> i64 {
        (self.0)()
    }

    /// Current time as a [`SystemTime`].
    pub fn system_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.now().max(0) as u64)
    }
}

/// Monotonic "now", for deadlines and ages (tokio's clock: pausable in tests).
pub fn monotonic() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// Monotonic time gone by since `t` (durations measured for metrics).
pub fn since(t: tokio::time::Instant) -> Duration {
    monotonic().saturating_duration_since(t)
}
