//! Time as the core sees it: nanoseconds since the Unix epoch, passed in by the caller.

use prost_wkt_types::{Duration, Timestamp};

/// Nanoseconds since the Unix epoch.
pub type Nanos = i64;

/// Converts nanoseconds since the epoch into a protobuf timestamp.
pub fn to_timestamp(n: Nanos) -> Timestamp {
    Timestamp { seconds: n.div_euclid(1_000_000_000), nanos: n.rem_euclid(1_000_000_000) as i32 }
}

/// 0001-01-01T00:00:00Z, Go's zero `time.Time`: what the real server sends where a timestamp
/// field has no time (e.g. the run expiration of a run without a run timeout).
pub fn go_zero_time() -> Timestamp {
    Timestamp { seconds: -62_135_596_800, nanos: 0 }
}

/// Converts a protobuf timestamp into nanoseconds since the epoch.
pub fn from_timestamp(t: &Timestamp) -> Nanos {
    t.seconds.saturating_mul(1_000_000_000).saturating_add(t.nanos as i64)
}

/// Converts a protobuf duration into nanoseconds (negative durations become 0).
pub fn from_duration(d: &Duration) -> Nanos {
    d.seconds.saturating_mul(1_000_000_000).saturating_add(d.nanos as i64).max(0)
}

/// Converts an optional protobuf duration into nanoseconds; absent means 0.
pub fn opt_duration(d: &Option<Duration>) -> Nanos {
    d.as_ref().map(from_duration).unwrap_or(0)
}

/// Converts nanoseconds into a protobuf duration.
pub fn to_duration(n: Nanos) -> Duration {
    Duration { seconds: n.div_euclid(1_000_000_000), nanos: n.rem_euclid(1_000_000_000) as i32 }
}

/// Converts nanoseconds into a protobuf duration, with 0 meaning "not set".
pub fn to_opt_duration(n: Nanos) -> Option<Duration> {
    (n > 0).then(|| to_duration(n))
}

/// True if a negative protobuf duration was given.
pub fn is_negative(d: &Option<Duration>) -> bool {
    d.as_ref().is_some_and(|d| d.seconds < 0 || d.nanos < 0)
}

/// One second in nanoseconds.
pub const SECOND: Nanos = 1_000_000_000;
