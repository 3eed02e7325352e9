//! Deterministic jitter, computed as the real server computes it, so that with the server's
//! seed (`<namespace id>-<schedule id>`) the jittered times are the server's to the millisecond.

use crate::time::Nanos;

/// Seconds from 0001-01-01T00:00:00Z (Go's internal epoch) to the Unix epoch.
const GO_EPOCH_OFFSET: i64 = 62_135_596_800;

/// The jitter for the nominal time `nominal` (whole Unix seconds), below `max` (nanoseconds),
/// in whole milliseconds: a 32-bit fingerprint (FarmHash `Fingerprint32`) of the nominal time in
/// Go's `time.Time.MarshalBinary` form (a UTC time) followed by `seed`, scaled to the range.
pub(crate) fn jitter(seed: &str, nominal: i64, max: Nanos) -> Nanos {
    let max_ms = (max.max(0) / 1_000_000).min(i64::from(u32::MAX)) as u64;
    if max_ms == 0 {
        return 0;
    }
    let mut bytes = Vec::with_capacity(15 + seed.len());
    bytes.push(1); // format version 1
    bytes.extend_from_slice(&(nominal + GO_EPOCH_OFFSET).to_be_bytes());
    bytes.extend_from_slice(&0i32.to_be_bytes()); // nanoseconds
    bytes.extend_from_slice(&(-1i16).to_be_bytes()); // zone offset: UTC
    bytes.extend_from_slice(seed.as_bytes());
    let fingerprint = u64::from(farmhash::fingerprint32(&bytes));
    ((fingerprint * max_ms) >> 32) as Nanos * 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_bounded_and_deterministic() {
        let hour = 3_600_000_000_000;
        for t in (1_704_067_200..1_704_153_600).step_by(3600) {
            let j = jitter("seed", t, hour);
            assert!((0..hour).contains(&j), "{j}");
            assert_eq!(j % 1_000_000, 0, "whole milliseconds");
            assert_eq!(j, jitter("seed", t, hour));
        }
        assert_ne!(
            (0..24).map(|i| jitter("a", 1_704_067_200 + i * 3600, hour)).collect::<Vec<_>>(),
            (0..24).map(|i| jitter("b", 1_704_067_200 + i * 3600, hour)).collect::<Vec<_>>(),
            "the seed matters"
        );
        assert_eq!(jitter("seed", 1_704_067_200, 999_999), 0, "below a millisecond: none");
        assert_eq!(jitter("seed", 1_704_067_200, -5), 0);
    }
}
