//! The database's clock: what member heartbeats expire by. Injected, so a simulation runs the
//! store on simulated time; [`Clock::system`] (the default) reads the system wall clock, the
//! only place this crate reads the time.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall time in nanoseconds since the Unix epoch (the convention of the server's
/// own clock, so a simulation can hand the store the same function).
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system wall clock.
    pub fn system() -> Clock {
        Clock(Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        }))
    }

    /// A clock reading `now` (nanoseconds since the Unix epoch) at every call: simulated time.
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// The current time, in nanoseconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clock").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    #[test]
    fn an_injected_clock_is_read_at_every_call() {
        let t = Arc::new(AtomicI64::new(5));
        let clock = Clock::from_fn({
            let t = t.clone();
            move || t.load(Ordering::Relaxed)
        });
        assert_eq!(clock.now(), 5);
        t.store(9, Ordering::Relaxed);
        assert_eq!(clock.clone().now(), 9);
    }

    #[test]
    fn the_system_clock_is_after_2020() {
        assert!(Clock::default().now() > 1_577_836_800_000_000_000);
    }
}
