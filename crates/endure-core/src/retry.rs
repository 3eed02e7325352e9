//! Retry policies: Temporal's defaults, validation, and the one function that decides whether
//! and when a failed attempt is retried.

use crate::api::common::v1::RetryPolicy;
use crate::api::enums::v1::RetryState;
use crate::api::failure::v1::{Failure, failure::FailureInfo};
use crate::time::{self, Nanos, SECOND};

/// Server default initial interval (1 s).
pub const DEFAULT_INITIAL_INTERVAL: Nanos = SECOND;
/// Server default backoff coefficient.
pub const DEFAULT_BACKOFF_COEFFICIENT: f64 = 2.0;
/// Server default maximum interval, as a multiple of the initial interval.
pub const DEFAULT_MAXIMUM_INTERVAL_COEFFICIENT: i64 = 100;

/// Checks a retry policy the way Temporal does and returns the message of its InvalidArgument.
pub fn validate(policy: &RetryPolicy) -> Result<(), String> {
    if time::is_negative(&policy.initial_interval) {
        return Err("InitialInterval cannot be negative on retry policy.".into());
    }
    if policy.backoff_coefficient != 0.0 && policy.backoff_coefficient < 1.0 {
        return Err("BackoffCoefficient cannot be less than 1 on retry policy.".into());
    }
    if time::is_negative(&policy.maximum_interval) {
        return Err("MaximumInterval cannot be negative on retry policy.".into());
    }
    let max = time::opt_duration(&policy.maximum_interval);
    if max > 0 && max < time::opt_duration(&policy.initial_interval) {
        return Err("MaximumInterval cannot be less than InitialInterval on retry policy.".into());
    }
    if policy.maximum_attempts < 0 {
        return Err("MaximumAttempts cannot be negative on retry policy.".into());
    }
    if policy.non_retryable_error_types.iter().any(|t| t.trim().is_empty()) {
        return Err("NonRetryableErrorTypes cannot contain blank error types.".into());
    }
    Ok(())
}

/// Fills the unset fields of a policy with the server defaults (what the real server stores and
/// shows in ActivityTaskScheduled events).
pub fn with_defaults(policy: Option<RetryPolicy>) -> RetryPolicy {
    let mut p = policy.unwrap_or_default();
    let initial = match time::opt_duration(&p.initial_interval) {
        0 => DEFAULT_INITIAL_INTERVAL,
        n => n,
    };
    p.initial_interval = Some(time::to_duration(initial));
    if p.backoff_coefficient == 0.0 {
        p.backoff_coefficient = DEFAULT_BACKOFF_COEFFICIENT;
    }
    if time::opt_duration(&p.maximum_interval) == 0 {
        p.maximum_interval =
            Some(time::to_duration(initial.saturating_mul(DEFAULT_MAXIMUM_INTERVAL_COEFFICIENT)));
    }
    p
}

/// The failure type a policy's `non_retryable_error_types` is matched against.
pub fn failure_type(failure: &Failure) -> Option<String> {
    match &failure.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(a)) => Some(a.r#type.clone()),
        Some(FailureInfo::TimeoutFailureInfo(t)) => {
            let name = crate::api::enums::v1::TimeoutType::try_from(t.timeout_type)
                .map(|t| t.as_str_name().trim_start_matches("TIMEOUT_TYPE_").to_string())
                .unwrap_or_default();
            Some(format!("TemporalTimeout:{}", to_camel(&name)))
        }
        _ => None,
    }
}

fn to_camel(upper_snake: &str) -> String {
    upper_snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase())
                .unwrap_or_default()
        })
        .collect()
}

/// Decides what happens after attempt `attempt` failed with `failure` at `now`.
///
/// Returns `Ok(delay)` when the next attempt should run after `delay`, or `Err(state)` with the
/// retry state to record on the final failure event. `expiration` is the absolute deadline
/// (schedule-to-close) or 0 for none.
pub fn next_backoff(
    policy: &RetryPolicy,
    attempt: i32,
    failure: &Failure,
    now: Nanos,
    expiration: Nanos,
) -> Result<Nanos, RetryState> {
    let non_retryable = match &failure.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(a)) => a.non_retryable,
        Some(FailureInfo::ServerFailureInfo(s)) => s.non_retryable,
        _ => false,
    };
    if non_retryable {
        return Err(RetryState::NonRetryableFailure);
    }
    if let Some(t) = failure_type(failure)
        && policy.non_retryable_error_types.contains(&t)
    {
        return Err(RetryState::NonRetryableFailure);
    }
    if policy.maximum_attempts > 0 && attempt >= policy.maximum_attempts {
        return Err(RetryState::MaximumAttemptsReached);
    }
    let explicit = match &failure.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(a)) => a.next_retry_delay.as_ref().map(time::from_duration),
        _ => None,
    };
    let delay = explicit.unwrap_or_else(|| backoff_interval(policy, attempt));
    if expiration > 0 && now.saturating_add(delay) > expiration {
        return Err(RetryState::Timeout);
    }
    Ok(delay)
}

