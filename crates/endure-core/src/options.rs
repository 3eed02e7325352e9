//! UpdateWorkflowExecutionOptions: the options of a run an operator may change (its priority,
//! its versioning override), recorded as WorkflowExecutionOptionsUpdated.
//!
//! This module does not interpret versioning overrides (worker versioning routes by them, later):
//! it records them as the real server's event does.

use crate::api::history::v1::{self as h, history_event::Attributes};
use crate::api::workflow::v1::WorkflowExecutionOptions;
use crate::error::CoreError;
use crate::transition::Txn;

/// The fields an update names (its mask's paths, in either spelling the clients send).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OptionsMask {
    /// `priority`.
    pub priority: bool,
    /// `versioning_override` / `versioningOverride`.
    pub versioning_override: bool,
}

impl OptionsMask {
    /// The mask of `paths`; an unknown path is refused with the real server's message.
    pub fn of(paths: &[String]) -> Result<OptionsMask, CoreError> {
        let mut m = OptionsMask::default();
        for p in paths {
            match p.as_str() {
                "priority" => m.priority = true,
                "versioning_override" | "versioningOverride" => m.versioning_override = true,
                other => {
                    return Err(CoreError::InvalidArgument(format!(
                        "error parsing UpdateMask: path {other} not supported"
                    )));
                }
            }
        }
        Ok(m)
    }
}

impl Txn<'_> {
    /// Applies new options to the run under `mask`; returns the run's options after it.
    pub fn update_options(
        &mut self,
        options: &WorkflowExecutionOptions,
        mask: OptionsMask,
        identity: &str,
    ) -> Result<WorkflowExecutionOptions, CoreError> {
        self.require_open()?;
        if mask.priority {
            self.ms.priority = options.priority.clone().filter(|p| *p != Default::default());
        }
        let versioning_override =
            options.versioning_override.clone().map(crate::deployment::normalize_override);
        if mask.versioning_override {
            let before = self.ms.pinned_version_key();
            let v = self.ms.versioning.get_or_insert_with(Default::default);
            v.override_ = versioning_override.clone();
            if self.ms.pinned_version_key() != before {
                // A queued workflow task goes where the override now sends it.
                self.redispatch_workflow_task();
            }
        }
        // As the real server: the event says the override is unset whenever the update does not
        // set one, whichever fields it names.
        let attrs = h::WorkflowExecutionOptionsUpdatedEventAttributes {
            versioning_override: versioning_override.filter(|_| mask.versioning_override),
            unset_versioning_override: options.versioning_override.is_none(),
            identity: identity.to_owned(),
            priority: options.priority.clone().filter(|_| mask.priority),
            ..Default::default()
        };
        self.append_or_buffer(Attributes::WorkflowExecutionOptionsUpdatedEventAttributes(attrs));
        Ok(WorkflowExecutionOptions {
            priority: self.ms.priority.clone(),
            versioning_override: self.ms.versioning.as_ref().and_then(|v| v.override_.clone()),
            ..Default::default()
        })
    }
}
