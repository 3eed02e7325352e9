//! Dynamic config values, as `temporal server start-dev --dynamic-config-value KEY=VALUE` takes
//! them (SDK test suites start their server this way). Each key the real server knows is either
//! honoured here (it changes what Endure does) or only accepted: [`DynamicConfig::set`] says
//! which, and the binary warns once, naming the keys it did not honour.
//!
//! This module deliberately does not know where values come from (flags or a file) nor how the
//! services read them: it is a plain struct the frontend is given.

use serde_json::Value;

/// The dynamic config values Endure honours, with the real server's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicConfig {
    /// `system.enableEagerWorkflowStart`: a start may hand its first workflow task straight to
    /// the starting worker.
    pub eager_workflow_start: bool,
    /// `system.enableActivityEagerExecution`: a workflow task's completion may hand the
    /// activities it schedules straight to its worker.
    pub eager_activity_execution: bool,
}

impl Default for DynamicConfig {
    fn default() -> Self {
        DynamicConfig { eager_workflow_start: true, eager_activity_execution: true }
    }
}

/// Keys that change what Endure does (docs/dynamic-config.md lists them; a test checks).
pub const HONOURED: &[&str] = &["system.enableEagerWorkflowStart", "system.enableActivityEagerExecution"];

/// Keys whose feature Endure always has on: `true` is what Endure does already, `false` is not
/// honoured.
pub const ALWAYS_ON: &[&str] = &[
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
        match key {
            k if k == HONOURED[0] => self.eager_workflow_start = flag(&value)?,
            k if k == HONOURED[1] => self.eager_activity_execution = flag(&value)?,
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
        for key in HONOURED.iter().chain(ALWAYS_ON) {
            assert!(docs.contains(&format!("| `{key}` |")), "docs/dynamic-config.md lacks {key}");
        }
        let mut c = DynamicConfig::default();
        for key in HONOURED {
            assert_eq!(c.set(key, "false"), Ok(true), "{key} is honoured");
        }
        assert_eq!(c, DynamicConfig { eager_workflow_start: false, eager_activity_execution: false });
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
        assert!(c.set_pair("no-equals-sign").is_err());
    }
}