/// `initial × coefficient^(attempt-1)`, capped at the maximum interval.
pub fn backoff_interval(policy: &RetryPolicy, attempt: i32) -> Nanos {
    let p = with_defaults(Some(policy.clone()));
    let initial = time::opt_duration(&p.initial_interval) as f64;
    let max = time::opt_duration(&p.maximum_interval) as f64;
    let raw = initial * p.backoff_coefficient.powi((attempt - 1).max(0));
    raw.min(max).max(0.0) as Nanos
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::failure::v1::ApplicationFailureInfo;

    fn app_failure(ty: &str, non_retryable: bool) -> Failure {
        Failure {
            message: "boom".into(),
            failure_info: Some(FailureInfo::ApplicationFailureInfo(ApplicationFailureInfo {
                r#type: ty.into(),
                non_retryable,
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_match_temporal() {
        let p = with_defaults(None);
        assert_eq!(time::opt_duration(&p.initial_interval), SECOND);
        assert_eq!(p.backoff_coefficient, 2.0);
        assert_eq!(time::opt_duration(&p.maximum_interval), 100 * SECOND);
        assert_eq!(p.maximum_attempts, 0);
    }

    #[test]
    fn exponential_backoff_capped() {
        let p = with_defaults(None);
        assert_eq!(backoff_interval(&p, 1), SECOND);
        assert_eq!(backoff_interval(&p, 2), 2 * SECOND);
        assert_eq!(backoff_interval(&p, 3), 4 * SECOND);
        assert_eq!(backoff_interval(&p, 30), 100 * SECOND);
    }

    #[test]
    fn non_retryable_and_max_attempts() {
        let mut p = with_defaults(None);
        p.non_retryable_error_types = vec!["Fatal".into()];
        assert_eq!(
            next_backoff(&p, 1, &app_failure("Fatal", false), 0, 0),
            Err(RetryState::NonRetryableFailure)
        );
        assert_eq!(
            next_backoff(&p, 1, &app_failure("Other", true), 0, 0),
            Err(RetryState::NonRetryableFailure)
        );
        p.maximum_attempts = 2;
        assert_eq!(next_backoff(&p, 1, &app_failure("Other", false), 0, 0), Ok(SECOND));
        assert_eq!(
            next_backoff(&p, 2, &app_failure("Other", false), 0, 0),
            Err(RetryState::MaximumAttemptsReached)
        );
    }

    #[test]
    fn expiration_stops_retries() {
        let p = with_defaults(None);
        assert_eq!(
            next_backoff(&p, 1, &app_failure("x", false), 10 * SECOND, 10 * SECOND + 1),
            Err(RetryState::Timeout)
        );
    }

    #[test]
    fn validation_messages() {
        let p = RetryPolicy { maximum_attempts: -1, ..Default::default() };
        assert!(validate(&p).unwrap_err().contains("MaximumAttempts"));
        let p = RetryPolicy { backoff_coefficient: 0.5, ..Default::default() };
        assert!(validate(&p).unwrap_err().contains("BackoffCoefficient"));
        assert!(validate(&RetryPolicy::default()).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn backoff_never_exceeds_max(attempt in 1i32..200, coeff in 1.0f64..10.0, init_ms in 1i64..10_000) {
            let p = with_defaults(Some(RetryPolicy {
                initial_interval: Some(time::to_duration(init_ms * 1_000_000)),
                backoff_coefficient: coeff,
                ..Default::default()
            }));
            let d = backoff_interval(&p, attempt);
            proptest::prop_assert!(d <= time::opt_duration(&p.maximum_interval));
            proptest::prop_assert!(d >= time::opt_duration(&p.initial_interval).min(d));
        }
    }
}
