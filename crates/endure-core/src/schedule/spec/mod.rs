//! Placeholder for the schedule-spec engine (intervals only); replaced by the full engine.

use crate::api::schedule::v1::ScheduleSpec;
use crate::time::{self, Nanos};

/// A validated spec, ready to compute times.
#[derive(Debug, Clone)]
pub struct CompiledSpec {
    spec: ScheduleSpec,
}

impl CompiledSpec {
    /// Validates `spec`.
    pub fn compile(spec: &ScheduleSpec) -> Result<CompiledSpec, String> {
        Ok(CompiledSpec { spec: spec.clone() })
    }

    /// The first action time strictly after `after`: (nominal, actual).
    pub fn next(&self, _jitter_seed: &str, after: Nanos) -> Option<(Nanos, Nanos)> {
        let start = self.spec.start_time.as_ref().map(time::from_timestamp).unwrap_or(0);
        let end = self.spec.end_time.as_ref().map(time::from_timestamp).unwrap_or(i64::MAX);
        let after = after.max(start - 1);
        let best = self
            .spec
            .interval
            .iter()
            .filter_map(|i| {
                let every = time::opt_duration(&i.interval);
                let phase = time::opt_duration(&i.phase);
                if every <= 0 {
                    return None;
                }
                let k = (after - phase).div_euclid(every) + 1;
                Some(phase + k * every)
            })
            .min()?;
        (best <= end).then_some((best, best))
    }
}

/// The spec as the server returns it.
pub fn canonicalize(spec: &ScheduleSpec) -> Result<ScheduleSpec, String> {
    Ok(spec.clone())
}
