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

/// The units of a duration's text and their length in nanoseconds: Go's `time.ParseDuration`
/// (`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`) plus Temporal's `d` (exactly 24 hours).
const DURATION_UNITS: &[(&str, i128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// Parses a duration as the real server does (Temporal's `timestamp.ParseDuration`: Go's
/// `time.ParseDuration` plus the unit `d`): an optional sign, then one or more
/// `<number><unit>` (`1h30m`, `1.5h`, `250ms`, `-2s`); `0` alone needs no unit. `None` if the
/// text is not one or does not fit in [`Nanos`].
pub fn parse_duration(s: &str) -> Option<Nanos> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(f) => f.split_at(f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len())),
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale = DURATION_UNITS.iter().find(|(u, _)| *u == unit)?.1;
        let whole: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut part = whole.checked_mul(scale)?;
        // The fraction's digits beyond a nanosecond's resolution are dropped, as Go does.
        let mut place = scale;
        for d in frac.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            part += i128::from(d - b'0') * place;
        }
        total = total.checked_add(part)?;
        rest = after;
    }
    let total = if negative { -total } else { total };
    Nanos::try_from(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_go_syntax_plus_days() {
        assert_eq!(parse_duration("2s"), Some(2 * SECOND));
        assert_eq!(parse_duration("1.5h"), Some(5_400 * SECOND));
        assert_eq!(parse_duration("1m30s"), Some(90 * SECOND));
        assert_eq!(parse_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_duration("10us"), Some(10_000));
        assert_eq!(parse_duration("10\u{b5}s"), Some(10_000));
        assert_eq!(parse_duration("5ns"), Some(5));
        assert_eq!(parse_duration(".5s"), Some(SECOND / 2));
        assert_eq!(parse_duration("1d2h"), Some(26 * 3600 * SECOND));
        assert_eq!(parse_duration("-2s"), Some(-2 * SECOND));
        assert_eq!(parse_duration("+2s"), Some(2 * SECOND));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("1.0000000001s"), Some(SECOND), "below a nanosecond is dropped");
        for bad in ["", "10", "s", "1x", "1.s.", "--1s", "1h 2m", "9999999999999h", "."] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
