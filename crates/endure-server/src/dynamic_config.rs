//! Dynamic config values, as `temporal server start-dev --dynamic-config-value KEY=VALUE` takes
//! them (SDK test suites start their server this way). Each key the real server knows is either
//! honoured here (it changes what Endure does) or only accepted: [`DynamicConfig::set`] says
//! which, and the binary warns once, naming the keys it did not honour.
//!
//! This module deliberately does not know where values come from (flags or a file) nor how the
//! services read them: it is a plain struct the frontend is given.

use endure_core::limits::Limits;
use serde_json::Value;
use std::time::Duration;

/// The dynamic config values Endure honours, with the real server's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicConfig {
    /// `system.enableEagerWorkflowStart`: a start may hand its first workflow task straight to
    /// the starting worker.
    pub eager_workflow_start: bool,
    /// `system.enableActivityEagerExecution`: a workflow task's completion may hand the
    /// activities it schedules straight to its worker.
    pub eager_activity_execution: bool,
    /// The `limit.*` keys: payload, memo, history and pending-work limits.
    pub limits: Limits,
    /// `matching.workerRegistryEntryTTL`: a worker is forgotten this long after its last
    /// heartbeat.
    pub worker_registry_ttl: Duration,
    /// `matching.workerRegistryEvictionInterval`: how often forgotten workers are removed.
    pub worker_registry_eviction_interval: Duration,
    /// `worker.batcherRPS`: most operations a second of a namespace's batch job.
    pub batcher_rps: f64,
    /// `matching.PollerHistoryTTL`: a version whose worker polled within this long still has
    /// pollers (it cannot be deleted).
    pub poller_history_ttl: Duration,
    /// `matching.wv.VersionDrainageStatusVisibilityGracePeriod`: a version that stopped being
    /// current or ramping stays draining at least this long.
    pub drainage_grace_period: Duration,
}

impl Default for DynamicConfig {
    fn default() -> Self {
        DynamicConfig {
            eager_workflow_start: true,
            eager_activity_execution: true,
            limits: Limits::default(),
            worker_registry_ttl: Duration::from_secs(5 * 60),
            worker_registry_eviction_interval: Duration::from_secs(60),
            batcher_rps: endure_core::batch::DEFAULT_RPS,
            poller_history_ttl: Duration::from_secs(5 * 60),
            drainage_grace_period: Duration::from_secs(3 * 60),
        }
    }
}

/// The boolean switches Endure honours.
const SWITCHES: &[&str] = &["system.enableEagerWorkflowStart", "system.enableActivityEagerExecution"];

/// The size and count limits Endure honours, each with the field of [`Limits`] it sets.
const LIMITS: &[(&str, FieldOf)] = &[
    ("limit.blobSize.error", |l| LimitField::Size(&mut l.blob_size_error)),
    ("limit.blobSize.warn", |l| LimitField::Size(&mut l.blob_size_warn)),
    ("limit.memoSize.error", |l| LimitField::Size(&mut l.memo_size_error)),
    ("limit.memoSize.warn", |l| LimitField::Size(&mut l.memo_size_warn)),
    ("limit.historySize.error", |l| LimitField::Count(&mut l.history_size_error)),
    ("limit.historySize.warn", |l| LimitField::Count(&mut l.history_size_warn)),
    ("limit.historySize.suggestContinueAsNew", |l| LimitField::Count(&mut l.history_size_suggest_can)),
    ("limit.historyCount.error", |l| LimitField::Count(&mut l.history_count_error)),
    ("limit.historyCount.warn", |l| LimitField::Count(&mut l.history_count_warn)),
    ("limit.historyCount.suggestContinueAsNew", |l| LimitField::Count(&mut l.history_count_suggest_can)),
    ("limit.numPendingActivities.error", |l| LimitField::Size(&mut l.pending_activities)),
    ("limit.numPendingChildExecutions.error", |l| LimitField::Size(&mut l.pending_children)),
    ("limit.numPendingSignals.error", |l| LimitField::Size(&mut l.pending_signals)),
    ("limit.numPendingCancelRequests.error", |l| LimitField::Size(&mut l.pending_cancels)),
    ("history.maxInFlightUpdates", |l| LimitField::Size(&mut l.max_in_flight_updates)),
    ("history.maxTotalUpdates", |l| LimitField::Size(&mut l.max_total_updates)),
    ("history.maxTotalUpdates.suggestContinueAsNewThreshold", |l| {
        LimitField::Ratio(&mut l.total_updates_suggest_can)
    }),
    ("frontend.searchAttributesNumberOfKeysLimit", |l| LimitField::Size(&mut l.search_attribute_keys)),
    ("frontend.searchAttributesSizeOfValueLimit", |l| LimitField::Size(&mut l.search_attribute_value_bytes)),
    ("frontend.searchAttributesTotalSizeLimit", |l| LimitField::Size(&mut l.search_attribute_total_bytes)),
];

/// The durations Endure honours, each with the field it sets.
const DURATIONS: &[(&str, DurationOf)] = &[
    ("matching.workerRegistryEntryTTL", |c| &mut c.worker_registry_ttl),
    ("matching.workerRegistryEvictionInterval", |c| &mut c.worker_registry_eviction_interval),
    ("matching.PollerHistoryTTL", |c| &mut c.poller_history_ttl),
    ("matching.wv.VersionDrainageStatusVisibilityGracePeriod", |c| &mut c.drainage_grace_period),
];

/// Rates Endure honours (positive numbers).
const RATES: &[&str] = &["worker.batcherRPS"];

/// Which duration field a key sets.
type DurationOf = fn(&mut DynamicConfig) -> &mut Duration;

/// Which field of [`Limits`] a key sets.
type FieldOf = fn(&mut Limits) -> LimitField<'_>;

/// A field of [`Limits`], by its integer type.
enum LimitField<'a> {
    Size(&'a mut usize),
    Count(&'a mut i64),
    Ratio(&'a mut f64),
}

/// Keys that change what Endure does (docs/dynamic-config.md lists them; a test checks).
pub fn honoured() -> impl Iterator<Item = &'static str> {
    SWITCHES
        .iter()
        .copied()
        .chain(LIMITS.iter().map(|(k, _)| *k))
        .chain(DURATIONS.iter().map(|(k, _)| *k))
        .chain(RATES.iter().copied())
}

/// A duration as the real server's dynamic config takes it: a number of seconds, or a string
/// in Go's duration syntax plus days (`"2s"`, `"1m30s"`, `"1d"`) where a bare number is seconds
/// (`"90"`). Only positive durations are accepted.
fn duration_value(key: &str, value: &Value) -> Result<Duration, String> {
    let nanos = match value {
        Value::Number(n) => {
            n.as_f64().map(|s| s * 1e9).filter(|n| n.is_finite() && *n < i64::MAX as f64).map(|n| n as i64)
        }
        Value::String(s) => {
            let unitless = !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && s.bytes().filter(|b| *b == b'.').count() <= 1
                && s != ".";
            if unitless {
                endure_core::time::parse_duration(&format!("{s}s"))
            } else {
                endure_core::time::parse_duration(s)
            }
        }
        _ => None,
    };
    match nanos {
        Some(n) if n > 0 => Ok(Duration::from_nanos(n as u64)),
        _ => Err(format!("{key}: expected a positive duration such as \"2s\" or \"5m\", got {value}")),
    }
}

/// Keys whose feature Endure always has on: `true` is what Endure does already, `false` is not
/// honoured.
pub const ALWAYS_ON: &[&str] = &[
    "frontend.enableExecuteMultiOperation",
    "frontend.enableUpdateWorkflowExecution",
    "frontend.enableUpdateWorkflowExecutionAsyncAccepted",
    "frontend.enableServerVersionCheck",
];

impl DynamicConfig {
    /// Applies `key` = `value` (the JSON text after `=`). `Ok(true)`: honoured; `Ok(false)`:
    /// accepted, not honoured; `Err`: the value is not what the key takes.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let value: Value = serde_json::from_str(value)
            .map_err(|e| format!("{key}: the value must be JSON (strings need quotes): {e}"))?;
        let flag = |v: &Value| v.as_bool().ok_or_else(|| format!("{key}: expected true or false, got {v}"));
        if let Some((_, field)) = LIMITS.iter().find(|(k, _)| *k == key) {
            let count = || {
                value
                    .as_i64()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| format!("{key}: expected a non-negative integer, got {value}"))
            };
            match field(&mut self.limits) {
                LimitField::Size(f) => *f = usize::try_from(count()?).map_err(|e| format!("{key}: {e}"))?,
                LimitField::Count(f) => *f = count()?,
                LimitField::Ratio(f) => {
                    *f = value
                        .as_f64()
                        .filter(|x| *x >= 0.0)
                        .ok_or_else(|| format!("{key}: expected a non-negative number, got {value}"))?
                }
            }
            return Ok(true);
        }
        if let Some((_, field)) = DURATIONS.iter().find(|(k, _)| *k == key) {
            *field(self) = duration_value(key, &value)?;
            return Ok(true);
        }
        match key {
            k if k == SWITCHES[0] => self.eager_workflow_start = flag(&value)?,
            k if k == SWITCHES[1] => self.eager_activity_execution = flag(&value)?,
            k if k == RATES[0] => {
                self.batcher_rps = value
                    .as_f64()
                    .filter(|x| *x > 0.0 && x.is_finite())
                    .ok_or_else(|| format!("{key}: expected a positive number, got {value}"))?
            }
            // `true` is honoured (it is what Endure does), `false` is not.
            k if ALWAYS_ON.contains(&k) => return flag(&value),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Parses `KEY=VALUE`, as the flag takes it.
    pub fn set_pair(&mut self, pair: &str) -> Result<(String, bool), String> {
        let (key, value) = pair.split_once('=').ok_or_else(|| format!("expected KEY=VALUE, got {pair:?}"))?;
        let key = key.trim();
        let honoured = self.set(key, value.trim())?;
        Ok((key.to_owned(), honoured))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docs_list_the_keys_endure_knows() {
        let docs = include_str!("../../../docs/dynamic-config.md");
        for key in honoured().chain(ALWAYS_ON.iter().copied()) {
            assert!(docs.contains(&format!("| `{key}` |")), "docs/dynamic-config.md lacks {key}");
        }
        let mut c = DynamicConfig::default();
        for key in SWITCHES {
            assert_eq!(c.set(key, "false"), Ok(true), "{key} is honoured");
        }
        for (n, (key, _)) in LIMITS.iter().enumerate() {
            assert_eq!(c.set(key, &(n + 1).to_string()), Ok(true), "{key} is honoured");
        }
        // Every limit key sets a field of its own.
        let l = c.limits;
        let mut fields = [
            l.blob_size_error as i64,
            l.blob_size_warn as i64,
            l.memo_size_error as i64,
            l.memo_size_warn as i64,
            l.history_size_error,
            l.history_size_warn,
            l.history_size_suggest_can,
            l.history_count_error,
            l.history_count_warn,
            l.history_count_suggest_can,
            l.pending_activities as i64,
            l.pending_children as i64,
            l.pending_signals as i64,
            l.pending_cancels as i64,
            l.max_in_flight_updates as i64,
            l.max_total_updates as i64,
            l.total_updates_suggest_can as i64,
            l.search_attribute_keys as i64,
            l.search_attribute_value_bytes as i64,
            l.search_attribute_total_bytes as i64,
        ];
        fields.sort();
        assert_eq!(fields.to_vec(), (1..=LIMITS.len() as i64).collect::<Vec<_>>());
        assert!(!c.eager_workflow_start && !c.eager_activity_execution);
        // Every duration key sets a field of its own.
        for (n, (key, _)) in DURATIONS.iter().enumerate() {
            assert_eq!(c.set(key, &format!("\"{}s\"", n + 1)), Ok(true), "{key} is honoured");
        }
        let mut durations = [
            c.worker_registry_ttl,
            c.worker_registry_eviction_interval,
            c.poller_history_ttl,
            c.drainage_grace_period,
        ];
        durations.sort();
        let expected: Vec<_> = (1..=DURATIONS.len() as u64).map(Duration::from_secs).collect();
        assert_eq!(durations.to_vec(), expected);
    }

    #[test]
    fn durations_as_the_real_server_takes_them() {
        let mut c = DynamicConfig::default();
        assert_eq!(c.worker_registry_ttl, Duration::from_secs(300));
        assert_eq!(c.worker_registry_eviction_interval, Duration::from_secs(60));
        let ttl = "matching.workerRegistryEntryTTL";
        for (text, secs) in [
            ("\"2s\"", 2.0),
            ("\"1m30s\"", 90.0),
            ("\"1d\"", 86_400.0),
            ("\"90\"", 90.0),
            ("\"1.5\"", 1.5),
            ("3", 3.0),
            ("0.5", 0.5),
            ("\"250ms\"", 0.25),
        ] {
            assert_eq!(c.set(ttl, text), Ok(true), "{text}");
            assert_eq!(c.worker_registry_ttl, Duration::from_secs_f64(secs), "{text}");
        }
        for bad in ["2s", "\"2 seconds\"", "\"\"", "\"0s\"", "\"-1s\"", "-1", "true", "\".\""] {
            assert!(c.set(ttl, bad).is_err(), "{bad} is refused");
        }
    }

    #[test]
    fn honoured_accepted_and_refused_values() {
        let mut c = DynamicConfig::default();
        assert_eq!(
            c.set_pair("system.enableEagerWorkflowStart=false"),
            Ok(("system.enableEagerWorkflowStart".into(), true))
        );
        assert!(!c.eager_workflow_start);
        assert_eq!(c.set("frontend.enableUpdateWorkflowExecution", "true"), Ok(true), "already on");
        assert_eq!(
            c.set("frontend.enableUpdateWorkflowExecution", "false"),
            Ok(false),
            "cannot be turned off"
        );
        assert_eq!(c.set("limit.somethingElse", "\"x\""), Ok(false), "unknown keys are accepted");
        assert!(c.set("system.enableActivityEagerExecution", "\"yes\"").is_err(), "not a bool");
        assert!(c.set("limit.somethingElse", "not json").is_err());
        assert_eq!(c.set("limit.historyCount.suggestContinueAsNew", "20"), Ok(true));
        assert_eq!(c.limits.history_count_suggest_can, 20);
        assert!(c.set("limit.blobSize.error", "-1").is_err(), "negative");
        assert!(c.set("limit.blobSize.error", "\"1MB\"").is_err(), "not a number");
        assert!(c.set_pair("no-equals-sign").is_err());
    }
}
